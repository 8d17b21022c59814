-- Billing account -> warehouse customer, from identity resolution (DOMAIN §1).
select
    source_id as account_id,
    customer_key,
    match_rule,
    match_confidence

from {{ ref('bridge_customer_identity') }}
where source_system = 'billing'
