-- Question (DOMAIN §7): Sales reports for any year, month or day, by company and department.
-- Answer: revenue, gross margin and quantity per period, company (the buying customer) and
-- department (product category; project default mapping, docs/serving.md).
-- Parameters (edit the params row): grain = 'year' | 'month' | 'day'; period_from / period_to
-- bound the order dates (inclusive). Defaults: by month, every date.
-- Mart: marts.mart_sales_daily.
-- Columns: period_start, company_name, customer_key, department, net_revenue, gross_margin,
-- quantity, lines_count.
with params as (
    select
        'month'::text as grain,
        date '1900-01-01' as period_from,
        date '2999-12-31' as period_to
)
select
    date_trunc(params.grain, s.order_date)::date as period_start,
    s.company_name,
    s.customer_key,
    s.department,
    sum(s.net_revenue) as net_revenue,
    sum(s.gross_margin) as gross_margin,
    sum(s.quantity) as quantity,
    sum(s.lines_count) as lines_count
from marts.mart_sales_daily as s
cross join params
where s.order_date between params.period_from and params.period_to
group by 1, 2, 3, 4
order by period_start, net_revenue desc, customer_key, department;
