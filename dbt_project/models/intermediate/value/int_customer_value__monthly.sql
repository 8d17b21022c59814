{{
    config(
        materialized='table',
        schema='intermediate',
        pre_hook="set local work_mem = '{{ var('value_models_work_mem') }}'",
    )
}}
-- Customer value per month-end (DOMAIN §2). Grain: one row per month and customer, for every
-- month from the first month with an order up to the month of var('as_of_date'), and every live
-- customer created by the period end. The as-of month is cut at the as-of date (period_end =
-- least(month_end, as-of date), is_partial_month).
-- Money is trailing 12 months to period_end: revenue and gross margin of non-cancelled,
-- non-deleted orders, credit notes issued, cost to serve (tickets priced by type,
-- var('ticket_cost_by_type')); net_profit = gross_margin - credit_notes - cost_to_serve
-- (DOMAIN §2 net profit; acquisition cost is a one-off and is charged in the lifetime figures of
-- mart_customer_value_history, not here).
-- Ranking (DOMAIN §2 value tiers [004]): by net_profit desc, ties by customer_key; key / ordinary
-- / small by var('value_tier_key_share') / var('value_tier_ordinary_share'); pareto_class
-- 'vital_few' for the customers making the first var('pareto_value_share') of positive value.
-- RFM (DOMAIN §2, project default): recency = days from the last order to period_end, frequency
-- = orders and monetary = revenue in the trailing var('rfm_window_months') months, each scored
-- 1-5 by percent rank among customers who ever ordered; segments per macro rfm_segment.
-- Rebuilt in full every run, not incrementally: each row carries its month's customer_count and
-- ranks across every customer live on the as-of date, so a customer who leaves (deleted, or
-- merged into another by identity resolution) changes every row of every month since it joined,
-- and such a night is the rule (benchmarks/incremental_months.md). int_churn__customer_months,
-- whose rows depend on one customer each, is the incremental one.

{%- set window = var('rfm_window_months') | int %}

with

orders as (

    select
        customer_key,
        order_date,
        cast(date_trunc('month', order_date) as date) as month_start,
        net_revenue,
        gross_margin

    from {{ ref('fct_orders') }}
    where
        {{ valued_orders_filter() }}

),

credit_notes as (

    select
        customer_key,
        cast(date_trunc('month', issued_on) as date) as month_start,
        amount

    from {{ ref('fct_credit_notes') }}
    where issued_on <= {{ as_of_date() }} and customer_key is not null

),

tickets as (

    select
        customer_key,
        cast(date_trunc('month', created_on) as date) as month_start,
        {{ ticket_cost('ticket_type') }} as ticket_cost

    from {{ ref('fct_tickets') }}
    where created_on <= {{ as_of_date() }} and customer_key is not null

),

customers as (

    select
        customer_key,
        {{ to_business_date('created_at') }} as created_on

    from ({{ value_population('orders') }}) as population

),

months as (

    select
        cast(month_start as date) as month_start,
        cast(month_start + interval '1 month' - interval '1 day' as date) as month_end,
        least(
            cast(month_start + interval '1 month' - interval '1 day' as date), {{ as_of_date() }}
        ) as period_end

    from generate_series(
        coalesce(
            (select date_trunc('month', min(order_date)) from orders),
            date_trunc('month', {{ as_of_date() }})
        ),
        date_trunc('month', {{ as_of_date() }}),
        interval '1 month'
    ) as month_start

),

activity as (

    select
        customer_key,
        month_start,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin,
        sum(orders) as orders,
        max(last_order_date) as last_order_date,
        sum(credit_notes) as credit_notes,
        sum(cost_to_serve) as cost_to_serve

    from (
        select
            customer_key, month_start, net_revenue as revenue, gross_margin, 1 as orders,
            order_date as last_order_date, 0 as credit_notes, 0 as cost_to_serve
        from orders
        union all
        select customer_key, month_start, 0, 0, 0, null, amount, 0
        from credit_notes
        union all
        select customer_key, month_start, 0, 0, 0, null, 0, ticket_cost
        from tickets
    ) as unioned
    group by customer_key, month_start

),

grid as (

    select
        customers.customer_key,
        customers.created_on,
        months.month_start,
        months.month_end,
        months.period_end

    from customers
    cross join months

),

monthly as (

    select
        grid.*,
        coalesce(activity.revenue, 0) as revenue_in_month,
        coalesce(activity.gross_margin, 0) as gross_margin_in_month,
        coalesce(activity.orders, 0) as orders_in_month,
        activity.last_order_date as last_order_in_month,
        coalesce(activity.credit_notes, 0) as credit_notes_in_month,
        coalesce(activity.cost_to_serve, 0) as cost_to_serve_in_month

    from grid
    left join activity
        on
            grid.customer_key = activity.customer_key
            and grid.month_start = activity.month_start

),

trailing_sums as (

    select
        customer_key,
        created_on,
        month_start,
        month_end,
        period_end,
        revenue_in_month,
        gross_margin_in_month,
        sum(revenue_in_month) over trailing_12 as revenue,
        sum(gross_margin_in_month) over trailing_12 as gross_margin,
        sum(credit_notes_in_month) over trailing_12 as credit_notes,
        sum(cost_to_serve_in_month) over trailing_12 as cost_to_serve,
        sum(orders_in_month) over trailing_rfm as frequency,
        sum(revenue_in_month) over trailing_rfm as monetary,
        max(last_order_in_month) over to_date as last_order_date

    from monthly
    window
        trailing_12 as (partition by customer_key order by month_start rows 11 preceding),
        trailing_rfm as (
            partition by customer_key order by month_start rows {{ window - 1 }} preceding
        ),
        to_date as (partition by customer_key order by month_start rows unbounded preceding)

),

existing as (

    -- a customer counts from the month it was created (or first bought, if earlier)
    select
        *,
        gross_margin - credit_notes - cost_to_serve as net_profit,
        period_end - last_order_date as recency_days

    from trailing_sums
    where created_on <= period_end or last_order_date is not null

),

ranked as (

    select
        *,
        row_number() over by_value as value_rank,
        count(*) over (partition by month_start) as customer_count,
        sum(greatest(net_profit, 0)) over (partition by month_start) as positive_value_total,
        sum(greatest(net_profit, 0)) over (
            by_value rows between unbounded preceding and 1 preceding
        ) as positive_value_before,
        -- RFM ranks among customers who ever ordered: the others form their own partition
        -- and get null scores below
        percent_rank() over (
            partition by month_start, last_order_date is null order by recency_days desc
        ) as r_rank,
        percent_rank() over (
            partition by month_start, last_order_date is null order by frequency asc
        ) as f_rank,
        percent_rank() over (
            partition by month_start, last_order_date is null order by monetary asc
        ) as m_rank

    from existing
    window by_value as (partition by month_start order by net_profit desc, customer_key asc)

),

scored as (

    select
        *,
        {{ rfm_score('case when last_order_date is not null then r_rank end') }} as r_score,
        {{ rfm_score('case when last_order_date is not null then f_rank end') }} as f_score,
        {{ rfm_score('case when last_order_date is not null then m_rank end') }} as m_score

    from ranked

),

final as (

    select
        cast(month_end as date) as month_end,
        cast(customer_key as text) as customer_key,
        cast(month_start as date) as month_start,
        cast(period_end as date) as period_end,
        period_end < month_end as is_partial_month,
        cast(revenue_in_month as numeric(18, 4)) as revenue_in_month,
        cast(gross_margin_in_month as numeric(18, 4)) as gross_margin_in_month,
        cast(revenue as numeric(18, 4)) as revenue,
        cast(gross_margin as numeric(18, 4)) as gross_margin,
        cast(credit_notes as numeric(18, 4)) as credit_notes,
        cast(cost_to_serve as numeric(18, 4)) as cost_to_serve,
        cast(net_profit as numeric(18, 4)) as net_profit,
        cast(value_rank as bigint) as value_rank,
        cast(customer_count as bigint) as customer_count,
        cast({{ value_tier('value_rank', 'customer_count') }} as text) as value_tier,
        cast(
            case
                when
                    net_profit > 0
                    and coalesce(positive_value_before, 0)
                    < positive_value_total * cast({{ var('pareto_value_share') }} as numeric)
                    then 'vital_few'
                else 'useful_many'
            end as text
        ) as pareto_class,
        cast(last_order_date as date) as last_order_date,
        cast(recency_days as integer) as recency_days,
        cast(frequency as bigint) as frequency,
        cast(monetary as numeric(18, 4)) as monetary,
        r_score,
        f_score,
        m_score,
        cast({{ rfm_segment('r_score', 'f_score', 'm_score') }} as text) as rfm_segment

    from scored

)

select * from final
