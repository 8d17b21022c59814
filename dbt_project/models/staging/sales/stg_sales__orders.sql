with

source as (

    {{ passed_rows(source('sales', 'orders')) }}

),

latest as (

    {{ deduplicate_latest('source', 'order_id') }}

),

renamed as (

    select
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        cast(sales_rep_id as bigint) as sales_rep_id,
        cast(ordered_at as timestamptz) as ordered_at,
        {{ to_business_date('ordered_at') }} as ordered_on,
        {{ clean_code('channel') }} as channel,
        {{ clean_text('promotion_code') }} as promotion_code,
        {{ clean_text('promotion_code') }} is not null as has_promotion,
        {{ clean_code('status') }} as status,
        cast(updated_at as timestamptz) as updated_at,
        cast(deleted_at as timestamptz) as deleted_at,
        deleted_at is not null as is_deleted,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
