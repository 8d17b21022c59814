-- Cohort retention (DOMAIN §4 cohort retention tables): acquisition cohort (the month of the
-- first activity) x months since acquisition. Retained = active at the end of that month (or
-- at the as-of date for the as-of month); churned customers who came back count as retained
-- again. As known at var('as_of_date').

with

months as (

    select * from {{ ref('int_churn__customer_months') }}

),

cohorts as (

    select cohort_month, count(*) as cohort_size
    from months
    where months_since_acquisition = 0
    group by cohort_month

),

retained as (

    select
        cohort_month,
        months_since_acquisition,
        max(month_start) as month_start,
        max(period_end) as period_end,
        count(*) filter (where is_active_at_end) as retained_customers

    from months
    group by cohort_month, months_since_acquisition

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(retained.cohort_month as date) as cohort_month,
        cast(retained.months_since_acquisition as integer) as months_since_acquisition,
        cast(retained.month_start as date) as month_start,
        cast(retained.period_end as date) as period_end,
        cast(cohorts.cohort_size as bigint) as cohort_size,
        cast(retained.retained_customers as bigint) as retained_customers,
        cast(cohorts.cohort_size - retained.retained_customers as bigint) as churned_customers,
        cast(round(retained.retained_customers / cast(cohorts.cohort_size as numeric), 6)
            as numeric(9, 6)) as retention_rate

    from retained
    inner join cohorts on retained.cohort_month = cohorts.cohort_month

)

select * from final
