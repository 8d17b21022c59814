{#-
    Use a model's custom schema verbatim: a model configured with `+schema: core` lands in
    exactly `core`, not dbt's default `<target_schema>_core`. Models without a custom schema
    land in the target schema (`staging` in profiles.yml).

    Write-audit-publish (docs/data_quality.md): the custom schema `marts` becomes
    var('marts_schema') (default `marts`). The nightly run sets it to `marts__candidate`, builds
    and tests every mart there, and crmwh.publish swaps the schema into `marts` in one
    transaction only when every blocking test passed.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name | trim == 'marts' -%}
        {{ var('marts_schema', 'marts') | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
