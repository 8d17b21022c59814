-- Service per customer and value tier (DOMAIN §6, §2, §4): for each customer with a ticket in
-- the trailing var('service_customer_window_days') days (project default 365) up to
-- var('as_of_date'): tickets, complaints, first-response SLA misses, slow resolutions
-- (resolved after, or still open beyond, var('service_slow_resolution_hours'); project default),
-- overdue open tickets on the as-of date, median first-response and resolution hours, joined to
-- the customer's value tier and rank (DOMAIN §2 [004]: key 5 %, ordinary 15 %, small) so the
-- question "are key customers served first?" is one query. Complaints and slow resolution are
-- churn warning signals (DOMAIN §4). Tickets the identity resolution matched to nobody are left
-- out (core.rpt_identity_unmatched lists them).

with

tickets as (

    select * from {{ ref('int_service__tickets') }}
    where customer_key is not null
      and created_on > {{ as_of_date() }} - {{ var('service_customer_window_days') }}

),

value as (

    select customer_key, value_tier, value_rank
    from {{ ref('mart_customer_value') }}

),

aggregated as (

    select
        customer_key,
        count(*) as tickets,
        count(*) filter (where is_complaint) as complaints,
        count(*) filter (where is_sla_due) as sla_due_tickets,
        count(*) filter (where is_sla_due and not responded_within_sla) as sla_missed_tickets,
        count(*) filter (where is_slow_resolution) as slow_resolutions,
        count(*) filter (where is_overdue_open) as overdue_open_tickets,
        percentile_cont(0.5) within group (order by first_response_hours)
            as median_first_response_hours,
        percentile_cont(0.5) within group (order by resolution_hours) as median_resolution_hours,
        max(created_on) as last_ticket_on

    from tickets
    group by customer_key

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(aggregated.customer_key as text) as customer_key,
        cast(coalesce(value.value_tier, 'unranked') as text) as value_tier,
        cast(value.value_rank as bigint) as value_rank,
        cast(aggregated.tickets as bigint) as tickets,
        cast(aggregated.complaints as bigint) as complaints,
        cast(aggregated.sla_due_tickets as bigint) as sla_due_tickets,
        cast(aggregated.sla_missed_tickets as bigint) as sla_missed_tickets,
        cast(aggregated.slow_resolutions as bigint) as slow_resolutions,
        cast(aggregated.overdue_open_tickets as bigint) as overdue_open_tickets,
        cast(round(aggregated.median_first_response_hours::numeric, 2) as numeric(12, 2))
            as median_first_response_hours,
        cast(round(aggregated.median_resolution_hours::numeric, 2) as numeric(12, 2))
            as median_resolution_hours,
        aggregated.complaints > 0 and aggregated.slow_resolutions > 0
            as has_complaints_and_slow_resolution,
        cast(aggregated.last_ticket_on as date) as last_ticket_on

    from aggregated
    left join value on aggregated.customer_key = value.customer_key

)

select * from final
