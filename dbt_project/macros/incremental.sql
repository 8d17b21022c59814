{#-
    Incremental facts recompute a trailing window of var('incremental_lookback_days') days
    ending on the as-of date; a full refresh (or the first run) recomputes everything.
    incremental_window_start(): the first day to (re)compute, as a SQL date.
    incremental_window_delete(column): a pre-hook deleting that window, and anything after
    the as-of date (a rebuild for an earlier date must not keep later rows), from the table.
-#}
{% macro incremental_window_start() -%}
    {%- if is_incremental() -%}
        ({{ as_of_date() }} - {{ var('incremental_lookback_days') }})
    {%- else -%}
        cast('1900-01-01' as date)
    {%- endif -%}
{%- endmacro %}

{% macro incremental_window_delete(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ column }} >= {{ incremental_window_start() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- fct_order_lines pre-hook: drop lines placed or changed after the as-of date. -#}
{% macro order_lines_trim_future() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where order_date > {{ as_of_date() }} or source_updated_at >= {{ as_of_end() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
