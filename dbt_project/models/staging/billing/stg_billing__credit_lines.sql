with

source as (

    {{ passed_rows(source('billing', 'credit_lines')) }}

),

latest as (

    {{ deduplicate_latest('source', 'credit_line_id') }}

),

renamed as (

    select
        cast(trim(credit_line_id) as text) as credit_line_id,
        cast(trim(account_id) as text) as account_id,
        {{ clean_code('line_type') }} as line_type,
        cast(credit_limit as numeric(18, 4)) as credit_limit,
        cast(term_days as integer) as term_days,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
