-- Question (DOMAIN §7): How many customers buy from us?
-- Answer: live customers with at least one counted order (not cancelled, not deleted) up to
-- the as-of date of the marts. Mart: marts.mart_customer_directory.
-- Columns: as_of_date, customers (all live customers), buying_customers, buying_share.
select
    as_of_date,
    count(*) as customers,
    count(*) filter (where is_buyer) as buying_customers,
    round(count(*) filter (where is_buyer)::numeric / nullif(count(*), 0), 4) as buying_share
from marts.mart_customer_directory
group by as_of_date;
