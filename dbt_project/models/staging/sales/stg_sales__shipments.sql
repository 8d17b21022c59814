with

source as (

    {{ passed_rows(source('sales', 'shipments')) }}

),

latest as (

    {{ deduplicate_latest('source', 'shipment_id') }}

),

renamed as (

    select
        cast(shipment_id as bigint) as shipment_id,
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        {{ clean_text('delivery_note_no') }} as delivery_note_no,
        {{ clean_text('contract_ref') }} as contract_ref,
        {{ clean_text('contract_ref') }} is not null as has_contract_ref,
        cast(shipped_at as timestamptz) as shipped_at,
        {{ to_business_date('shipped_at') }} as shipped_on,
        cast(quantity as bigint) as quantity,
        {{ clean_text('ship_to_city') }} as ship_to_city,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
