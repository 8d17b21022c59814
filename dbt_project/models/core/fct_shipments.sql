-- Grain: one shipment / delivery note shipped on or before var('as_of_date'). contract_key is
-- the billing contract the shipment is made under, when it names one (DOMAIN §5 business
-- rules check shipments against contracts and credit lines).

with

shipments as (

    select * from {{ ref('stg_sales__shipments') }}
    where shipped_on <= {{ as_of_date() }}

),

contracts as (

    select contract_id, contract_key from {{ ref('dim_contract') }} where is_current

),

final as (

    select
        shipments.shipment_id,
        shipments.order_id,
        {{ surrogate_key(["'sales'", 'shipments.customer_id']) }} as customer_key,
        shipments.delivery_note_no,
        shipments.contract_ref,
        contracts.contract_key,
        shipments.shipped_at,
        shipments.shipped_on,
        {{ date_key('shipments.shipped_on') }} as shipped_date_key,
        shipments.quantity,
        shipments.ship_to_city

    from shipments
    left join contracts on shipments.contract_ref = contracts.contract_id

)

select * from final
