-- Orders placed up to the run's as-of date, with the customer's warehouse key.
-- Orders after var('as_of_date') are left out so no future rows leak into the facts
-- (DOMAIN §1, time-variant).

with

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

in_scope as (

    select
        order_id,
        {{ surrogate_key(["'sales'", 'customer_id']) }} as customer_key,
        customer_id as sales_customer_id,
        sales_rep_id,
        ordered_at,
        ordered_on as order_date,
        {{ date_key('ordered_on') }} as order_date_key,
        channel,
        promotion_code,
        has_promotion,
        status,
        is_deleted,
        updated_at

    from orders
    where ordered_on <= {{ as_of_date() }}

)

select * from in_scope
