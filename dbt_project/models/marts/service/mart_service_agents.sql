-- Service agents per month (DOMAIN §6, §3): tickets created in the month and assigned to the
-- agent ('unassigned' when none), complaints, first-response SLA rate (24 h,
-- var('complaint_response_sla_hours'): "必须24小时内给予答复" [001]) over the tickets whose SLA
-- window has closed, median first-response and resolution hours, follow-up (回访) rate of the
-- resolved tickets, satisfaction C and NPS of the tickets' surveys. As known at
-- var('as_of_date'); the as-of month is partial.

with

tickets as (

    select * from {{ ref('int_service__tickets') }}

),

aggregated as (

    select
        month_start,
        agent,
        count(*) as tickets,
        count(*) filter (where is_complaint) as complaints,
        count(*) filter (where is_sla_due) as sla_due_tickets,
        count(*) filter (where responded_within_sla) as responded_within_sla,
        percentile_cont(0.5) within group (order by first_response_hours)
            as median_first_response_hours,
        percentile_cont(0.5) within group (order by resolution_hours) as median_resolution_hours,
        count(*) filter (where is_resolved) as resolved_tickets,
        count(*) filter (where is_resolved and has_follow_up) as followed_up_tickets,
        sum(surveys) as surveys,
        sum(satisfaction_c_sum) / nullif(sum(satisfaction_answers), 0) as avg_satisfaction_c,
        sum(nps_points_sum) / nullif(sum(nps_answers), 0)::numeric as nps

    from tickets
    group by month_start, agent

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(month_start as date) as month_start,
        month_start = cast(date_trunc('month', {{ as_of_date() }}) as date)
            and {{ as_of_date() }} < cast(month_start + interval '1 month' - interval '1 day'
                                          as date) as is_partial_month,
        cast(agent as text) as agent,
        cast(tickets as bigint) as tickets,
        cast(complaints as bigint) as complaints,
        cast(sla_due_tickets as bigint) as sla_due_tickets,
        cast(responded_within_sla as bigint) as responded_within_sla,
        cast(round(responded_within_sla / nullif(sla_due_tickets, 0)::numeric, 6)
             as numeric(9, 6)) as first_response_sla_rate,
        cast(round(median_first_response_hours::numeric, 2) as numeric(12, 2))
            as median_first_response_hours,
        cast(round(median_resolution_hours::numeric, 2) as numeric(12, 2))
            as median_resolution_hours,
        cast(resolved_tickets as bigint) as resolved_tickets,
        cast(round(followed_up_tickets / nullif(resolved_tickets, 0)::numeric, 6)
             as numeric(9, 6)) as follow_up_rate,
        cast(surveys as bigint) as surveys,
        cast(round(avg_satisfaction_c, 4) as numeric(9, 4)) as avg_satisfaction_c,
        cast(round(nps, 2) as numeric(6, 2)) as nps

    from aggregated

)

select * from final
