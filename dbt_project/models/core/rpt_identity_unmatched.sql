-- What identity resolution could not match (DOMAIN §1: "reports what it could not match").
-- Grain: one row per unmatched billing account, service ticket or survey, with the reason.

with

bridge as (

    select * from {{ ref('bridge_customer_identity') }}

),

unmatched as (

    select
        source_system,
        source_entity,
        source_id,
        match_rule,
        has_email,
        has_phone,
        has_tax_id,
        has_name,
        case
            when not (has_email or has_phone or has_tax_id)
                then 'no identifier to match on'
            else 'no sales customer shares its e-mail, tax id, or phone and name'
        end as reason

    from bridge
    where not is_matched

)

select * from unmatched
