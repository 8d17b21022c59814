-- DOMAIN §2 value contribution rate: customers' value_share adds up to 1 whenever the total
-- current value is not 0 (and every share is 0 when it is). Returns a row when violated.

with

totals as (

    select
        sum(current_value) as total_current_value,
        sum(value_share) as total_value_share,
        count(*) as customer_count

    from {{ ref('mart_customer_value') }}

)

select *
from totals
where
    customer_count > 0
    and (
        (total_current_value <> 0 and abs(total_value_share - 1) > 0.000001)
        or (total_current_value = 0 and total_value_share <> 0)
    )
