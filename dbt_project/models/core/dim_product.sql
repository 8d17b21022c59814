-- Product dimension (current state of the catalogue, type 1).

with

products as (

    select * from {{ ref('stg_sales__products') }}

),

final as (

    select
        {{ surrogate_key(["'sales'", 'product_id']) }} as product_key,
        product_id as sales_product_id,
        sku,
        product_name,
        category,
        list_price,
        unit_cost,
        is_sole_supplier,
        updated_at

    from products

)

select * from final
