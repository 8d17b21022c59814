-- Monthly churn and retention (DOMAIN §4): per month and breakdown, the customers active at
-- the start of the month (the base), how many of them churned in the month, and
-- retention rate = 1 - churn rate on the same base. Breakdowns: all customers, value tier and
-- RFM segment at the start of the month (int_customer_value__monthly at the previous
-- month-end), acquisition channel, contract vs non-contract. As known at var('as_of_date'); the
-- as-of month runs to the as-of date.

with

months as (

    select * from {{ ref('int_churn__customer_months') }}
    where is_active_at_start

),

breakdowns as (

    select month_start, month_end, period_end, 'all' as breakdown, 'all' as segment,
        customer_key, churned_in_month, churned_involuntarily_in_month
    from months
    union all
    select month_start, month_end, period_end, 'value_tier', coalesce(value_tier_at_start, 'unranked'),
        customer_key, churned_in_month, churned_involuntarily_in_month
    from months
    union all
    select month_start, month_end, period_end, 'rfm_segment', coalesce(rfm_segment_at_start, 'unranked'),
        customer_key, churned_in_month, churned_involuntarily_in_month
    from months
    union all
    select month_start, month_end, period_end, 'acquisition_channel', acquisition_channel,
        customer_key, churned_in_month, churned_involuntarily_in_month
    from months
    union all
    select month_start, month_end, period_end, 'customer_segment', customer_segment,
        customer_key, churned_in_month, churned_involuntarily_in_month
    from months

),

aggregated as (

    select
        month_start,
        month_end,
        period_end,
        breakdown,
        segment,
        count(*) as customers_at_start,
        count(*) filter (where churned_in_month) as churned_customers,
        count(*) filter (where churned_involuntarily_in_month) as involuntary_churned_customers

    from breakdowns
    group by month_start, month_end, period_end, breakdown, segment

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(month_start as date) as month_start,
        cast(month_end as date) as month_end,
        period_end < month_end as is_partial_month,
        cast(breakdown as text) as breakdown,
        cast(segment as text) as segment,
        cast(customers_at_start as bigint) as customers_at_start,
        cast(churned_customers as bigint) as churned_customers,
        cast(churned_customers - involuntary_churned_customers as bigint)
            as voluntary_churned_customers,
        cast(involuntary_churned_customers as bigint) as involuntary_churned_customers,
        cast(customers_at_start - churned_customers as bigint) as retained_customers,
        cast(round(churned_customers / cast(customers_at_start as numeric), 6) as numeric(9, 6))
            as churn_rate,
        cast(1 - round(churned_customers / cast(customers_at_start as numeric), 6) as numeric(9, 6))
            as retention_rate

    from aggregated

)

select * from final
