{#-
    Use a model's custom schema verbatim: a model configured with `+schema: core` lands in
    exactly `core`, not dbt's default `<target_schema>_core`. Models without a custom schema
    land in the target schema (`staging` in profiles.yml).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
