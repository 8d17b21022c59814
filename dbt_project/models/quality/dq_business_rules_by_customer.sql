-- DOMAIN §5 business-rule results per customer and run: every contract customer with a
-- shipment in the window ending on the as-of date, with the count of its shipments breaking
-- each rule. Grain: (as_of_date, customer_key); delete+insert per as-of date (history kept).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='as_of_date',
    on_schema_change='fail'
) }}

{%- set rules = ['shipment_without_credit_line', 'shipment_over_credit_limit',
                 'shipment_while_overdue', 'shipment_without_contract',
                 'shipment_quantity_mismatch', 'four_flows_disagree'] %}

with

checked as (

    select customer_key, count(*) as shipments_checked
    from {{ ref('int_quality__shipment_checks') }}
    where is_contract_customer
    group by customer_key

),

violations as (

    select * from {{ ref('dq_business_rule_violations') }}
    where as_of_date = {{ as_of_date() }}

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        checked.customer_key,
        checked.shipments_checked,
        {%- for rule in rules %}
        count(*) filter (where violations.rule_name = '{{ rule }}') as {{ rule }},
        {%- endfor %}
        count(violations.rule_name) as violations_total

    from checked
    left join violations on violations.customer_key = checked.customer_key
    group by checked.customer_key, checked.shipments_checked

)

select * from final
