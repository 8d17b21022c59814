-- Sales per day, company and department as of var('as_of_date') (DOMAIN §7: "sales reports
-- for any year, month or day, by company and department"): roll it up to any year, month or
-- day with a group by. Company = the buying customer (organisation or person); department =
-- the product category (the sources carry no org chart of the selling firm: project default,
-- docs/serving.md). Counted orders follow mart_customer_value: not cancelled, not deleted.

{{ config(
    indexes=[
        {'columns': ['order_date']},
        {'columns': ['customer_key', 'order_date']},
    ],
) }}

with

lines as (

    select * from {{ ref('fct_order_lines') }}
    where
        order_status <> 'cancelled'
        and not order_is_deleted
        and order_date <= {{ as_of_date() }}

),

products as (

    select * from {{ ref('dim_product') }}

),

customers as (

    select * from {{ ref('dim_customer') }}
    where is_current

),

daily as (

    select
        lines.order_date,
        lines.customer_key,
        lines.channel,
        products.category as department,
        count(distinct lines.order_id) as orders_count,
        count(*) as lines_count,
        sum(lines.quantity) as quantity,
        sum(lines.net_amount) as net_revenue,
        sum(lines.cost_amount) as cost_amount,
        sum(lines.margin_amount) as gross_margin

    from lines
    left join products on lines.product_key = products.product_key
    group by 1, 2, 3, 4

),

final as (

    select
        cast(daily.order_date as date) as order_date,
        cast(extract(year from daily.order_date) as integer) as order_year,
        cast(date_trunc('month', daily.order_date) as date) as order_month,
        cast(daily.customer_key as text) as customer_key,
        cast(customers.customer_name as text) as company_name,
        cast(customers.customer_type as text) as customer_type,
        cast(daily.department as text) as department,
        cast(daily.channel as text) as channel,
        cast(daily.orders_count as bigint) as orders_count,
        cast(daily.lines_count as bigint) as lines_count,
        cast(daily.quantity as bigint) as quantity,
        cast(daily.net_revenue as numeric(18, 4)) as net_revenue,
        cast(daily.cost_amount as numeric(18, 4)) as cost_amount,
        cast(daily.gross_margin as numeric(18, 4)) as gross_margin

    from daily
    left join customers on daily.customer_key = customers.customer_key

)

select * from final
order by order_date
