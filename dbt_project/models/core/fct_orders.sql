-- Grain: one sales order placed on or before var('as_of_date').

with

orders as (

    select * from {{ ref('int_sales__orders_as_of') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

order_totals as (

    select
        order_id,
        count(*) as line_count,
        sum(quantity) as quantity,
        sum(net_amount) as net_revenue,
        sum(cost_amount) as cost_amount

    from order_lines
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.customer_key,
        orders.sales_customer_id,
        orders.sales_rep_id,
        orders.order_date_key,
        orders.order_date,
        orders.ordered_at,
        orders.channel,
        orders.promotion_code,
        orders.has_promotion,
        orders.status,
        orders.status = 'cancelled' as is_cancelled,
        orders.is_deleted,
        coalesce(order_totals.line_count, 0) as line_count,
        coalesce(order_totals.quantity, 0) as quantity,
        coalesce(order_totals.net_revenue, 0) as net_revenue,
        coalesce(order_totals.cost_amount, 0) as cost_amount,
        coalesce(order_totals.net_revenue, 0) - coalesce(order_totals.cost_amount, 0)
            as gross_margin

    from orders
    left join order_totals
        on orders.order_id = order_totals.order_id

)

select * from final
