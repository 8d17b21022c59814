-- Grain: one billing invoice dated on or before var('as_of_date'), with what was paid and
-- credited against it up to that date. open_amount is the receivable still owed (DOMAIN §5);
-- days_overdue counts from the due date to the as-of date while anything is open.

with

invoices as (

    select * from {{ ref('stg_billing__invoices') }}
    where invoice_date <= {{ as_of_date() }}

),

accounts as (

    select * from {{ ref('int_billing__account_customers') }}

),

payments as (

    select invoice_id, sum(amount) as paid_amount, max(paid_on) as last_paid_on
    from {{ ref('stg_billing__payments') }}
    where paid_on <= {{ as_of_date() }}
    group by invoice_id

),

credits as (

    select invoice_id, sum(amount) as credited_amount
    from {{ ref('stg_billing__credit_notes') }}
    where issued_on <= {{ as_of_date() }}
    group by invoice_id

),

joined as (

    select
        invoices.invoice_id,
        accounts.customer_key,
        invoices.account_id as billing_account_id,
        invoices.invoice_date,
        {{ date_key('invoices.invoice_date') }} as invoice_date_key,
        invoices.due_date,
        invoices.currency,
        invoices.status,
        invoices.amount,
        coalesce(payments.paid_amount, 0) as paid_amount,
        coalesce(credits.credited_amount, 0) as credited_amount,
        payments.last_paid_on

    from invoices
    left join accounts on invoices.account_id = accounts.account_id
    left join payments on invoices.invoice_id = payments.invoice_id
    left join credits on invoices.invoice_id = credits.invoice_id

),

final as (

    select
        *,
        case
            when status in ('void', 'written_off') then 0
            else greatest(amount - paid_amount - credited_amount, 0)
        end as open_amount,
        status = 'written_off' as is_written_off,
        case
            when status not in ('void', 'written_off')
                and amount - paid_amount - credited_amount > 0
                and due_date < {{ as_of_date() }}
                then {{ as_of_date() }} - due_date
            else 0
        end as days_overdue

    from joined

)

select * from final
