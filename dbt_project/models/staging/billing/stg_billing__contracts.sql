with

source as (

    {{ passed_rows(source('billing', 'contracts')) }}

),

latest as (

    {{ deduplicate_latest('source', 'contract_id') }}

),

renamed as (

    select
        cast(trim(contract_id) as text) as contract_id,
        cast(trim(account_id) as text) as account_id,
        {{ clean_code('contract_type') }} as contract_type,
        {{ clean_code('contract_type') }} in ('subscription', 'framework') as is_recurring,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(auto_renew as boolean) as auto_renew,
        {{ clean_code('status') }} as status,
        cast(amount as numeric(18, 4)) as amount,
        cast(contracted_quantity as bigint) as contracted_quantity,
        {{ clean_text('renewal_of') }} as renewal_of,
        cast(cancelled_at as timestamptz) as cancelled_at,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
