with

source as (

    {{ passed_rows(source('sales', 'order_lines')) }}

),

latest as (

    {{ deduplicate_latest('source', 'order_line_id') }}

),

renamed as (

    select
        cast(order_line_id as bigint) as order_line_id,
        cast(order_id as bigint) as order_id,
        cast(product_id as bigint) as product_id,
        cast(quantity as bigint) as quantity,
        cast(unit_price as numeric(18, 4)) as unit_price,
        cast(discount_pct as numeric(18, 4)) as discount_pct,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
