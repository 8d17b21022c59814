-- Grain: one (month, ticket) for each ticket still open at the month's end and older than the
-- first-response SLA then (DOMAIN §6: "requests overdue and unresolved escalate" [000]; overdue
-- = unresolved more than var('complaint_response_sla_hours') after creation, as
-- core.fct_tickets.is_overdue_open on the as-of date). The as-of month ends at the as-of date.

with

tickets as (

    select * from {{ ref('int_service__tickets') }}

),

months as (

    select
        cast(month_start as date) as month_start,
        least(
            cast(month_start + interval '1 month' as timestamp)
                at time zone '{{ var("reporting_timezone") }}',
            {{ as_of_end() }}
        ) as month_end_at

    from generate_series(
        (select min(month_start) from tickets),
        cast(date_trunc('month', {{ as_of_date() }}) as date),
        interval '1 month'
    ) as spine(month_start)

),

final as (

    select
        months.month_start,
        tickets.ticket_id,
        tickets.ticket_type,
        tickets.is_complaint,
        tickets.channel,
        tickets.priority,
        tickets.agent

    from months
    inner join tickets
        on tickets.created_at < months.month_end_at
        and (tickets.resolved_at is null or tickets.resolved_at >= months.month_end_at)
        and months.month_end_at - tickets.created_at
            > interval '{{ var("complaint_response_sla_hours") }} hours'

)

select * from final
