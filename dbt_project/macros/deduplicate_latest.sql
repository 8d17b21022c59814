{#-
    Raw tables are append-only (DOMAIN §1): a source row reappears in later batches whenever
    it is updated or re-extracted. Keep the latest version per key known at the end of the
    run's as-of date: newest updated_at, then the newest extraction, then the latest batch id.
    Versions updated after the as-of date are left out, so building for a past date gives the
    state as of that date (DOMAIN §1, time-variant).
-#}
{#- distinct on, not row_number() = 1: the planner then estimates one row per key, instead of
    a tiny guess that turns every join downstream into a nested loop. -#}
{% macro deduplicate_latest(relation, key, updated_column='updated_at') -%}
    select distinct on ({{ key }}) *
    from {{ relation }} as versions
    where {{ updated_column }} < {{ as_of_end() }}
    order by
        {{ key }},
        {{ updated_column }} desc,
        _extracted_at desc nulls last,
        _batch_id desc nulls last
{%- endmacro %}
