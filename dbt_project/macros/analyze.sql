{#- ANALYZE a table the moment it is built, before the next model reads it. Autovacuum analyzes
    a changed table only after a while: a model built earlier in the same dbt build, or the
    as-of date's rows just added to an incremental table, would otherwise be planned from no
    statistics or from stale ones (the new date's rows estimated at 1), and a nested loop over
    100,000 customers does not end (benchmarks/nightly.md). Views and ephemerals have none. -#}
{% macro analyze_built_table() -%}
    {%- if model.config.materialized in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
