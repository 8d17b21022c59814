{#- Normalisation used for identity resolution (DOMAIN §1): the originals stay next to these. -#}

{#- Trimmed, lower-cased e-mail; empty -> null. -#}
{% macro normalise_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{#- Phone reduced to its digits; no digits -> null. -#}
{% macro normalise_phone(column) -%}
    nullif(regexp_replace({{ column }}, '[^0-9]', '', 'g'), '')
{%- endmacro %}

{#- Tax id: letters and digits only, upper case; empty -> null. -#}
{% macro normalise_tax_id(column) -%}
    nullif(upper(regexp_replace({{ column }}, '[^0-9A-Za-z]', '', 'g')), '')
{%- endmacro %}

{#- Free text: trimmed; empty -> null. -#}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- Category / code value: trimmed and lower-cased so accepted_values tests are exact. -#}
{% macro clean_code(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}
