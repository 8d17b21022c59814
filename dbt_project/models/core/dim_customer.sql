-- Customer dimension, SCD type 2 (DOMAIN §1: one customer across sales, billing and
-- service; history kept). Grain: one row per version of a customer known at the end of
-- var('as_of_date').
--   * customer_key is the durable key facts carry; customer_version_key identifies a
--     version; valid_from / valid_to bound it (valid_to null = current as of the as-of date).
--   * Versions come from the snapshot of sales customers (snap_sales__customers); the first
--     version is valid from the customer's creation.
--   * Billing attributes come from identity resolution (bridge_customer_identity): the
--     matched billing account. A billing account that matched no sales customer is a
--     customer of its own (customer_origin = 'billing', one version).

with

snapshot as (

    select * from {{ ref('snap_sales__customers') }}
    where dbt_valid_from < {{ as_of_end() }}

),

bridge as (

    select * from {{ ref('bridge_customer_identity') }}

),

billing_accounts as (

    select * from {{ ref('stg_billing__accounts') }}

),

billing_of_customer as (

    select
        customer_key,
        min(source_id) as billing_account_id,
        count(*) as billing_account_count

    from bridge
    where source_system = 'billing'
    group by customer_key

),

sales_versions as (

    select
        dbt_scd_id as customer_version_key,
        {{ surrogate_key(["'sales'", 'customer_id']) }} as customer_key,
        customer_id as sales_customer_id,
        'sales' as customer_origin,
        customer_name,
        customer_type,
        email_normalised,
        phone_normalised,
        tax_id_normalised,
        city,
        acquisition_channel,
        case
            when referrer_customer_id is not null
                then {{ surrogate_key(["'sales'", 'referrer_customer_id']) }}
        end as referrer_customer_key,
        sales_rep_id,
        created_at,
        is_deleted,
        case
            when row_number() over (partition by customer_id order by dbt_valid_from) = 1
                then least(created_at, dbt_valid_from)
            else dbt_valid_from
        end as valid_from,
        case when dbt_valid_to < {{ as_of_end() }} then dbt_valid_to end as valid_to

    from snapshot

),

billing_only as (

    select
        {{ surrogate_key(["'billing'", 'billing_accounts.account_id', 'billing_accounts.created_at']) }}
            as customer_version_key,
        bridge.customer_key,
        cast(null as bigint) as sales_customer_id,
        'billing' as customer_origin,
        billing_accounts.account_name as customer_name,
        case
            when billing_accounts.tax_id_normalised is not null then 'organisation'
            else 'individual'
        end as customer_type,
        billing_accounts.email_normalised,
        billing_accounts.phone_normalised,
        billing_accounts.tax_id_normalised,
        cast(null as text) as city,
        cast(null as text) as acquisition_channel,
        cast(null as text) as referrer_customer_key,
        cast(null as bigint) as sales_rep_id,
        billing_accounts.created_at,
        false as is_deleted,
        billing_accounts.created_at as valid_from,
        cast(null as timestamptz) as valid_to

    from billing_accounts
    inner join bridge
        on bridge.source_system = 'billing'
        and bridge.source_id = billing_accounts.account_id
        and bridge.match_rule = 'billing_only'

),

versions as (

    select * from sales_versions
    union all
    select * from billing_only

),

final as (

    select
        cast(versions.customer_version_key as text) as customer_version_key,
        cast(versions.customer_key as text) as customer_key,
        cast(versions.sales_customer_id as bigint) as sales_customer_id,
        cast(billing_of_customer.billing_account_id as text) as billing_account_id,
        cast(coalesce(billing_of_customer.billing_account_count, 0) as integer)
            as billing_account_count,
        cast(versions.customer_origin as text) as customer_origin,
        cast(versions.customer_name as text) as customer_name,
        cast(versions.customer_type as text) as customer_type,
        cast(versions.email_normalised as text) as email_normalised,
        cast(versions.phone_normalised as text) as phone_normalised,
        cast(versions.tax_id_normalised as text) as tax_id_normalised,
        cast(versions.city as text) as city,
        cast(versions.acquisition_channel as text) as acquisition_channel,
        cast(versions.referrer_customer_key as text) as referrer_customer_key,
        cast(versions.sales_rep_id as bigint) as sales_rep_id,
        cast(versions.created_at as timestamptz) as created_at,
        cast(versions.is_deleted as boolean) as is_deleted,
        cast(versions.valid_from as timestamptz) as valid_from,
        cast(versions.valid_to as timestamptz) as valid_to,
        versions.valid_to is null as is_current

    from versions
    left join billing_of_customer
        on versions.customer_key = billing_of_customer.customer_key

)

select * from final
