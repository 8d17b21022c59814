-- Grain: one service ticket created on or before var('as_of_date'). The customer comes from
-- identity resolution (null when the requester matched nobody). Service measures follow
-- DOMAIN §6: complaints answered within var('complaint_response_sla_hours') (24 h: "必须24小时
-- 内给予答复"), resolution time, follow-up (回访) calls and interactions up to the as-of date.

with

tickets as (

    select * from {{ ref('stg_service__tickets') }}
    where created_at < {{ as_of_end() }}

),

bridge as (

    select source_id, customer_key, match_rule
    from {{ ref('bridge_customer_identity') }}
    where source_system = 'service' and source_entity = 'ticket'

),

interactions as (

    select ticket_id, count(*) as interaction_count
    from {{ ref('stg_service__interactions') }}
    where occurred_at < {{ as_of_end() }}
    group by ticket_id

),

follow_ups as (

    select ticket_id, count(*) as follow_up_count, bool_or(is_reopened) as was_reopened
    from {{ ref('stg_service__follow_ups') }}
    where called_at < {{ as_of_end() }}
    group by ticket_id

),

measured as (

    select
        tickets.ticket_id,
        bridge.customer_key,
        bridge.match_rule as customer_match_rule,
        tickets.ticket_type,
        tickets.channel,
        tickets.priority,
        tickets.root_cause,
        tickets.agent,
        tickets.created_at,
        {{ to_business_date('tickets.created_at') }} as created_on,
        case
            when tickets.first_response_at < {{ as_of_end() }} then tickets.first_response_at
        end as first_response_at,
        case
            when tickets.resolved_at < {{ as_of_end() }} then tickets.resolved_at
        end as resolved_at,
        coalesce(interactions.interaction_count, 0) as interaction_count,
        coalesce(follow_ups.follow_up_count, 0) as follow_up_count,
        coalesce(follow_ups.was_reopened, false) as was_reopened

    from tickets
    left join bridge on cast(tickets.ticket_id as text) = bridge.source_id
    left join interactions on tickets.ticket_id = interactions.ticket_id
    left join follow_ups on tickets.ticket_id = follow_ups.ticket_id

),

final as (

    select
        *,
        {{ date_key('created_on') }} as created_date_key,
        ticket_type = 'complaint' as is_complaint,
        resolved_at is not null as is_resolved,
        round(extract(epoch from first_response_at - created_at) / 3600.0, 2)
            as first_response_hours,
        round(extract(epoch from resolved_at - created_at) / 3600.0, 2) as resolution_hours,
        first_response_at is not null
            and first_response_at - created_at
                <= interval '{{ var("complaint_response_sla_hours") }} hours'
            as responded_within_sla,
        resolved_at is null
            and {{ as_of_end() }} - created_at
                > interval '{{ var("complaint_response_sla_hours") }} hours'
            as is_overdue_open,
        follow_up_count > 0 as has_follow_up

    from measured

)

select * from final
