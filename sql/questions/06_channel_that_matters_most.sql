-- Question (DOMAIN §7): Which channel matters most?
-- Answer: per sales channel, revenue, gross margin, orders and buying customers up to the
-- as-of date, with each channel's share of gross margin; the first row matters most.
-- Mart: marts.mart_sales_daily.
-- Columns: channel, net_revenue, gross_margin, margin_share, buying_customers, order_days.
select
    channel,
    sum(net_revenue) as net_revenue,
    sum(gross_margin) as gross_margin,
    round(sum(gross_margin) / nullif(sum(sum(gross_margin)) over (), 0), 4) as margin_share,
    count(distinct customer_key) as buying_customers,
    count(distinct order_date) as order_days
from marts.mart_sales_daily
group by channel
order by gross_margin desc, channel;
