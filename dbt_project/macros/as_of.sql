{#-
    The run's as-of date, var('as_of_date'), validated as YYYY-MM-DD ('today' = the run's start date, UTC) and rendered as a SQL
    date literal. Facts and marts use it so nothing after the as-of date leaks in (DOMAIN §1,
    time-variant).
-#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date') | string | trim -%}
    {%- if value == 'today' -%}
        {%- set value = run_started_at.strftime('%Y-%m-%d') -%}
    {%- endif -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error(
            "var('as_of_date') must be a date YYYY-MM-DD, got '" ~ value ~ "'") }}
    {%- endif -%}
    cast('{{ value }}' as date)
{%- endmacro %}

{#- A timestamptz as a business date in var('reporting_timezone') (project default UTC). -#}
{% macro to_business_date(column) -%}
    cast(({{ column }} at time zone '{{ var("reporting_timezone") }}') as date)
{%- endmacro %}

{#- yyyymmdd integer key of a date, matching dim_date.date_key. -#}
{% macro date_key(column) -%}
    cast(to_char({{ column }}, 'YYYYMMDD') as integer)
{%- endmacro %}

{#- The first instant after the as-of business date, in var('reporting_timezone'). -#}
{% macro as_of_end() -%}
    (cast({{ as_of_date() }} + 1 as timestamp) at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}
