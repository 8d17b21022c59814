-- Every record that names a customer, from all three systems, with its identifiers
-- normalised the same way (DOMAIN §1 identity resolution). Grain: one row per source record.

with

sales_customers as (

    select
        'sales' as source_system,
        'customer' as source_entity,
        cast(customer_id as text) as source_id,
        {{ normalise_name('customer_name') }} as name_normalised,
        email_normalised,
        phone_normalised,
        tax_id_normalised,
        cast(null as bigint) as ticket_id

    from {{ ref('stg_sales__customers') }}

),

billing_accounts as (

    select
        'billing' as source_system,
        'account' as source_entity,
        account_id as source_id,
        {{ normalise_name('account_name') }} as name_normalised,
        email_normalised,
        phone_normalised,
        tax_id_normalised,
        cast(null as bigint) as ticket_id

    from {{ ref('stg_billing__accounts') }}

),

service_tickets as (

    select
        'service' as source_system,
        'ticket' as source_entity,
        cast(ticket_id as text) as source_id,
        {{ normalise_name('requester_name') }} as name_normalised,
        requester_email_normalised as email_normalised,
        requester_phone_normalised as phone_normalised,
        cast(null as text) as tax_id_normalised,
        cast(null as bigint) as ticket_id

    from {{ ref('stg_service__tickets') }}

),

service_surveys as (

    select
        'service' as source_system,
        'survey' as source_entity,
        cast(survey_id as text) as source_id,
        cast(null as text) as name_normalised,
        respondent_email_normalised as email_normalised,
        respondent_phone_normalised as phone_normalised,
        cast(null as text) as tax_id_normalised,
        ticket_id

    from {{ ref('stg_service__surveys') }}

)

select * from sales_customers
union all
select * from billing_accounts
union all
select * from service_tickets
union all
select * from service_surveys
