-- Grain: one order line of a sales order placed on or before var('as_of_date').

with

orders as (

    select * from {{ ref('int_sales__orders_as_of') }}

),

order_lines as (

    select * from {{ ref('stg_sales__order_lines') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

priced as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        orders.customer_key,
        {{ surrogate_key(["'sales'", 'order_lines.product_id']) }} as product_key,
        orders.order_date_key,
        orders.order_date,
        orders.channel,
        orders.status as order_status,
        orders.is_deleted as order_is_deleted,
        order_lines.quantity,
        order_lines.unit_price,
        order_lines.discount_pct,
        products.unit_cost,
        order_lines.quantity * order_lines.unit_price as gross_amount,
        round(
            order_lines.quantity * order_lines.unit_price * order_lines.discount_pct, 4
        ) as discount_amount

    from order_lines
    inner join orders
        on order_lines.order_id = orders.order_id
    left join products
        on order_lines.product_id = products.sales_product_id

),

final as (

    select
        order_line_id,
        order_id,
        customer_key,
        product_key,
        order_date_key,
        order_date,
        channel,
        order_status,
        order_is_deleted,
        quantity,
        unit_price,
        discount_pct,
        gross_amount,
        discount_amount,
        gross_amount - discount_amount as net_amount,
        quantity * unit_cost as cost_amount,
        gross_amount - discount_amount - quantity * unit_cost as margin_amount

    from priced

)

select * from final
