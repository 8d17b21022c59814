-- Question (DOMAIN §7): Which channel matters most?
-- Answer: per sales channel, revenue, gross margin and buying customers up to the as-of date,
-- with each channel's share of gross margin and revenue per buying customer; the first row
-- matters most. Mart: marts.mart_sales_daily (aggregated per customer first: a hash
-- aggregate instead of a sort for the distinct customers, see benchmarks/queries.md).
-- Columns: channel, net_revenue, gross_margin, margin_share, buying_customers,
-- revenue_per_customer.
with by_customer as (
    select channel, customer_key, sum(net_revenue) as net_revenue,
           sum(gross_margin) as gross_margin
    from marts.mart_sales_daily
    group by channel, customer_key
)
select
    channel,
    sum(net_revenue) as net_revenue,
    sum(gross_margin) as gross_margin,
    round(sum(gross_margin) / nullif(sum(sum(gross_margin)) over (), 0), 4) as margin_share,
    count(*) as buying_customers,
    round(sum(net_revenue) / count(*), 2) as revenue_per_customer
from by_customer
group by channel
order by gross_margin desc, channel;
