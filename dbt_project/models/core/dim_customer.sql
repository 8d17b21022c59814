-- Customer dimension. Sales is the customer master for now; billing accounts and service
-- requesters join in once identity resolution (DOMAIN §1) is built.

with

customers as (

    select * from {{ ref('stg_sales__customers') }}

),

final as (

    select
        cast({{ surrogate_key(["'sales'", 'customer_id']) }} as text) as customer_key,
        cast(customer_id as bigint) as sales_customer_id,
        cast(customer_name as text) as customer_name,
        cast(customer_type as text) as customer_type,
        cast(email_normalised as text) as email_normalised,
        cast(phone_normalised as text) as phone_normalised,
        cast(tax_id_normalised as text) as tax_id_normalised,
        cast(city as text) as city,
        cast(acquisition_channel as text) as acquisition_channel,
        cast(referrer_customer_id as bigint) as referrer_customer_id,
        cast(sales_rep_id as bigint) as sales_rep_id,
        cast(created_at as timestamptz) as created_at,
        cast(is_deleted as boolean) as is_deleted

    from customers

)

select * from final
