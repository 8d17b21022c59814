-- Question (DOMAIN §7): How many bought once and stopped?
-- Answer: live customers with exactly one counted order and none for more than
-- var('one_time_buyer_lapsed_days') days (30, project default), with how long ago on average.
-- Mart: marts.mart_customer_directory.
-- Columns: as_of_date, bought_once_and_stopped, avg_days_since_only_order.
select
    as_of_date,
    count(*) filter (where is_one_time_lapsed) as bought_once_and_stopped,
    round(avg(days_since_last_order) filter (where is_one_time_lapsed), 1)
        as avg_days_since_only_order
from marts.mart_customer_directory
group by as_of_date;
