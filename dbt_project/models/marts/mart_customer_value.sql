-- Customer value as of var('as_of_date'). Grain: one row per live (not deleted) customer
-- that existed on the as-of date (created on or before it).
-- Value = gross margin of the customer's non-cancelled, non-deleted orders up to the as-of
-- date (the historical-value part of DOMAIN §2; credit notes, cost to serve and acquisition
-- cost join in later). Tiers follow DOMAIN §2: key = top ceil(5 %) of customers by rank,
-- ordinary = up to ceil(20 %), small = the rest (shares are dbt vars, project defaults).

{%- set key_share = var('value_tier_key_share') %}
{%- set ordinary_share = var('value_tier_ordinary_share') %}

with

customers as (

    select
        customer_key,
        sales_customer_id,
        customer_name

    from {{ ref('dim_customer') }}
    where
        is_current
        and not is_deleted
        and {{ to_business_date('created_at') }} <= {{ as_of_date() }}

),

orders as (

    select * from {{ ref('fct_orders') }}
    where
        status <> 'cancelled'
        and not is_deleted
        and order_date <= {{ as_of_date() }}

),

customer_orders as (

    select
        customer_key,
        count(*) as orders_count,
        sum(net_revenue) as revenue,
        sum(cost_amount) as cost_of_goods,
        sum(gross_margin) as gross_margin,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date

    from orders
    group by customer_key

),

customer_value as (

    select
        customers.customer_key,
        customers.sales_customer_id,
        customers.customer_name,
        coalesce(customer_orders.orders_count, 0) as orders_count,
        coalesce(customer_orders.revenue, 0) as revenue,
        coalesce(customer_orders.cost_of_goods, 0) as cost_of_goods,
        coalesce(customer_orders.gross_margin, 0) as gross_margin,
        customer_orders.first_order_date,
        customer_orders.last_order_date

    from customers
    left join customer_orders
        on customers.customer_key = customer_orders.customer_key

),

ranked as (

    select
        *,
        row_number() over (order by gross_margin desc, customer_key asc) as value_rank,
        count(*) over () as customer_count,
        sum(gross_margin) over () as total_gross_margin

    from customer_value

),

tiered as (

    select
        *,
        case
            when value_rank <= ceil(customer_count * cast({{ key_share }} as numeric))
                then 'key'
            when
                value_rank <= ceil(
                    customer_count
                    * (cast({{ key_share }} as numeric) + cast({{ ordinary_share }} as numeric))
                )
                then 'ordinary'
            else 'small'
        end as value_tier,
        case
            when total_gross_margin = 0 then 0
            else round(gross_margin / total_gross_margin, 10)
        end as value_share

    from ranked

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(customer_key as text) as customer_key,
        cast(sales_customer_id as bigint) as sales_customer_id,
        cast(customer_name as text) as customer_name,
        cast(orders_count as bigint) as orders_count,
        cast(revenue as numeric(18, 4)) as revenue,
        cast(cost_of_goods as numeric(18, 4)) as cost_of_goods,
        cast(gross_margin as numeric(18, 4)) as gross_margin,
        cast(first_order_date as date) as first_order_date,
        cast(last_order_date as date) as last_order_date,
        cast({{ as_of_date() }} - last_order_date as integer) as days_since_last_order,
        cast(value_rank as bigint) as value_rank,
        cast(value_tier as text) as value_tier,
        cast(value_share as numeric(38, 10)) as value_share

    from tiered

)

select * from final
