-- DOMAIN §7 "sales reports for any year, month or day, by company and department" as one
-- relation a BI tool filters instead of a query to edit: mart_sales_daily rolled up to each
-- grain ('year' | 'month' | 'day'), with the period's first and last day as plain columns
-- (the period in progress ends on the as-of date).
-- Pick a grain with `where grain = 'month'`, bound the periods with period_start / period_end
-- (indexed together), and narrow by company, department or channel like any column
-- (sql/questions/07_sales_report.sql). A table: a dashboard reads the month and year
-- roll-ups ready, not a full-history aggregation per click (docs/serving.md).

{{ config(
    indexes=[
        {'columns': ['grain', 'period_start']},
    ],
) }}

with

daily as (

    select * from {{ ref('mart_sales_daily') }}

),

by_day as (

    select
        'day' as grain,
        order_date as period_start,
        order_date as period_end,
        customer_key,
        company_name,
        customer_type,
        department,
        channel,
        lines_count,
        quantity,
        net_revenue,
        cost_amount,
        gross_margin

    from daily

),

by_month as (

    select
        'month' as grain,
        order_month as period_start,
        cast(order_month + interval '1 month' - interval '1 day' as date) as period_end,
        customer_key,
        company_name,
        customer_type,
        department,
        channel,
        sum(lines_count) as lines_count,
        sum(quantity) as quantity,
        sum(net_revenue) as net_revenue,
        sum(cost_amount) as cost_amount,
        sum(gross_margin) as gross_margin

    from daily
    group by order_month, customer_key, company_name, customer_type, department, channel

),

by_year as (

    select
        'year' as grain,
        make_date(order_year, 1, 1) as period_start,
        make_date(order_year, 12, 31) as period_end,
        customer_key,
        company_name,
        customer_type,
        department,
        channel,
        sum(lines_count) as lines_count,
        sum(quantity) as quantity,
        sum(net_revenue) as net_revenue,
        sum(cost_amount) as cost_amount,
        sum(gross_margin) as gross_margin

    from daily
    group by order_year, customer_key, company_name, customer_type, department, channel

),

final as (

    select * from by_day
    union all
    select * from by_month
    union all
    select * from by_year

)

select
    cast(grain as text) as grain,
    cast(period_start as date) as period_start,
    -- the period in progress ends on the as-of date: no mart holds a date after it
    cast(least(period_end, {{ as_of_date() }}) as date) as period_end,
    cast(customer_key as text) as customer_key,
    cast(company_name as text) as company_name,
    cast(customer_type as text) as customer_type,
    cast(department as text) as department,
    cast(channel as text) as channel,
    cast(lines_count as bigint) as lines_count,
    cast(quantity as bigint) as quantity,
    cast(net_revenue as numeric(18, 4)) as net_revenue,
    cast(cost_amount as numeric(18, 4)) as cost_amount,
    cast(gross_margin as numeric(18, 4)) as gross_margin
from final
order by grain, period_start
