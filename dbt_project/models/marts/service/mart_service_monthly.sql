-- Service desk per month x channel x priority x ticket type (DOMAIN §6, §3). Tickets created in
-- the month: complaints, first-response SLA rate (answered within
-- var('complaint_response_sla_hours'), 24 h: "必须24小时内给予答复" [001]) over the tickets whose
-- SLA window has closed, median and 90th-percentile first-response and resolution hours,
-- follow-up (回访) rate of the resolved tickets, satisfaction C and NPS of their transactional
-- surveys. At the month's end: overdue open tickets and complaints (unresolved beyond the SLA
-- hours: "requests overdue and unresolved escalate" [000]). As known at var('as_of_date'); the
-- as-of month is partial.

with

tickets as (

    select * from {{ ref('int_service__tickets') }}

),

open_at_month_end as (

    select * from {{ ref('int_service__open_at_month_end') }}

),

created as (

    select
        month_start,
        channel,
        priority,
        ticket_type,
        count(*) as tickets,
        count(*) filter (where is_complaint) as complaints,
        count(*) filter (where is_sla_due) as sla_due_tickets,
        count(*) filter (where responded_within_sla) as responded_within_sla,
        percentile_cont(0.5) within group (order by first_response_hours)
            as median_first_response_hours,
        percentile_cont(0.9) within group (order by first_response_hours)
            as p90_first_response_hours,
        percentile_cont(0.5) within group (order by resolution_hours) as median_resolution_hours,
        percentile_cont(0.9) within group (order by resolution_hours) as p90_resolution_hours,
        count(*) filter (where is_resolved) as resolved_tickets,
        count(*) filter (where is_resolved and has_follow_up) as followed_up_tickets,
        sum(surveys) as surveys,
        sum(satisfaction_answers) as satisfaction_answers,
        sum(satisfaction_c_sum) as satisfaction_c_sum,
        sum(nps_answers) as nps_answers,
        sum(nps_points_sum) as nps_points_sum

    from tickets
    group by month_start, channel, priority, ticket_type

),

overdue as (

    select
        month_start,
        channel,
        priority,
        ticket_type,
        count(*) as overdue_open_tickets,
        count(*) filter (where is_complaint) as overdue_open_complaints

    from open_at_month_end
    group by month_start, channel, priority, ticket_type

),

joined as (

    select
        coalesce(created.month_start, overdue.month_start) as month_start,
        coalesce(created.channel, overdue.channel) as channel,
        coalesce(created.priority, overdue.priority) as priority,
        coalesce(created.ticket_type, overdue.ticket_type) as ticket_type,
        coalesce(created.tickets, 0) as tickets,
        coalesce(created.complaints, 0) as complaints,
        coalesce(created.sla_due_tickets, 0) as sla_due_tickets,
        coalesce(created.responded_within_sla, 0) as responded_within_sla,
        created.median_first_response_hours,
        created.p90_first_response_hours,
        created.median_resolution_hours,
        created.p90_resolution_hours,
        coalesce(created.resolved_tickets, 0) as resolved_tickets,
        coalesce(created.followed_up_tickets, 0) as followed_up_tickets,
        coalesce(created.surveys, 0) as surveys,
        coalesce(created.satisfaction_answers, 0) as satisfaction_answers,
        created.satisfaction_c_sum,
        coalesce(created.nps_answers, 0) as nps_answers,
        created.nps_points_sum,
        coalesce(overdue.overdue_open_tickets, 0) as overdue_open_tickets,
        coalesce(overdue.overdue_open_complaints, 0) as overdue_open_complaints

    from created
    full outer join overdue
        on created.month_start = overdue.month_start
        and created.channel = overdue.channel
        and created.priority = overdue.priority
        and created.ticket_type = overdue.ticket_type

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(month_start as date) as month_start,
        cast(month_start + interval '1 month' - interval '1 day' as date) as month_end,
        month_start = cast(date_trunc('month', {{ as_of_date() }}) as date)
            and {{ as_of_date() }} < cast(month_start + interval '1 month' - interval '1 day'
                                          as date) as is_partial_month,
        cast(channel as text) as channel,
        cast(priority as text) as priority,
        cast(ticket_type as text) as ticket_type,
        cast(tickets as bigint) as tickets,
        cast(complaints as bigint) as complaints,
        cast(sla_due_tickets as bigint) as sla_due_tickets,
        cast(responded_within_sla as bigint) as responded_within_sla,
        cast(round(responded_within_sla / nullif(sla_due_tickets, 0)::numeric, 6)
             as numeric(9, 6)) as first_response_sla_rate,
        cast(round(median_first_response_hours::numeric, 2) as numeric(12, 2))
            as median_first_response_hours,
        cast(round(p90_first_response_hours::numeric, 2) as numeric(12, 2))
            as p90_first_response_hours,
        cast(round(median_resolution_hours::numeric, 2) as numeric(12, 2))
            as median_resolution_hours,
        cast(round(p90_resolution_hours::numeric, 2) as numeric(12, 2)) as p90_resolution_hours,
        cast(resolved_tickets as bigint) as resolved_tickets,
        cast(followed_up_tickets as bigint) as followed_up_tickets,
        cast(round(followed_up_tickets / nullif(resolved_tickets, 0)::numeric, 6)
             as numeric(9, 6)) as follow_up_rate,
        cast(overdue_open_tickets as bigint) as overdue_open_tickets,
        cast(overdue_open_complaints as bigint) as overdue_open_complaints,
        cast(surveys as bigint) as surveys,
        cast(round(satisfaction_c_sum / nullif(satisfaction_answers, 0), 4) as numeric(9, 4))
            as avg_satisfaction_c,
        cast(nps_answers as bigint) as nps_answers,
        cast(round(nps_points_sum / nullif(nps_answers, 0)::numeric, 2) as numeric(6, 2)) as nps

    from joined

)

select * from final
