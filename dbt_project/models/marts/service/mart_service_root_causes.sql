-- Complaint root causes per month (DOMAIN §6 "complaint root causes"; §4 causes of churn:
-- product or service defects, complaint handling, ...). Grain: one row per (month, root cause)
-- for every month from the first complaint to the as-of month and every root cause seen, zero
-- when a cause had no complaint that month. Share = the cause's complaints ÷ all complaints of
-- the month; trend = change of the share against the month before and against the average
-- share of the three months before (is_rising when above it). As known at var('as_of_date').

with

complaints as (

    select month_start, root_cause
    from {{ ref('int_service__tickets') }}
    where is_complaint

),

months as (

    select cast(month_start as date) as month_start
    from generate_series(
        (select min(month_start) from complaints),
        cast(date_trunc('month', {{ as_of_date() }}) as date),
        interval '1 month'
    ) as spine(month_start)

),

causes as (

    select distinct root_cause from complaints

),

counted as (

    select
        months.month_start,
        causes.root_cause,
        count(complaints.root_cause) as complaints

    from months
    cross join causes
    left join complaints
        on complaints.month_start = months.month_start
        and complaints.root_cause = causes.root_cause
    group by months.month_start, causes.root_cause

),

shared as (

    select
        *,
        sum(complaints) over (partition by month_start) as month_complaints,
        complaints / nullif(sum(complaints) over (partition by month_start), 0)::numeric
            as complaint_share

    from counted

),

trended as (

    select
        *,
        lag(complaints) over w as complaints_previous_month,
        complaint_share - lag(complaint_share) over w as share_change_vs_previous_month,
        avg(complaint_share) over (w rows between 3 preceding and 1 preceding)
            as avg_share_prior_3_months

    from shared
    window w as (partition by root_cause order by month_start)

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        month_start,
        month_start = cast(date_trunc('month', {{ as_of_date() }}) as date)
            and {{ as_of_date() }} < cast(month_start + interval '1 month' - interval '1 day'
                                          as date) as is_partial_month,
        cast(root_cause as text) as root_cause,
        cast(complaints as bigint) as complaints,
        cast(month_complaints as bigint) as month_complaints,
        cast(round(complaint_share, 6) as numeric(9, 6)) as complaint_share,
        cast(complaints_previous_month as bigint) as complaints_previous_month,
        cast(round(share_change_vs_previous_month, 6) as numeric(9, 6))
            as share_change_vs_previous_month,
        cast(round(avg_share_prior_3_months, 6) as numeric(9, 6)) as avg_share_prior_3_months,
        complaint_share > avg_share_prior_3_months as is_rising

    from trended

)

select * from final
