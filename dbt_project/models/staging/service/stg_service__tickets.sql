with

source as (

    {{ passed_rows(source('service', 'tickets')) }}

),

latest as (

    {{ deduplicate_latest('source', 'ticket_id') }}

),

renamed as (

    select
        cast(ticket_id as bigint) as ticket_id,
        {{ clean_text('requester_email') }} as requester_email,
        {{ normalise_email('requester_email') }} as requester_email_normalised,
        {{ clean_text('requester_phone') }} as requester_phone,
        {{ normalise_phone('requester_phone') }} as requester_phone_normalised,
        {{ clean_text('requester_name') }} as requester_name,
        {{ clean_code('ticket_type') }} as ticket_type,
        {{ clean_code('channel') }} as channel,
        {{ clean_code('priority') }} as priority,
        cast(created_at as timestamptz) as created_at,
        cast(first_response_at as timestamptz) as first_response_at,
        cast(resolved_at as timestamptz) as resolved_at,
        resolved_at is not null as is_resolved,
        {{ clean_code('root_cause') }} as root_cause,
        {{ clean_text('agent') }} as agent,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
