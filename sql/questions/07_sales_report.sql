-- Question (DOMAIN §7): Sales reports for any year, month or day, by company and department.
-- Answer: revenue, gross margin and quantity per period, company (the buying customer) and
-- department (product category; project default mapping, docs/serving.md).
-- Filters, plain columns a BI tool sets: grain = 'year' | 'month' | 'day'; period_start /
-- period_end bound the periods (e.g. period_start >= date '2026-02-01' and
-- period_end <= date '2026-02-28'); channel, department, customer_key. Default: by month.
-- Mart: marts.mart_sales_report (mart_sales_daily rolled up per grain).
-- Columns: period_start, company_name, customer_key, department, net_revenue, gross_margin,
-- quantity, lines_count.
select
    period_start,
    company_name,
    customer_key,
    department,
    sum(net_revenue) as net_revenue,
    sum(gross_margin) as gross_margin,
    sum(quantity) as quantity,
    sum(lines_count) as lines_count
from marts.mart_sales_report
where grain = 'month'
group by period_start, company_name, customer_key, department
order by period_start, net_revenue desc, customer_key, department;
