-- DOMAIN §5 business-rule checks on every load ("无授信发货、超授信发货、逾期发货、无合同发货、
-- 发货量与合同不符" and 四流合一), one row per violation found on the as-of date's run.
-- Grain: (as_of_date, rule_name, shipment_id). History is kept: each run replaces only its
-- own as-of date (delete+insert), so findings can be compared night over night.
-- Rules apply to contract customers' shipments in the window (see int_quality__shipment_checks).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='as_of_date',
    on_schema_change='fail'
) }}

with

checks as (

    select * from {{ ref('int_quality__shipment_checks') }}
    where is_contract_customer

),

violations as (

    select 'shipment_without_credit_line' as rule_name, checks.*,
        'no credit line valid on ' || shipped_on as observed,
        'a credit line valid on the ship date' as expected
    from checks where credit_lines = 0

    union all

    select 'shipment_over_credit_limit', checks.*,
        'open receivables ' || open_amount || ' > limit ' || credit_limit,
        'open receivables the day before shipping <= credit limit'
    from checks where credit_lines > 0 and open_amount > credit_limit

    union all

    select 'shipment_while_overdue', checks.*,
        'overdue ' || overdue_amount || ' (' || max_days_overdue || ' days)',
        'no overdue receivables the day before shipping'
    from checks where overdue_amount > 0

    union all

    select 'shipment_without_contract', checks.*,
        case when contract_ref is null then 'no contract reference'
             else contract_ref || ' has no term in force on ' || shipped_on end,
        'a contract in force on the ship date (renewals followed)'
    from checks where contract_id is null

    union all

    select 'shipment_quantity_mismatch', checks.*,
        'shipped ' || shipped_quantity || ', ordered ' || coalesce(ordered_quantity::text, 'unknown'),
        'shipped quantity = the quantity ordered under the contract'
    from checks where ordered_quantity is null or shipped_quantity <> ordered_quantity

    union all

    select 'four_flows_disagree', checks.*,
        'contract ' || coalesce(contract_customer_key, '-') || ', shipped ' || customer_key
            || ', invoiced ' || coalesce(invoice_customer_key, '-')
            || ', paid ' || coalesce(payer_customer_key, '-'),
        'contract, invoice, shipment and payment name the same customer'
    from checks
    where (contract_customer_key is not null and contract_customer_key <> customer_key)
       or (invoice_customer_key is not null and invoice_customer_key <> customer_key)
       or (payer_customer_key is not null and payer_customer_key <> customer_key)
       or payers > 1

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        rule_name,
        'warning' as severity,
        shipment_id,
        order_id,
        customer_key,
        shipped_on,
        contract_id,
        observed,
        expected

    from violations

)

select * from final
