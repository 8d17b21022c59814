{{ config(materialized='table', schema='intermediate') }}
-- Customer x month churn states (DOMAIN §4), the base of mart_churn_monthly,
-- mart_cohort_retention and mart_crm_kpis. Grain: one row per (month_start, customer_key) for
-- every month from the customer's acquisition month to the month of var('as_of_date').
-- Acquired = first activity (a non-cancelled order or a recurring contract start). Active on a
-- day = acquired by then and not in a churn episode (core.fct_churn_events) it has not come back
-- from. The month's base = customers active at the end of the day before month_start; the as-of
-- month ends at the as-of date (period_end). Tiers and RFM come from the value helper's
-- int_customer_value__monthly: at the start of the month = the previous month-end's.
-- Materialised as a table: three marts read it.

with

customers as (

    select customer_key, acquisition_channel
    from {{ ref('dim_customer') }}
    where is_current and not is_deleted

),

first_orders as (

    select customer_key, min(order_date) as first_order_date
    from {{ ref('fct_orders') }}
    where
        {{ valued_orders_filter() }}
    group by customer_key

),

first_contracts as (

    select customer_key, min(start_date) as first_contract_date
    from {{ ref('dim_contract') }}
    where
        {{ recurring_contracts_filter() }}
    group by customer_key

),

acquired as (

    select
        customers.customer_key,
        customers.acquisition_channel,
        least(first_orders.first_order_date, first_contracts.first_contract_date)
            as acquisition_date,
        first_contracts.customer_key is not null as is_contract_customer

    from customers
    left join first_orders on customers.customer_key = first_orders.customer_key
    left join first_contracts on customers.customer_key = first_contracts.customer_key
    where coalesce(first_orders.first_order_date, first_contracts.first_contract_date) is not null

),

months as (

    select
        cast(month_ts as date) as month_start,
        cast(month_ts + interval '1 month' - interval '1 day' as date) as month_end

    from generate_series(
        (select date_trunc('month', min(acquisition_date)) from acquired),
        date_trunc('month', {{ as_of_date() }}),
        interval '1 month'
    ) as spine (month_ts)

),

panel as (

    select
        acquired.customer_key,
        acquired.acquisition_channel,
        acquired.acquisition_date,
        acquired.is_contract_customer,
        cast(date_trunc('month', acquired.acquisition_date) as date) as cohort_month,
        months.month_start,
        months.month_end,
        least(months.month_end, {{ as_of_date() }}) as period_end

    from acquired
    inner join months on months.month_start >= date_trunc('month', acquired.acquisition_date)

),

states as (

    select
        panel.customer_key,
        panel.month_start,
        bool_or(
            events.churn_date < panel.month_start
            and (events.returned_on is null or events.returned_on >= panel.month_start)
        ) as churned_at_start,
        bool_or(
            events.returned_on is null or events.returned_on > panel.period_end
        ) as churned_at_end,
        bool_or(events.churn_date >= panel.month_start) as churned_in_month,
        bool_or(events.churn_date >= panel.month_start and events.churn_type = 'involuntary')
            as churned_involuntarily_in_month,
        bool_or(events.returned_on between panel.month_start and panel.period_end)
            as returned_in_month

    from panel
    inner join {{ ref('fct_churn_events') }} as events
        on
            panel.customer_key = events.customer_key
            and events.churn_date <= panel.period_end
    group by panel.customer_key, panel.month_start

),

value_monthly as (

    select month_end, customer_key, value_tier, rfm_segment, net_profit
    from {{ ref('int_customer_value__monthly') }}

),

final as (

    select
        cast(panel.month_start as date) as month_start,
        cast(panel.month_end as date) as month_end,
        cast(panel.period_end as date) as period_end,
        cast(panel.customer_key as text) as customer_key,
        cast(panel.acquisition_date as date) as acquisition_date,
        cast(panel.cohort_month as date) as cohort_month,
        cast(
            (extract(year from panel.month_start) - extract(year from panel.cohort_month)) * 12
            + extract(month from panel.month_start) - extract(month from panel.cohort_month)
            as integer
        ) as months_since_acquisition,
        cast(coalesce(panel.acquisition_channel, 'unknown') as text) as acquisition_channel,
        cast(
            case when panel.is_contract_customer then 'contract' else 'non_contract' end as text
        ) as customer_segment,
        panel.acquisition_date < panel.month_start
        and not coalesce(states.churned_at_start, false) as is_active_at_start,
        not coalesce(states.churned_at_end, false) as is_active_at_end,
        panel.acquisition_date >= panel.month_start as is_acquired_in_month,
        coalesce(states.churned_in_month, false) as churned_in_month,
        coalesce(states.churned_involuntarily_in_month, false) as churned_involuntarily_in_month,
        coalesce(states.returned_in_month, false) as returned_in_month,
        cast(start_value.value_tier as text) as value_tier_at_start,
        cast(start_value.rfm_segment as text) as rfm_segment_at_start,
        cast(end_value.value_tier as text) as value_tier_at_end,
        cast(end_value.net_profit as numeric(18, 4)) as net_profit_at_end

    from panel
    left join states
        on panel.customer_key = states.customer_key and panel.month_start = states.month_start
    left join value_monthly as start_value
        on
            panel.customer_key = start_value.customer_key
            and start_value.month_end = panel.month_start - 1
    left join value_monthly as end_value
        on panel.customer_key = end_value.customer_key and end_value.month_end = panel.month_end

)

select * from final
