with

source as (

    {{ passed_rows(source('service', 'interactions')) }}

),

latest as (

    {{ deduplicate_latest('source', 'interaction_id') }}

),

renamed as (

    select
        cast(interaction_id as bigint) as interaction_id,
        cast(ticket_id as bigint) as ticket_id,
        {{ clean_code('channel') }} as channel,
        {{ clean_code('direction') }} as direction,
        {{ clean_code('direction') }} = 'outbound' as is_outbound,
        cast(occurred_at as timestamptz) as occurred_at,
        {{ clean_text('agent') }} as agent,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
