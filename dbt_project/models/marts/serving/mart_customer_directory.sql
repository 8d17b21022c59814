-- One row per live customer as of var('as_of_date'): who they are (contact details masked),
-- who serves them, and how far the relationship went (DOMAIN §7: how many customers buy,
-- bought twice or more, bought once and stopped, were never contacted). The table BI tools
-- and analysts use to look one customer up (indexed on customer_key and sales_customer_id).

{{ config(
    indexes=[
        {'columns': ['customer_key'], 'unique': true},
        {'columns': ['sales_customer_id']},
    ],
) }}

with

customers as (

    select * from {{ ref('dim_customer') }}
    where
        is_current
        and not is_deleted
        and {{ to_business_date('created_at') }} <= {{ as_of_date() }}

),

reps as (

    select * from {{ ref('dim_sales_rep') }}

),

all_orders as (

    select * from {{ ref('fct_orders') }}
    where order_date <= {{ as_of_date() }}

),

-- orders that count as purchases: the same rule as mart_customer_value
purchases as (

    select
        customer_key,
        count(*) as orders_count,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date

    from all_orders
    where not is_cancelled and not is_deleted
    group by customer_key

),

ordered_ever as (

    select
        customer_key,
        count(*) as orders_placed_count

    from all_orders
    group by customer_key

),

-- opportunities live in sales only; the fact holds those opened by the as-of date
opportunities as (

    select
        sales_customer_id,
        count(*) as opportunities_count

    from {{ ref('fct_opportunities') }}
    group by sales_customer_id

),

tickets as (

    select
        customer_key,
        count(*) as tickets_count

    from {{ ref('fct_tickets') }}
    where customer_key is not null
    group by customer_key

),

joined as (

    select
        customers.customer_key,
        customers.sales_customer_id,
        customers.customer_origin,
        customers.customer_name,
        customers.customer_type,
        customers.city,
        customers.acquisition_channel,
        customers.sales_rep_id,
        reps.sales_rep_name,
        coalesce(reps.has_left_as_of, false) as sales_rep_has_left,
        {{ to_business_date('customers.created_at') }} as created_on,
        customers.email_normalised,
        customers.phone_normalised,
        customers.tax_id_normalised,
        coalesce(purchases.orders_count, 0) as orders_count,
        purchases.first_order_date,
        purchases.last_order_date,
        coalesce(ordered_ever.orders_placed_count, 0) as orders_placed_count,
        coalesce(opportunities.opportunities_count, 0) as opportunities_count,
        coalesce(tickets.tickets_count, 0) as tickets_count

    from customers
    left join reps on customers.sales_rep_id = reps.sales_rep_id
    left join purchases on customers.customer_key = purchases.customer_key
    left join ordered_ever on customers.customer_key = ordered_ever.customer_key
    left join opportunities on customers.sales_customer_id = opportunities.sales_customer_id
    left join tickets on customers.customer_key = tickets.customer_key

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(customer_key as text) as customer_key,
        cast(sales_customer_id as bigint) as sales_customer_id,
        cast(customer_origin as text) as customer_origin,
        cast(customer_name as text) as customer_name,
        cast(customer_type as text) as customer_type,
        cast(city as text) as city,
        cast(acquisition_channel as text) as acquisition_channel,
        cast(sales_rep_id as bigint) as sales_rep_id,
        cast(sales_rep_name as text) as sales_rep_name,
        cast(sales_rep_has_left as boolean) as sales_rep_has_left,
        cast(created_on as date) as created_on,
        cast(
            case
                when email_normalised is not null
                    then left(email_normalised, 1) || '***' || substring(email_normalised from '@.*$')
            end as text
        ) as email_masked,
        cast(
            case
                when phone_normalised is not null then '*******' || right(phone_normalised, 4)
            end as text
        ) as phone_masked,
        cast(tax_id_normalised is not null as boolean) as has_tax_id,
        cast(orders_count as bigint) as orders_count,
        cast(first_order_date as date) as first_order_date,
        cast(last_order_date as date) as last_order_date,
        cast({{ as_of_date() }} - last_order_date as integer) as days_since_last_order,
        cast(orders_placed_count as bigint) as orders_placed_count,
        cast(opportunities_count as bigint) as opportunities_count,
        cast(tickets_count as bigint) as tickets_count,
        cast(orders_count >= 1 as boolean) as is_buyer,
        cast(orders_count >= 2 as boolean) as is_repeat_buyer,
        cast(
            orders_count = 1
            and {{ as_of_date() }} - last_order_date > {{ var('one_time_buyer_lapsed_days') }}
            as boolean
        ) as is_one_time_lapsed,
        cast(
            orders_placed_count > 0 or opportunities_count > 0 or customer_origin <> 'sales'
            as boolean
        ) as was_contacted

    from joined

)

select * from final
