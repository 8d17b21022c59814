-- DOMAIN §2 customer share [000], the worked example: a market of 5,000,000, 15 % in the target
-- segment, 20 % of those reachable = 150,000 target customers; 100,000 captured -> 2/3.
-- Checks the macro mart_customer_share uses. Returns a row when it gives anything else.

select
    {{ customer_share(100000, 5000000, 0.15, 0.20) }} as customer_share
where abs({{ customer_share(100000, 5000000, 0.15, 0.20) }} - 2.0 / 3.0) > 1e-12
