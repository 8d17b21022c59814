-- Grain: one contract event — start, renew, cancel or expire — on or before
-- var('as_of_date'), from the contract versions in force on the as-of date (dim_contract).
--   start   a contract that renews nothing begins (start_date)
--   renew   a contract that renews an earlier one begins (start_date; previous_contract_id)
--   cancel  a contract is cancelled (cancelled_at, as a business date)
--   expire  a contract reached its end date, was not cancelled, and nothing renewed it by
--           the as-of date
-- Contract churn (DOMAIN §4) is read from these events.

with

contracts as (

    select * from {{ ref('dim_contract') }} where is_current

),

renewed as (

    select distinct renewal_of_contract_id as contract_id
    from contracts
    where renewal_of_contract_id is not null and start_date <= {{ as_of_date() }}

),

events as (

    select contract_key, contract_id, customer_key, contract_type, amount,
        case when renewal_of_contract_id is null then 'start' else 'renew' end as event_type,
        start_date as event_date,
        renewal_of_contract_id as previous_contract_id
    from contracts

    union all

    select contract_key, contract_id, customer_key, contract_type, amount,
        'cancel', {{ to_business_date('cancelled_at') }}, null
    from contracts
    where status = 'cancelled' and cancelled_at is not null

    union all

    select contracts.contract_key, contracts.contract_id, contracts.customer_key,
        contracts.contract_type, contracts.amount, 'expire', contracts.end_date, null
    from contracts
    left join renewed on contracts.contract_id = renewed.contract_id
    where
        contracts.end_date < {{ as_of_date() }}
        and contracts.status <> 'cancelled'
        and renewed.contract_id is null

),

final as (

    select
        {{ surrogate_key(['contract_id', 'event_type']) }} as contract_event_key,
        contract_key,
        contract_id,
        customer_key,
        event_type,
        event_date,
        {{ date_key('event_date') }} as event_date_key,
        contract_type,
        amount,
        previous_contract_id

    from events
    where event_date <= {{ as_of_date() }}

)

select * from final
