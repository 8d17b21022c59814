-- Grain: one (month, ticket) for each ticket still open at the month's end and older than the
-- first-response SLA then (DOMAIN §6: "requests overdue and unresolved escalate" [000]; overdue
-- = unresolved more than var('complaint_response_sla_hours') after creation, as
-- core.fct_tickets.is_overdue_open on the as-of date). The as-of month ends at the as-of date.

with

tickets as (

    -- only a ticket unresolved beyond the SLA hours can be overdue at some month's end
    select * from {{ ref('int_service__tickets') }}
    where resolved_at is null
       or resolved_at - created_at > interval '{{ var("complaint_response_sla_hours") }} hours'

),

candidate_months as (

    -- the months from the one in which the ticket turned overdue to the one it was resolved
    -- in (or the as-of month): linear in the months a ticket stays open
    select
        tickets.ticket_id,
        tickets.ticket_type,
        tickets.is_complaint,
        tickets.channel,
        tickets.priority,
        tickets.agent,
        tickets.created_at,
        tickets.resolved_at,
        cast(spine.month_start as date) as month_start,
        least(
            cast(spine.month_start + interval '1 month' as timestamp)
                at time zone '{{ var("reporting_timezone") }}',
            {{ as_of_end() }}
        ) as month_end_at

    from tickets
    cross join lateral generate_series(
        date_trunc('month', (tickets.created_at
            + interval '{{ var("complaint_response_sla_hours") }} hours')
            at time zone '{{ var("reporting_timezone") }}'),
        date_trunc('month', least(coalesce(tickets.resolved_at, {{ as_of_end() }}),
                                  {{ as_of_end() }} - interval '1 microsecond')
            at time zone '{{ var("reporting_timezone") }}'),
        interval '1 month'
    ) as spine(month_start)

),

final as (

    select
        month_start,
        ticket_id,
        ticket_type,
        is_complaint,
        channel,
        priority,
        agent

    from candidate_months
    where created_at < month_end_at
      and (resolved_at is null or resolved_at >= month_end_at)
      and month_end_at - created_at
        > interval '{{ var("complaint_response_sla_hours") }} hours'

)

select * from final
