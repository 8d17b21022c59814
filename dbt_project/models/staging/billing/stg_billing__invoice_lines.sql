with

source as (

    {{ passed_rows(source('billing', 'invoice_lines')) }}

),

latest as (

    {{ deduplicate_latest('source', 'invoice_line_id') }}

),

renamed as (

    select
        cast(trim(invoice_line_id) as text) as invoice_line_id,
        cast(trim(invoice_id) as text) as invoice_id,
        cast(line_no as integer) as line_no,
        upper({{ clean_text('sku') }}) as sku,
        cast(quantity as integer) as quantity,
        cast(unit_price as numeric(18, 4)) as unit_price,
        cast(amount as numeric(18, 4)) as amount,
        -- billing started sending the customer's purchase-order number before the landing
        -- contract knew it: the loader kept it in _extra (schema drift, DOMAIN §1)
        {{ clean_text("_extra ->> 'po_number'") }} as po_number,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
