-- The match table of identity resolution (DOMAIN §1): every source record that names a
-- customer, and the warehouse customer it resolves to. Grain: one row per source system,
-- entity and source id.
--   * sales customers are the customer master: each is its own customer (rule 'master');
--   * billing accounts and service tickets / surveys take their best candidate from
--     int_identity__candidates (strongest rule first); when candidates disagree the
--     confidence drops by var('identity_conflict_penalty');
--   * a billing account that matches nobody becomes a customer of its own
--     (rule 'billing_only'); an unmatched ticket or survey has no customer.
-- Unmatched records are listed with their reason in rpt_identity_unmatched.

with

records as (

    select * from {{ ref('int_identity__records') }}

),

candidates as (

    select * from {{ ref('int_identity__candidates') }}

),

ranked as (

    select
        source_system,
        source_entity,
        source_id,
        customer_id,
        match_rule,
        confidence,
        row_number() over (
            partition by source_system, source_entity, source_id
            order by rule_rank, customer_id
        ) as candidate_rank,
        min(customer_id) over (
            partition by source_system, source_entity, source_id
        ) <> max(customer_id) over (
            partition by source_system, source_entity, source_id
        ) as candidates_disagree

    from candidates

),

best as (

    select * from ranked where candidate_rank = 1

),

resolved as (

    select
        records.source_system,
        records.source_entity,
        records.source_id,
        case
            when records.source_system = 'sales'
                then {{ surrogate_key(["'sales'", 'records.source_id']) }}
            when best.customer_id is not null
                then {{ surrogate_key(["'sales'", 'best.customer_id']) }}
            when records.source_system = 'billing'
                then {{ surrogate_key(["'billing'", 'records.source_id']) }}
        end as customer_key,
        case
            when records.source_system = 'sales' then cast(records.source_id as bigint)
            else cast(best.customer_id as bigint)
        end as sales_customer_id,
        case
            when records.source_system = 'sales' then 'master'
            when best.customer_id is not null then best.match_rule
            when records.source_system = 'billing' then 'billing_only'
            else 'unmatched'
        end as match_rule,
        cast(case
            when records.source_system = 'sales' then 1.0
            when best.customer_id is null then null
            when best.candidates_disagree
                then greatest(0.5, best.confidence - {{ var('identity_conflict_penalty') }})
            else best.confidence
        end as numeric(4, 2)) as match_confidence,
        records.source_system = 'sales' or best.customer_id is not null as is_matched,
        coalesce(best.candidates_disagree, false) as candidates_disagree,
        records.email_normalised is not null as has_email,
        records.phone_normalised is not null as has_phone,
        records.tax_id_normalised is not null as has_tax_id,
        records.name_normalised is not null as has_name

    from records
    left join best
        on records.source_system = best.source_system
        and records.source_entity = best.source_entity
        and records.source_id = best.source_id

)

select * from resolved
