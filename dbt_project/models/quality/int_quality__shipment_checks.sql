{{ config(materialized="ephemeral") }}

-- One row per shipment shipped in the business-rule window ending on var('as_of_date')
-- (var business_rule_window_days), with what the DOMAIN §5 rules need to judge it:
--   * the contract in force on the ship date: shipments name the first term (CT-<id>-1) even
--     after renewals, so the renewal chain (renewal_of) is followed to the term covering
--     the ship date (start_date <= shipped_on <= end_date, not cancelled before shipping);
--   * credit: limits of the customer's credit lines valid on the ship date, and its open and
--     overdue receivables at the end of the day before (the exposure the shipment adds to);
--   * the four flows: contract party, shipped-to party, invoiced party (the billing system
--     numbers an order's invoice INV-<order_id:08d>) and paying party.
-- Grain: shipment_id.

{%- set window = var('business_rule_window_days') %}

with

shipments as (

    select * from {{ ref('fct_shipments') }}
    where shipped_on > {{ as_of_date() }} - {{ window }}
      and shipped_on <= {{ as_of_date() }}

),

contracts as (

    select * from {{ ref('dim_contract') }}
    where is_current

),

-- every term of the chain starting at each first-term contract
chain as (

    with recursive terms as (
        select contract_id as root_contract_id, contracts.*
        from contracts
        where renewal_of_contract_id is null
        union all
        select terms.root_contract_id, next_term.*
        from terms
        inner join contracts as next_term
            on next_term.renewal_of_contract_id = terms.contract_id
    )
    select * from terms

),

in_force as (

    select distinct on (shipments.shipment_id)
        shipments.shipment_id,
        chain.contract_id,
        chain.customer_key as contract_customer_key

    from shipments
    inner join chain
        on chain.root_contract_id = shipments.contract_ref
        and shipments.shipped_on between chain.start_date and chain.end_date
        and (chain.cancelled_at is null or chain.cancelled_at > shipments.shipped_at)
    order by shipments.shipment_id, chain.start_date desc

),

-- customers who buy under contracts (any recurring contract, any status): the scope of the
-- rules (ad-hoc buyers without contracts are not expected to have one; project default)
contract_customers as (

    select distinct customer_key from contracts where is_recurring

),

accounts as (

    select account_id, customer_key from {{ ref('int_billing__account_customers') }}
    where customer_key is not null

),

credit as (

    select
        shipments.shipment_id,
        count(lines.credit_line_id) as credit_lines,
        sum(lines.credit_limit) as credit_limit

    from shipments
    inner join accounts on accounts.customer_key = shipments.customer_key
    inner join {{ ref('fct_credit_lines') }} as lines
        on lines.billing_account_id = accounts.account_id
        and shipments.shipped_on between lines.valid_from and lines.valid_to
    group by shipments.shipment_id

),

exposure as (

    select
        shipments.shipment_id,
        sum(receivables.open_amount) as open_amount,
        sum(receivables.overdue_amount) as overdue_amount,
        max(receivables.max_days_overdue) as max_days_overdue

    from shipments
    inner join {{ ref('fct_receivables_daily') }} as receivables
        on receivables.customer_key = shipments.customer_key
        and receivables.date_day = shipments.shipped_on - 1
    group by shipments.shipment_id

),

order_quantities as (

    select order_id, quantity from {{ ref('fct_orders') }}

),

invoices as (

    select invoice_id, customer_key from {{ ref('fct_invoices') }}

),

payers as (

    select invoice_id, min(customer_key) as payer_customer_key, count(distinct customer_key) as payers
    from {{ ref('fct_payments') }}
    group by invoice_id

),

final as (

    select
        shipments.shipment_id,
        shipments.order_id,
        shipments.customer_key,
        shipments.shipped_on,
        shipments.contract_ref,
        shipments.quantity as shipped_quantity,
        order_quantities.quantity as ordered_quantity,
        contract_customers.customer_key is not null as is_contract_customer,
        in_force.contract_id,
        in_force.contract_customer_key,
        coalesce(credit.credit_lines, 0) as credit_lines,
        credit.credit_limit,
        coalesce(exposure.open_amount, 0) as open_amount,
        coalesce(exposure.overdue_amount, 0) as overdue_amount,
        coalesce(exposure.max_days_overdue, 0) as max_days_overdue,
        invoices.customer_key as invoice_customer_key,
        payers.payer_customer_key,
        coalesce(payers.payers, 0) as payers

    from shipments
    left join in_force on in_force.shipment_id = shipments.shipment_id
    left join contract_customers on contract_customers.customer_key = shipments.customer_key
    left join credit on credit.shipment_id = shipments.shipment_id
    left join exposure on exposure.shipment_id = shipments.shipment_id
    left join order_quantities on order_quantities.order_id = shipments.order_id
    left join invoices
        on invoices.invoice_id = 'INV-' || lpad(shipments.order_id::text, 8, '0')
    left join payers on payers.invoice_id = invoices.invoice_id

)

select * from final
