{#- Normalisation used for identity resolution (DOMAIN §1): the originals stay next to these. -#}

{#- Trimmed, lower-cased e-mail; empty -> null. -#}
{% macro normalise_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{#- Phone reduced to its national digits: separators dropped, a leading 0086 / +86 country
    code stripped from 11-digit mobile numbers; no digits -> null. -#}
{% macro normalise_phone(column) -%}
    nullif(regexp_replace(
        regexp_replace({{ column }}, '[^0-9]', '', 'g'), '^(00)?86(1[0-9]{10})$', '\2'
    ), '')
{%- endmacro %}

{#- Name for matching: lower case, letters and digits only. -#}
{% macro normalise_name(column) -%}
    nullif(regexp_replace(lower({{ column }}), '[^a-z0-9]', '', 'g'), '')
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
