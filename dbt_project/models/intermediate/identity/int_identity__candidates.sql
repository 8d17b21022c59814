-- Candidate matches of billing and service records to a sales customer (the customer
-- master), one row per record, rule and candidate. Rules, strongest first (DOMAIN §1:
-- "identity resolution on normalised email, phone, tax id, name"):
--   1 tax_id      same normalised tax id                          confidence 0.99
--   2 email       same normalised e-mail                          confidence 0.98
--   3 phone_name  same phone and same normalised name             confidence 0.95
--   4 ticket      a survey sent for a ticket: the ticket's match  confidence of that match
--   5 phone       same phone, for records that carry no name      confidence 0.80
-- A key shared by more than one sales customer (a family phone, a reused e-mail) is
-- ambiguous and matches nobody.

with

records as (

    select * from {{ ref('int_identity__records') }}

),

customers as (

    select * from records where source_system = 'sales'

),

others as (

    select * from records where source_system <> 'sales'

),

{% for key in ['tax_id', 'email', 'phone'] %}
unique_{{ key }} as (

    select
        {{ key }}_normalised as key_value,
        min(source_id) as customer_id,
        min(name_normalised) as name_normalised

    from customers
    where {{ key }}_normalised is not null
    group by {{ key }}_normalised
    having count(*) = 1

),
{% endfor %}

direct as (

    select others.source_system, others.source_entity, others.source_id,
        unique_tax_id.customer_id, 'tax_id' as match_rule, 1 as rule_rank, 0.99 as confidence
    from others
    inner join unique_tax_id on others.tax_id_normalised = unique_tax_id.key_value

    union all

    select others.source_system, others.source_entity, others.source_id,
        unique_email.customer_id, 'email', 2, 0.98
    from others
    inner join unique_email on others.email_normalised = unique_email.key_value

    union all

    select others.source_system, others.source_entity, others.source_id,
        unique_phone.customer_id,
        case when others.name_normalised is null then 'phone' else 'phone_name' end,
        case when others.name_normalised is null then 5 else 3 end,
        case when others.name_normalised is null then 0.80 else 0.95 end
    from others
    inner join unique_phone on others.phone_normalised = unique_phone.key_value
    where
        others.name_normalised is null
        or others.name_normalised = unique_phone.name_normalised

),

best_ticket_match as (

    select distinct on (source_id)
        source_id as ticket_id,
        customer_id,
        confidence

    from direct
    where source_entity = 'ticket'
    order by source_id, rule_rank

),

via_ticket as (

    select others.source_system, others.source_entity, others.source_id,
        best_ticket_match.customer_id, 'ticket' as match_rule, 4 as rule_rank,
        best_ticket_match.confidence
    from others
    inner join best_ticket_match
        on cast(others.ticket_id as text) = best_ticket_match.ticket_id
    where others.source_entity = 'survey'

)

select * from direct
union all
select * from via_ticket
