-- Grain: one sales opportunity (deal) opened on or before var('as_of_date'), in its stage as of
-- that date: staging keeps the latest version updated by the end of the as-of date, so a deal
-- won or lost later is still open here. Lost deals in a customer's last months are a churn
-- warning signal (DOMAIN §4); a customer with a deal was contacted (DOMAIN §7).

with

opportunities as (

    select * from {{ ref('stg_sales__opportunities') }}
    where created_on <= {{ as_of_date() }}

),

final as (

    select
        opportunity_id,
        {{ surrogate_key(["'sales'", 'customer_id']) }} as customer_key,
        customer_id as sales_customer_id,
        sales_rep_id,
        stage,
        is_closed,
        is_won,
        amount,
        expected_close_date,
        created_at,
        created_on,
        {{ date_key('created_on') }} as created_date_key,
        closed_at

    from opportunities

)

select * from final
