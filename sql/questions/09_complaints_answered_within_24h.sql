-- Question (DOMAIN §6): Are complaints answered within 24 hours?
-- Answer: per month, complaints created, complaints whose 24-hour window has closed, those
-- answered within it and the rate (DOMAIN §6 [001] "必须24小时内给予答复"; the hours are the dbt
-- var complaint_response_sla_hours). Complaints still inside their window are not yet due.
-- The as-of month is marked partial.
-- Mart: marts.mart_service_monthly (ticket_type 'complaint').
-- Columns: month_start, is_partial_month, complaints, sla_due_complaints,
-- answered_within_24h, sla_rate.
select
    month_start,
    bool_or(is_partial_month) as is_partial_month,
    sum(complaints) as complaints,
    sum(sla_due_tickets) as sla_due_complaints,
    sum(responded_within_sla) as answered_within_24h,
    round(sum(responded_within_sla) / nullif(sum(sla_due_tickets), 0)::numeric, 4) as sla_rate
from marts.mart_service_monthly
where ticket_type = 'complaint'
group by month_start
having sum(complaints) > 0
order by month_start desc;
