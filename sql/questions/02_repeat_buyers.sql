-- Question (DOMAIN §7): How many bought twice or more?
-- Answer: live customers with two or more counted orders, and their share of buying customers
-- (repeat-purchase rate, DOMAIN §3 loyalty evidence). Mart: marts.mart_customer_directory.
-- Columns: as_of_date, repeat_buyers, buying_customers, repeat_purchase_rate.
select
    as_of_date,
    count(*) filter (where is_repeat_buyer) as repeat_buyers,
    count(*) filter (where is_buyer) as buying_customers,
    round(count(*) filter (where is_repeat_buyer)::numeric
          / nullif(count(*) filter (where is_buyer), 0), 4) as repeat_purchase_rate
from marts.mart_customer_directory
group by as_of_date;
