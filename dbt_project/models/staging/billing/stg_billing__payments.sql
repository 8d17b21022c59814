with

source as (

    {{ passed_rows(source('billing', 'payments')) }}

),

latest as (

    {{ deduplicate_latest('source', 'payment_id') }}

),

renamed as (

    select
        cast(trim(payment_id) as text) as payment_id,
        cast(trim(invoice_id) as text) as invoice_id,
        cast(trim(account_id) as text) as account_id,
        cast(paid_at as timestamptz) as paid_at,
        {{ to_business_date('paid_at') }} as paid_on,
        cast(amount as numeric(18, 4)) as amount,
        {{ clean_code('method') }} as payment_method,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
