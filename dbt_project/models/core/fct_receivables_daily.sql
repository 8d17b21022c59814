{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ receivables_trim() }}",
    )
}}
-- Open receivables per customer per day, with ageing buckets (DOMAIN §5: exposure = open
-- receivables; overdue > 1 year is its own band). Grain: one row per billing account and
-- calendar day on which it owed anything, up to var('as_of_date'), with the account's customer
-- (sum by customer_key for a customer with several accounts).
-- An invoice is open on day d from its invoice date while amount − payments − credit notes
-- up to d is above zero (void and written-off invoices are not receivables). Days overdue on
-- d = d − due date. Buckets: not_due, 1-30, 31-60, 61-90, 91-180, 181-365, over_365.
-- Incremental: a nightly run recomputes the last var('incremental_lookback_days') days, and
-- every day of an account that has no earlier rows left after the pre-hook: new accounts,
-- accounts with an invoice, payment or credit note changed in the window (late billing rows
-- can carry old dates), and accounts identity resolution now gives another customer.
-- --full-refresh recomputes every day; both give the same rows (tested).

-- depends_on: {{ ref('bridge_customer_identity') }}
-- depends_on: {{ ref('stg_billing__invoices') }}
-- depends_on: {{ ref('stg_billing__payments') }}
-- depends_on: {{ ref('stg_billing__credit_notes') }}
{%- set window_start = incremental_window_start() %}

with

invoices as (

    select * from {{ ref('fct_invoices') }}
    where status not in ('void', 'written_off')

),

{% if is_incremental() %}
kept_accounts as (

    select distinct billing_account_id from {{ this }}

),
{% endif %}

accounts_start as (

    -- the first day to compute per account: the window, or every day for an account the
    -- table holds nothing earlier for
    select
        invoices.billing_account_id,
        {% if is_incremental() -%}
        case
            when min(kept_accounts.billing_account_id) is not null then {{ window_start }}
            else cast('-infinity' as date)
        end
        {%- else -%}
        cast('-infinity' as date)
        {%- endif %} as first_day

    from invoices
    {% if is_incremental() -%}
    left join kept_accounts
        on invoices.billing_account_id = kept_accounts.billing_account_id
    {%- endif %}
    group by invoices.billing_account_id

),

settlements as (

    select invoice_id, paid_on as settled_on, amount
    from {{ ref('fct_payments') }}
    union all
    select invoice_id, issued_on, amount
    from {{ ref('fct_credit_notes') }}

),

balance_changes as (

    -- the invoice itself, then each day something was paid or credited against it
    select invoice_id, invoice_date as change_day, 0 as settled_amount
    from invoices

    union all

    select invoices.invoice_id, greatest(settlements.settled_on, invoices.invoice_date),
        settlements.amount
    from settlements
    inner join invoices on settlements.invoice_id = invoices.invoice_id

),

balance_steps as (

    select
        invoice_id,
        change_day,
        sum(sum(settled_amount)) over (partition by invoice_id order by change_day)
            as settled_to_date

    from balance_changes
    group by invoice_id, change_day

),

open_intervals as (

    -- the balance holds from one change to the day before the next
    select
        invoices.customer_key,
        invoices.billing_account_id,
        invoices.due_date,
        balance_steps.change_day as from_day,
        coalesce(
            lead(balance_steps.change_day) over (
                partition by balance_steps.invoice_id order by balance_steps.change_day
            ) - 1,
            {{ as_of_date() }}
        ) as to_day,
        invoices.amount - balance_steps.settled_to_date as open_amount

    from balance_steps
    inner join invoices on balance_steps.invoice_id = invoices.invoice_id

),

open_per_day as (

    select
        open_intervals.customer_key,
        open_intervals.billing_account_id,
        day::date as date_day,
        day::date - open_intervals.due_date as days_overdue,
        open_intervals.open_amount

    from open_intervals
    inner join accounts_start
        on open_intervals.billing_account_id = accounts_start.billing_account_id
    cross join lateral generate_series(
        greatest(open_intervals.from_day, accounts_start.first_day),
        least(open_intervals.to_day, {{ as_of_date() }}),
        interval '1 day'
    ) as day
    where open_intervals.open_amount > 0 and open_intervals.customer_key is not null

),

final as (

    select
        billing_account_id,
        customer_key,
        date_day,
        {{ date_key('date_day') }} as date_key,
        count(*) as open_invoices,
        sum(open_amount) as open_amount,
        sum(open_amount) filter (where days_overdue <= 0) as not_due_amount,
        sum(open_amount) filter (where days_overdue > 0) as overdue_amount,
        sum(open_amount) filter (where days_overdue between 1 and 30) as overdue_1_30,
        sum(open_amount) filter (where days_overdue between 31 and 60) as overdue_31_60,
        sum(open_amount) filter (where days_overdue between 61 and 90) as overdue_61_90,
        sum(open_amount) filter (where days_overdue between 91 and 180) as overdue_91_180,
        sum(open_amount) filter (where days_overdue between 181 and 365) as overdue_181_365,
        sum(open_amount) filter (where days_overdue > 365) as overdue_over_365,
        max(days_overdue) filter (where days_overdue > 0) as max_days_overdue

    from open_per_day
    group by billing_account_id, customer_key, date_day

)

select
    billing_account_id,
    customer_key,
    date_day,
    date_key,
    open_invoices,
    open_amount,
    coalesce(not_due_amount, 0) as not_due_amount,
    coalesce(overdue_amount, 0) as overdue_amount,
    coalesce(overdue_1_30, 0) as overdue_1_30,
    coalesce(overdue_31_60, 0) as overdue_31_60,
    coalesce(overdue_61_90, 0) as overdue_61_90,
    coalesce(overdue_91_180, 0) as overdue_91_180,
    coalesce(overdue_181_365, 0) as overdue_181_365,
    coalesce(overdue_over_365, 0) as overdue_over_365,
    coalesce(max_days_overdue, 0) as max_days_overdue

from final
