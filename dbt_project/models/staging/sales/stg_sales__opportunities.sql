with

source as (

    {{ passed_rows(source('sales', 'opportunities')) }}

),

latest as (

    {{ deduplicate_latest('source', 'opportunity_id') }}

),

renamed as (

    select
        cast(opportunity_id as bigint) as opportunity_id,
        cast(customer_id as bigint) as customer_id,
        cast(sales_rep_id as bigint) as sales_rep_id,
        {{ clean_code('stage') }} as stage,
        {{ clean_code('stage') }} in ('won', 'lost') as is_closed,
        {{ clean_code('stage') }} = 'won' as is_won,
        cast(amount as numeric(18, 4)) as amount,
        cast(expected_close_date as date) as expected_close_date,
        cast(created_at as timestamptz) as created_at,
        {{ to_business_date('created_at') }} as created_on,
        -- a closed deal's last stage change is its close
        case
            when {{ clean_code('stage') }} in ('won', 'lost')
                then cast(updated_at as timestamptz)
        end as closed_at,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
