with

source as (

    {{ passed_rows(source('sales', 'products')) }}

),

latest as (

    {{ deduplicate_latest('source', 'product_id') }}

),

renamed as (

    select
        cast(product_id as bigint) as product_id,
        {{ clean_text('sku') }} as sku,
        {{ clean_text('name') }} as product_name,
        {{ clean_code('category') }} as category,
        cast(list_price as numeric(18, 4)) as list_price,
        cast(unit_cost as numeric(18, 4)) as unit_cost,
        cast(sole_supplier as boolean) as is_sole_supplier,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
