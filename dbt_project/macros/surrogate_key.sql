{#-
    Surrogate key: md5 over the given expressions, each cast to text, nulls replaced by a
    sentinel, joined with '-' (the dbt_utils.generate_surrogate_key convention).
    surrogate_key(["'sales'", 'customer_id']) = md5('sales' || '-' || customer_id::text).
    Prefixing the source system keeps keys from different systems apart once identity
    resolution (DOMAIN §1) merges customers from sales, billing and service.
-#}
{% macro surrogate_key(field_list) -%}
    {%- if field_list is string -%}
        {%- set field_list = [field_list] -%}
    {%- endif -%}
    md5(
        {%- for field in field_list %}
        coalesce(cast({{ field }} as text), '_null_')
        {%- if not loop.last %} || '-' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
