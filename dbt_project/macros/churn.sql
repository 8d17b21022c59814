{#- Churn building blocks (rules in DOMAIN §4). -#}

{#- DOMAIN §4 contract customers: the recurring contracts (subscription or framework, the
    current version) of a known customer that started on or before var('as_of_date').
    fct_churn_events and int_churn__customer_months share this definition. -#}
{% macro recurring_contracts_filter() -%}
        is_current
        and is_recurring
        and customer_key is not null
        and start_date <= {{ as_of_date() }}
{%- endmacro %}

{#- int_churn__customer_months's inputs, as CTEs (the model and its pre-hook's fingerprints
    read the same): customers (live, current), first_orders, first_contracts, acquired (first
    activity, channel, contract customer or not) and months (the first acquisition month .. the
    as-of month). -#}
{% macro churn_customer_months_inputs() -%}
customers as (

    select customer_key, acquisition_channel
    from {{ ref('dim_customer') }}
    where is_current and not is_deleted

),

first_orders as (

    select customer_key, min(order_date) as first_order_date
    from {{ ref('fct_orders') }}
    where
        {{ valued_orders_filter() }}
    group by customer_key

),

first_contracts as (

    select customer_key, min(start_date) as first_contract_date
    from {{ ref('dim_contract') }}
    where
        {{ recurring_contracts_filter() }}
    group by customer_key

),

acquired as (

    select
        customers.customer_key,
        customers.acquisition_channel,
        least(first_orders.first_order_date, first_contracts.first_contract_date)
            as acquisition_date,
        first_contracts.customer_key is not null as is_contract_customer

    from customers
    left join first_orders on customers.customer_key = first_orders.customer_key
    left join first_contracts on customers.customer_key = first_contracts.customer_key
    where coalesce(first_orders.first_order_date, first_contracts.first_contract_date) is not null

),

months as (

    select
        cast(month_ts as date) as month_start,
        cast(month_ts + interval '1 month' - interval '1 day' as date) as month_end

    from generate_series(
        (select date_trunc('month', min(acquisition_date)) from acquired),
        date_trunc('month', {{ as_of_date() }}),
        interval '1 month'
    ) as spine (month_ts)

)
{%- endmacro %}

{#- int_churn__customer_months's part fingerprints (its pre-hook, macro rebuild_plan).
    Months: the period end and the recipe. Customers: the acquisition (date, channel, contract
    customer), and what the customer's kept months were built from: its churn episodes dated
    before a month (the return date only when before it too) and its value helper rows
    (int_customer_value__monthly: tier, RFM segment, net profit) of the months before it. That
    month is this as-of month for the fingerprint stored, the last build's as-of month for the
    one compared (this run rebuilds every month from that one on, so nothing later is kept). -#}
{% macro churn_customer_months_fingerprints() -%}
{%- set inputs = inputs_relation(this) -%}
with

{{ churn_customer_months_inputs() }},

covered as (

    select
        (select max(cast(key as date)) from {{ inputs }} where part = 'month') as compared_before,
        cast(date_trunc('month', {{ as_of_date() }}) as date) as stored_before

),

episodes as (

    select events.customer_key, events.churn_date, events.returned_on, events.churn_type
    from {{ ref('fct_churn_events') }} as events

),

customer_rows as (

    select
        customer_key,
        {{ row_hash(['acquisition_date', 'acquisition_channel', 'is_contract_customer']) }}
            as compared_hash,
        {{ row_hash(['acquisition_date', 'acquisition_channel', 'is_contract_customer']) }}
            as stored_hash
    from acquired

    union all

    select
        episodes.customer_key,
        case when episodes.churn_date < covered.compared_before then {{ row_hash([
            'episodes.churn_date', 'episodes.churn_type',
            'case when episodes.returned_on < covered.compared_before then episodes.returned_on end',
        ]) }} end,
        case when episodes.churn_date < covered.stored_before then {{ row_hash([
            'episodes.churn_date', 'episodes.churn_type',
            'case when episodes.returned_on < covered.stored_before then episodes.returned_on end',
        ]) }} end
    from episodes
    cross join covered

    union all

    select
        value_rows.customer_key,
        case when value_rows.month_end < covered.compared_before then value_rows.row_hash end,
        case when value_rows.month_end < covered.stored_before then value_rows.row_hash end
    from (
        select
            customer_key,
            month_end,
            {{ row_hash(['month_end', 'value_tier', 'rfm_segment', 'net_profit']) }} as row_hash
        from {{ ref('int_customer_value__monthly') }}
    ) as value_rows
    cross join covered
    where
        value_rows.month_end
        < greatest(covered.stored_before, coalesce(covered.compared_before, covered.stored_before))

)

select
    'month' as part,
    to_char(month_start, 'YYYY-MM-DD') as key,
    concat_ws(':', least(month_end, {{ as_of_date() }}), {{ recipe([]) }}) as fingerprint,
    concat_ws(':', least(month_end, {{ as_of_date() }}), {{ recipe([]) }}) as compared
from months

union all

select
    'customer',
    customer_key,
    {{ fingerprint_of('stored_hash') }},
    {{ fingerprint_of('compared_hash') }}
from customer_rows
where customer_key in (select acquired.customer_key from acquired)
group by customer_key
{%- endmacro %}

{#- int_churn__customer_months rebuilds every month from this as-of month, or from the last
    build's as-of month if earlier (its customer fingerprints cover the months before that). -#}
{% macro churn_customer_months_rebuild_from() -%}
    least(
        cast(date_trunc('month', {{ as_of_date() }}) as date),
        (select max(cast(key as date)) from {{ inputs_relation(this) }} where part = 'month')
    )
{%- endmacro %}
