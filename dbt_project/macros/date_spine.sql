{#-
    One row per calendar day from start_date to end_date inclusive, column `date_day` (date).
    start_date and end_date are SQL date expressions (a cast literal or a
    scalar subquery), so a model can compute its bounds from the data. Dispatched so another
    adapter can supply its own implementation.
-#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'crm_warehouse')(start_date, end_date)) }}
{%- endmacro %}

{#- at most 100,000 days (273 years) -#}
{% macro default__date_spine(start_date, end_date) -%}
    with digits as (
        select n from (values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) as d (n)
    ),

    numbers as (
        select d1.n + 10 * d2.n + 100 * d3.n + 1000 * d4.n + 10000 * d5.n as n
        from digits as d1
        cross join digits as d2
        cross join digits as d3
        cross join digits as d4
        cross join digits as d5
    )

    select cast(cast({{ start_date }} as date) + n as date) as date_day
    from numbers
    where cast({{ start_date }} as date) + n <= cast({{ end_date }} as date)
{%- endmacro %}

{% macro postgres__date_spine(start_date, end_date) -%}
    select cast(day_ts as date) as date_day
    from generate_series(
        cast({{ start_date }} as timestamp),
        cast({{ end_date }} as timestamp),
        interval '1 day'
    ) as spine (day_ts)
{%- endmacro %}
