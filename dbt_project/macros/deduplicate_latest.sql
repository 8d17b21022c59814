{#-
    Raw tables are append-only (DOMAIN §1): a source row reappears in later batches whenever
    it is updated or re-extracted. Keep the latest version per key: newest updated_at, then
    the newest extraction, then the latest batch id. Nulls sort last so a row with a missing
    timestamp never wins over one that has it.
-#}
{% macro deduplicate_latest(relation, key, updated_column='updated_at') -%}
    select *
    from (
        select
            versions.*,
            row_number() over (
                partition by {{ key }}
                order by
                    {{ updated_column }} desc nulls last,
                    _extracted_at desc nulls last,
                    _batch_id desc nulls last
            ) as _version_rank
        from {{ relation }} as versions
    ) as ranked
    where _version_rank = 1
{%- endmacro %}
