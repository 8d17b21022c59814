with

source as (

    {{ passed_rows(source('billing', 'credit_notes')) }}

),

latest as (

    {{ deduplicate_latest('source', 'credit_note_id') }}

),

renamed as (

    select
        cast(trim(credit_note_id) as text) as credit_note_id,
        cast(trim(invoice_id) as text) as invoice_id,
        cast(trim(account_id) as text) as account_id,
        cast(issued_on as date) as issued_on,
        cast(amount as numeric(18, 4)) as amount,
        {{ clean_code('reason') }} as reason,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
