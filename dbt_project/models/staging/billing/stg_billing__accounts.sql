with

source as (

    {{ passed_rows(source('billing', 'accounts')) }}

),

latest as (

    {{ deduplicate_latest('source', 'account_id') }}

),

renamed as (

    select
        cast(trim(account_id) as text) as account_id,
        {{ clean_text('account_name') }} as account_name,
        {{ clean_text('email') }} as email,
        {{ normalise_email('email') }} as email_normalised,
        {{ clean_text('phone') }} as phone,
        {{ normalise_phone('phone') }} as phone_normalised,
        {{ clean_text('tax_id') }} as tax_id,
        {{ normalise_tax_id('tax_id') }} as tax_id_normalised,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
