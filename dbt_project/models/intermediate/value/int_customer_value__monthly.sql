{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        schema='intermediate',
        pre_hook=[
            "set local work_mem = '{{ var('value_models_work_mem') }}'",
            "{{ rebuild_plan(customer_value_monthly_fingerprints()) }}",
        ],
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
-- Incremental, by whole months (ranks and tiers compare all customers of a month): a month's
-- rows are a function of the population, each customer's activity (orders, credit notes,
-- tickets) in that month and the months before it, its period end and the rules' vars. The
-- pre-hook (macro rebuild_plan) fingerprints these per month (macro
-- customer_value_monthly_fingerprints; stored in int_customer_value__monthly__inputs) and
-- rebuilds every month from the first whose fingerprint changed; earlier months are kept, as
-- nothing they are computed from changed. A next-day night rebuilds the as-of month (its period
-- end moved), or the last two on the first of a month; a late or changed row dated in an earlier
-- month, a customer deleted or created back-dated, rebuild from its month on; a rebuild as of an
-- earlier date drops the later months and rebuilds from the first month whose rows differ. Rebuilt
-- months start their trailing windows from the kept months' activity. --full-refresh rebuilds
-- every month; both give the same rows (tested).

{%- set window = var('rfm_window_months') | int %}
{#- months a trailing window reaches back, the month itself included -#}
{%- set reach = [12, window] | max %}

with

{{ customer_value_monthly_inputs() }},

first_built as (

    -- the first month this run builds: every month on a full build, else the first month the
    -- pre-hook marked for a rebuild (none: 'infinity')
    select
        {% if is_incremental() -%}
        coalesce((select cast(min(key) as date) from ({{ rebuilt_parts('month') }}) as rebuilt),
            cast('infinity' as date))
        {%- else -%}
        cast('-infinity' as date)
        {%- endif %} as month_start

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
    where months.month_start >= (select month_start from first_built)

),

monthly as (

    select
        grid.*,
        true as is_built,
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

    {% if is_incremental() -%}
    union all

    -- what the trailing windows of the built months reach back to in kept months: the activity
    -- of the {{ reach - 1 }} months before the first built month, and each customer's last
    -- order before those (a row of its own, out of every window's reach)
    select
        customer_key, null, month_start, null, null, false,
        revenue, gross_margin, orders, last_order_date, credit_notes, cost_to_serve
    from activity
    where
        month_start < (select month_start from first_built)
        and month_start >= (select month_start from first_built) - interval '{{ reach - 1 }} months'

    union all

    select
        customer_key, null,
        cast((select month_start from first_built) - interval '{{ reach }} months' as date),
        null, null, false, 0, 0, 0, max(last_order_date), 0, 0
    from activity
    where
        month_start < (select month_start from first_built) - interval '{{ reach - 1 }} months'
    group by customer_key
    {%- endif %}

),

trailing_sums as (

    select
        customer_key,
        created_on,
        month_start,
        month_end,
        period_end,
        is_built,
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
        trailing_12 as (
            partition by customer_key order by month_start
            range between interval '11 months' preceding and current row
        ),
        trailing_rfm as (
            partition by customer_key order by month_start
            range between interval '{{ window - 1 }} months' preceding and current row
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
    where is_built and (created_on <= period_end or last_order_date is not null)

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
