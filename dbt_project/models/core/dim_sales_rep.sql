-- Sales rep dimension. Grain: one row per sales rep known at the end of var('as_of_date').
-- has_left_as_of flags reps who left on or before the as-of date: their customers carry
-- the "assigned sales rep leaving" churn warning signal (DOMAIN §4).

with

reps as (

    select * from {{ ref('stg_sales__sales_reps') }}

),

final as (

    select
        cast({{ surrogate_key(["'sales'", 'sales_rep_id']) }} as text) as sales_rep_key,
        cast(sales_rep_id as bigint) as sales_rep_id,
        cast(sales_rep_name as text) as sales_rep_name,
        cast(email_normalised as text) as email_normalised,
        cast(hired_on as date) as hired_on,
        cast(left_on as date) as left_on,
        coalesce(left_on <= {{ as_of_date() }}, false) as has_left_as_of,
        cast(
            ({{ as_of_date() }} - hired_on) / 365.25 as numeric(6, 2)
        ) as tenure_years_as_of

    from reps

)

select * from final
