with

source as (

    {{ passed_rows(source('service', 'follow_ups')) }}

),

latest as (

    {{ deduplicate_latest('source', 'follow_up_id') }}

),

renamed as (

    select
        cast(follow_up_id as bigint) as follow_up_id,
        cast(ticket_id as bigint) as ticket_id,
        cast(called_at as timestamptz) as called_at,
        {{ clean_text('agent') }} as agent,
        {{ clean_code('outcome') }} as outcome,
        {{ clean_code('outcome') }} in ('reached', 'resolved_confirmed', 'reopened')
            as is_reached,
        {{ clean_code('outcome') }} = 'reopened' as is_reopened,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
