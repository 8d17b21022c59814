-- Grain: one credit note (refund, price adjustment, goodwill, write-off) issued on or before
-- var('as_of_date'). Credit notes reduce customer net profit (DOMAIN §2).

with

credit_notes as (

    select * from {{ ref('stg_billing__credit_notes') }}
    where issued_on <= {{ as_of_date() }}

),

accounts as (

    select * from {{ ref('int_billing__account_customers') }}

),

final as (

    select
        credit_notes.credit_note_id,
        credit_notes.invoice_id,
        accounts.customer_key,
        credit_notes.account_id as billing_account_id,
        credit_notes.issued_on,
        {{ date_key('credit_notes.issued_on') }} as issued_date_key,
        credit_notes.amount,
        credit_notes.reason,
        credit_notes.reason = 'write_off' as is_write_off

    from credit_notes
    left join accounts on credit_notes.account_id = accounts.account_id

)

select * from final
