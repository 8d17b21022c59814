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
