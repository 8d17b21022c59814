-- DOMAIN §2 customer share [000] (penetration, not share of wallet): captured customers ÷ target
-- population, target population = market population x target share x reachable share (vars
-- customer_share_market_population, customer_share_target_share, customer_share_reachable_share;
-- project defaults from the DOMAIN worked example: 5,000,000 x 15 % x 20 % = 150,000). Captured =
-- customers with at least one counted order on the latest as-of date. Grain: one row.

with

customers as (

    select * from {{ ref('mart_customer_value') }}

),

captured as (

    select
        max(as_of_date) as as_of_date,
        count(*) filter (where orders_count > 0) as captured_customers

    from customers

)

select
    cast(as_of_date as date) as as_of_date,
    cast({{ var('customer_share_market_population') }} as bigint) as market_population,
    cast({{ var('customer_share_target_share') }} as numeric(9, 6)) as target_share,
    cast({{ var('customer_share_reachable_share') }} as numeric(9, 6)) as reachable_share,
    cast(
        cast({{ var('customer_share_market_population') }} as numeric)
        * cast({{ var('customer_share_target_share') }} as numeric)
        * cast({{ var('customer_share_reachable_share') }} as numeric)
        as numeric(18, 2)
    ) as target_population,
    cast(captured_customers as bigint) as captured_customers,
    cast(round({{ customer_share(
        'captured_customers',
        var('customer_share_market_population'),
        var('customer_share_target_share'),
        var('customer_share_reachable_share')
    ) }}, 10) as numeric(38, 10)) as customer_share

from captured
