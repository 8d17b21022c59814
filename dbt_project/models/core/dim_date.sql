-- Calendar dimension, one row per day over whole calendar years that span the data: from the
-- year of the earliest business date landed in raw that a fact keys to dim_date (or of the
-- as-of date, when earlier) to the year of the latest such date (due dates, expected close
-- dates and contract end dates included) or of the end of the model horizons after the as-of
-- date (CLV, churn), whichever is later. Raw holds every version of every row, so a rebuild for
-- an earlier as-of date keeps the calendar; with no data it is the years around the as-of date.
-- No fixed years: the calendar follows the data, whatever its age.

{#- Per source table, its business dates: *_at timestamps become dates in the reporting time
    zone (of the min / max: the same day), the rest are dates. Infinite (open-ended) dates are
    left out. -#}
{%- set business_dates = [
    ('sales', 'customers', ['created_at']),
    ('sales', 'orders', ['ordered_at']),
    ('sales', 'shipments', ['shipped_at']),
    ('sales', 'opportunities', ['created_at', 'expected_close_date']),
    ('billing', 'accounts', ['created_at']),
    ('billing', 'invoices', ['invoice_date', 'due_date']),
    ('billing', 'payments', ['paid_at']),
    ('billing', 'credit_notes', ['issued_on']),
    ('billing', 'contracts', ['start_date', 'end_date', 'cancelled_at']),
    ('service', 'tickets', ['created_at']),
    ('service', 'surveys', ['answered_at']),
] -%}
{#- Days after the as-of date the churn rules look ahead. -#}
{%- set churn_horizon_days = [
    var('churn_inactivity_cap_days'),
    var('churn_single_purchase_threshold_days'),
    var('churn_contract_grace_days'),
] | max %}

with

landed as (

    {% for source_name, table, columns in business_dates -%}
    select
        {%- for bound, aggregate, pick in [('first_day', 'min', 'least'),
                                           ('last_day', 'max', 'greatest')] %}
        {{ pick }}(
            {%- for column in columns -%}
            {%- set value -%}
                {{ aggregate }}({{ column }}) filter (where isfinite({{ column }}))
            {%- endset %}
            {{ to_business_date(value) if column.endswith('_at') else value }}
            {{- ',' if not loop.last }}
            {%- endfor %}
        ) as {{ bound }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ source(source_name, table) }}
    {{ 'union all' if not loop.last }}
    {% endfor %}

),

bounds as (

    -- least / greatest skip nulls: no data leaves the as-of date and its horizons
    select
        cast(
            date_trunc('year', cast(least({{ as_of_date() }}, min(first_day)) as timestamp))
            as date
        ) as first_day,
        cast(
            date_trunc('year', greatest(
                {{ as_of_date() }} + interval '{{ var("clv_horizon_years") }} years',
                {{ as_of_date() }} + {{ churn_horizon_days }},
                cast(max(last_day) as timestamp)
            )) + interval '1 year - 1 day'
            as date
        ) as last_day

    from landed

),

spine as (

    {{ date_spine('(select first_day from bounds)', '(select last_day from bounds)') }}

),

final as (

    select
        {{ date_key('date_day') }} as date_key,
        date_day,
        cast(extract(year from date_day) as integer) as year,
        cast(extract(quarter from date_day) as integer) as quarter,
        cast(extract(month from date_day) as integer) as month,
        trim(to_char(date_day, 'Month')) as month_name,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast(extract(isoyear from date_day) as integer) as iso_year,
        cast(extract(week from date_day) as integer) as iso_week,
        cast(extract(isodow from date_day) as integer) as day_of_week,
        trim(to_char(date_day, 'Day')) as day_name,
        extract(isodow from date_day) in (6, 7) as is_weekend,
        cast(date_trunc('month', date_day) as date) as month_start,
        cast(date_trunc('month', date_day) + interval '1 month - 1 day' as date) as month_end,
        cast(date_trunc('quarter', date_day) as date) as quarter_start,
        cast(date_trunc('year', date_day) as date) as year_start

    from spine

)

select * from final
