-- Calendar dimension, one row per day 2020-01-01 .. 2030-12-31.

with

spine as (

    {{ date_spine('2020-01-01', '2030-12-31') }}

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
