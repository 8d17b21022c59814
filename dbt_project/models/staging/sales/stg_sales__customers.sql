with

source as (

    {{ passed_rows(source('sales', 'customers')) }}

),

latest as (

    {{ deduplicate_latest('source', 'customer_id') }}

),

renamed as (

    select
        cast(customer_id as bigint) as customer_id,
        {{ clean_code('customer_type') }} as customer_type,
        {{ clean_text('name') }} as customer_name,
        {{ clean_text('email') }} as email,
        {{ normalise_email('email') }} as email_normalised,
        {{ clean_text('phone') }} as phone,
        {{ normalise_phone('phone') }} as phone_normalised,
        {{ clean_text('tax_id') }} as tax_id,
        {{ normalise_tax_id('tax_id') }} as tax_id_normalised,
        {{ clean_text('city') }} as city,
        {{ clean_code('acquisition_channel') }} as acquisition_channel,
        -- sales writes 0 for "no referrer"; ids start at 1
        cast(nullif(referrer_customer_id, 0) as bigint) as referrer_customer_id,
        cast(sales_rep_id as bigint) as sales_rep_id,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,
        cast(deleted_at as timestamptz) as deleted_at,
        deleted_at is not null as is_deleted,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
