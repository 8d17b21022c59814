-- Grain: one service ticket from core.fct_tickets (as of var('as_of_date')), with its creation
-- month, whether its first-response SLA window (DOMAIN §6: complaints answered within
-- var('complaint_response_sla_hours'), 24 h, "必须24小时内给予答复" [001]) has closed, whether its
-- resolution was slow (var('service_slow_resolution_hours'), project default), and its
-- transactional surveys (DOMAIN §3: satisfaction C = perceived ÷ expected; NPS points).

with

tickets as (

    select * from {{ ref('fct_tickets') }}

),

surveys as (

    select
        ticket_id,
        count(*) as surveys,
        count(satisfaction_c) as satisfaction_answers,
        sum(satisfaction_c) as satisfaction_c_sum,
        count(nps_points) as nps_answers,
        sum(nps_points) as nps_points_sum

    from {{ ref('fct_surveys') }}
    where ticket_id is not null
    group by ticket_id

),

final as (

    select
        tickets.ticket_id,
        tickets.customer_key,
        tickets.ticket_type,
        tickets.is_complaint,
        coalesce(tickets.channel, 'unknown') as channel,
        coalesce(tickets.priority, 'unknown') as priority,
        coalesce(tickets.root_cause, 'unknown') as root_cause,
        coalesce(tickets.agent, 'unassigned') as agent,
        tickets.created_at,
        tickets.created_on,
        cast(date_trunc('month', tickets.created_on) as date) as month_start,
        tickets.first_response_at,
        tickets.resolved_at,
        tickets.is_resolved,
        tickets.first_response_hours,
        tickets.resolution_hours,
        tickets.responded_within_sla,
        -- the SLA window closed: answered, or the SLA hours passed by the as-of date's end
        tickets.first_response_at is not null
            or {{ as_of_end() }} - tickets.created_at
                > interval '{{ var("complaint_response_sla_hours") }} hours'
            as is_sla_due,
        tickets.is_overdue_open,
        tickets.has_follow_up,
        coalesce(tickets.resolution_hours > {{ var('service_slow_resolution_hours') }}, false)
            or (not tickets.is_resolved
                and {{ as_of_end() }} - tickets.created_at
                    > interval '{{ var("service_slow_resolution_hours") }} hours')
            as is_slow_resolution,
        coalesce(surveys.surveys, 0) as surveys,
        coalesce(surveys.satisfaction_answers, 0) as satisfaction_answers,
        coalesce(surveys.satisfaction_c_sum, 0) as satisfaction_c_sum,
        coalesce(surveys.nps_answers, 0) as nps_answers,
        coalesce(surveys.nps_points_sum, 0) as nps_points_sum

    from tickets
    left join surveys on tickets.ticket_id = surveys.ticket_id

)

select * from final
