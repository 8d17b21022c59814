-- Question (DOMAIN §7): Who are the most valuable customers, and why?
-- Answer: the top 20 by value rank (DOMAIN §2), with what makes them valuable: revenue and
-- gross margin, how often they buy, their tier and share of all value.
-- Marts: marts.mart_customer_value (value, rank, tier) joined to marts.mart_customer_directory
-- (orders, channel) on customer_key.
-- Columns: value_rank, customer_key, customer_name, value_tier, revenue, gross_margin,
-- value_share, orders_count, last_order_date, acquisition_channel.
select
    v.value_rank,
    v.customer_key,
    v.customer_name,
    v.value_tier,
    v.revenue,
    v.gross_margin,
    v.value_share,
    d.orders_count,
    d.last_order_date,
    d.acquisition_channel
from marts.mart_customer_value as v
join marts.mart_customer_directory as d on d.customer_key = v.customer_key
order by v.value_rank
limit 20;
