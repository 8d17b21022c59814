-- Contract dimension, SCD type 2 from snap_billing__contracts. Grain: one row per version of
-- a billing contract known at the end of var('as_of_date'); is_current marks the version in
-- force on the as-of date.
-- approval_level follows DOMAIN §5: up to 3 million the general manager, above that the
-- GM office meeting, above 20 million the group (boundaries are dbt vars, project defaults).

with

snapshot as (

    select * from {{ ref('snap_billing__contracts') }}
    where dbt_valid_from < {{ as_of_end() }}

),

bridge as (

    select * from {{ ref('bridge_customer_identity') }}
    where source_system = 'billing'

),

final as (

    select
        cast(snapshot.dbt_scd_id as text) as contract_version_key,
        cast({{ surrogate_key(["'billing'", 'snapshot.contract_id']) }} as text) as contract_key,
        cast(snapshot.contract_id as text) as contract_id,
        cast(bridge.customer_key as text) as customer_key,
        cast(snapshot.account_id as text) as billing_account_id,
        cast(snapshot.contract_type as text) as contract_type,
        cast(snapshot.is_recurring as boolean) as is_recurring,
        cast(snapshot.start_date as date) as start_date,
        cast(snapshot.end_date as date) as end_date,
        cast(snapshot.auto_renew as boolean) as auto_renew,
        cast(snapshot.status as text) as status,
        cast(snapshot.amount as numeric(18, 4)) as amount,
        cast(snapshot.contracted_quantity as bigint) as contracted_quantity,
        cast(snapshot.renewal_of as text) as renewal_of_contract_id,
        cast(snapshot.cancelled_at as timestamptz) as cancelled_at,
        cast(case
            when snapshot.amount > {{ var('contract_approval_group_above') }} then 'group'
            when snapshot.amount > {{ var('contract_approval_gm_above') }}
                then 'gm_office_meeting'
            else 'general_manager'
        end as text) as approval_level,
        cast(snapshot.dbt_valid_from as timestamptz) as valid_from,
        cast(case
            when snapshot.dbt_valid_to < {{ as_of_end() }} then snapshot.dbt_valid_to
        end as timestamptz) as valid_to,
        coalesce(snapshot.dbt_valid_to >= {{ as_of_end() }}, true) as is_current

    from snapshot
    left join bridge
        on snapshot.account_id = bridge.source_id

)

select * from final
