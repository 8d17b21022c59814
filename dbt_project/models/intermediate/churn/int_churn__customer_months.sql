{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        schema='intermediate',
        pre_hook="{{ rebuild_plan(churn_customer_months_fingerprints(),
                                  churn_customer_months_rebuild_from()) }}",
    )
}}
-- Customer x month churn states (DOMAIN §4), the base of mart_churn_monthly,
-- mart_cohort_retention and mart_crm_kpis. Grain: one row per (month_start, customer_key) for
-- every month from the customer's acquisition month to the month of var('as_of_date').
-- Acquired = first activity (a non-cancelled order or a recurring contract start). Active on a
-- day = acquired by then and not in a churn episode (core.fct_churn_events) it has not come back
-- from. The month's base = customers active at the end of the day before month_start; the as-of
-- month ends at the as-of date (period_end). Tiers and RFM come from the value helper's
-- int_customer_value__monthly: at the start of the month = the previous month-end's.
-- Materialised (a table, built incrementally): three marts read it.
-- Incremental: a row depends on its month's period end and on its own customer only (the
-- acquisition, the customer's churn episodes, the customer's value helper rows of that month
-- and the month before), never on other customers. The pre-hook (macro rebuild_plan, with
-- churn_customer_months_fingerprints; stored in int_churn__customer_months__inputs) rebuilds
-- every customer's rows of the as-of month (of the last build's as-of month on, if earlier: a
-- next-day night rebuilds one month, two on the first of a month; a rebuild as of an earlier
-- date from that date's month, the later months dropped), and every month of a customer whose
-- acquisition, episodes dated before that month or value rows before it changed (a new episode
-- or return dated in the rebuilt months changes nothing kept), and drops the rows of customers
-- no longer live or acquired. Every other row is kept: nothing it is computed from changed.
-- --full-refresh rebuilds all; both give the same rows (tested).

with

{{ churn_customer_months_inputs() }},

{% if is_incremental() -%}
rebuilt_months as (

    -- the parts the pre-hook marked for this run
    select cast(key as date) as month_start from ({{ rebuilt_parts('month') }}) as rebuilt

),

rebuilt_customers as (

    select distinct key as customer_key from ({{ rebuilt_parts('customer') }}) as rebuilt

),

{% endif -%}
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
    {%- if is_incremental() %}
    -- a join, not `or customer_key in (select ...)`: under `or` that is a SubPlan, hashed
    -- only while the rebuilt customers fit work_mem (else run once per row)
    left join rebuilt_customers on acquired.customer_key = rebuilt_customers.customer_key
    where
        months.month_start >= (select min(month_start) from rebuilt_months)
        or rebuilt_customers.customer_key is not null
    {%- endif %}

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

    select
        monthly.month_end,
        monthly.customer_key,
        monthly.value_tier,
        monthly.rfm_segment,
        monthly.net_profit
    from {{ ref('int_customer_value__monthly') }} as monthly
    {%- if is_incremental() %}
    left join rebuilt_customers on monthly.customer_key = rebuilt_customers.customer_key
    where
        monthly.month_end >= (select min(month_start) - 1 from rebuilt_months)
        or rebuilt_customers.customer_key is not null
    {%- endif %}

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
