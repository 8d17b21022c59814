-- Grain: one payment received on or before var('as_of_date'). days_after_due compares the
-- payment date with its invoice's due date (late payers, DOMAIN §5).

with

payments as (

    select * from {{ ref('stg_billing__payments') }}
    where paid_on <= {{ as_of_date() }}

),

invoices as (

    select invoice_id, due_date from {{ ref('stg_billing__invoices') }}

),

accounts as (

    select * from {{ ref('int_billing__account_customers') }}

),

final as (

    select
        payments.payment_id,
        payments.invoice_id,
        accounts.customer_key,
        payments.account_id as billing_account_id,
        payments.paid_at,
        payments.paid_on,
        {{ date_key('payments.paid_on') }} as paid_date_key,
        payments.amount,
        payments.payment_method,
        payments.paid_on - invoices.due_date as days_after_due

    from payments
    left join accounts on payments.account_id = accounts.account_id
    left join invoices on payments.invoice_id = invoices.invoice_id

)

select * from final
