-- Question (DOMAIN §6): Are key customers served first?
-- Answer: per value tier (DOMAIN §2 [004]: key 5 %, ordinary 15 %, small), over the trailing
-- window of mart_service_customers (var service_customer_window_days, project default 365 days):
-- customers with tickets, their tickets and complaints, the share of tickets answered late
-- (first response over the 24-hour SLA), the share of slow resolutions, the median of the
-- customers' median first-response hours, and the customers with both complaints and a slow
-- resolution (DOMAIN §4 warning signal).
-- Mart: marts.mart_service_customers.
-- Columns: value_tier, customers, tickets, complaints, late_first_response_share,
-- slow_resolution_share, median_first_response_hours, complaints_and_slow_customers.
select
    value_tier,
    count(*) as customers,
    sum(tickets) as tickets,
    sum(complaints) as complaints,
    round(sum(sla_missed_tickets) / nullif(sum(sla_due_tickets), 0)::numeric, 4)
        as late_first_response_share,
    round(sum(slow_resolutions) / nullif(sum(tickets), 0)::numeric, 4) as slow_resolution_share,
    percentile_cont(0.5) within group (order by median_first_response_hours)
        as median_first_response_hours,
    count(*) filter (where has_complaints_and_slow_resolution) as complaints_and_slow_customers
from marts.mart_service_customers
group by value_tier
order by case value_tier when 'key' then 1 when 'ordinary' then 2 when 'small' then 3 else 4 end;
