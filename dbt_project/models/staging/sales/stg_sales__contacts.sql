with

source as (

    {{ passed_rows(source('sales', 'contacts')) }}

),

latest as (

    {{ deduplicate_latest('source', 'contact_id') }}

),

renamed as (

    select
        cast(contact_id as bigint) as contact_id,
        cast(customer_id as bigint) as customer_id,
        {{ clean_text('name') }} as contact_name,
        {{ clean_code('role') }} as contact_role,
        {{ clean_text('email') }} as email,
        {{ normalise_email('email') }} as email_normalised,
        {{ clean_text('phone') }} as phone,
        {{ normalise_phone('phone') }} as phone_normalised,
        cast(is_primary as boolean) as is_primary,
        cast(updated_at as timestamptz) as updated_at,
        cast(deleted_at as timestamptz) as deleted_at,
        deleted_at is not null as is_deleted,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
