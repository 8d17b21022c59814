-- Question (DOMAIN §7): How many were never contacted?
-- Answer: live customers with no order ever placed (any status) and no sales opportunity,
-- split by how they were acquired (where to start calling). Mart: marts.mart_customer_directory.
-- Columns: as_of_date, acquisition_channel, never_contacted; ordered by never_contacted.
select
    as_of_date,
    acquisition_channel,
    count(*) as never_contacted
from marts.mart_customer_directory
where not was_contacted
group by as_of_date, acquisition_channel
order by never_contacted desc, acquisition_channel;
