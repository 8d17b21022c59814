with

source as (

    {{ passed_rows(source('billing', 'invoices')) }}

),

latest as (

    {{ deduplicate_latest('source', 'invoice_id') }}

),

renamed as (

    select
        cast(trim(invoice_id) as text) as invoice_id,
        cast(trim(account_id) as text) as account_id,
        cast(invoice_date as date) as invoice_date,
        cast(due_date as date) as due_date,
        cast(amount as numeric(18, 4)) as amount,
        upper(trim(currency)) as currency,
        {{ clean_code('status') }} as status,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
