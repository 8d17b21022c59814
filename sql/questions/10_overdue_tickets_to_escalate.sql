-- Question (DOMAIN §6): Which overdue, unresolved requests must be escalated now?
-- Answer: tickets open on the as-of date and older than the 24-hour SLA (DOMAIN §6 [000]
-- "requests overdue and unresolved escalate"), by priority and ticket type, most urgent first;
-- complaints counted apart.
-- Mart: marts.mart_service_monthly (the as-of month's month-end = the as-of date).
-- Columns: priority, ticket_type, overdue_open_tickets, overdue_open_complaints.
select
    priority,
    ticket_type,
    sum(overdue_open_tickets) as overdue_open_tickets,
    sum(overdue_open_complaints) as overdue_open_complaints
from marts.mart_service_monthly
where month_start = (select max(month_start) from marts.mart_service_monthly)
group by priority, ticket_type
having sum(overdue_open_tickets) > 0
order by case priority when 'urgent' then 1 when 'high' then 2 when 'normal' then 3
                       when 'low' then 4 else 5 end,
         overdue_open_tickets desc, ticket_type;
