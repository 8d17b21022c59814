-- DOMAIN §2 value tiers: the key tier holds exactly ceil(N x value_tier_key_share) customers,
-- the ordinary tier the next ceil(N x (key + ordinary share)) - ceil(N x key share), and the
-- tiers follow value_rank (every key customer ranks above every ordinary one, every ordinary
-- above every small one). Returns a row when any of this is violated.

{%- set key_share = var('value_tier_key_share') %}
{%- set ordinary_share = var('value_tier_ordinary_share') %}

with

mart as (

    select * from {{ ref('mart_customer_value') }}

),

counts as (

    select
        count(*) as customer_count,
        count(*) filter (where value_tier = 'key') as key_count,
        count(*) filter (where value_tier = 'ordinary') as ordinary_count,
        max(value_rank) filter (where value_tier = 'key') as key_max_rank,
        min(value_rank) filter (where value_tier = 'ordinary') as ordinary_min_rank,
        max(value_rank) filter (where value_tier = 'ordinary') as ordinary_max_rank,
        min(value_rank) filter (where value_tier = 'small') as small_min_rank

    from mart

),

expected as (

    select
        *,
        cast(ceil(customer_count * cast({{ key_share }} as numeric)) as bigint)
            as expected_key_count,
        cast(ceil(
            customer_count
            * (cast({{ key_share }} as numeric) + cast({{ ordinary_share }} as numeric))
        ) as bigint)
        - cast(ceil(customer_count * cast({{ key_share }} as numeric)) as bigint)
            as expected_ordinary_count

    from counts

)

select *
from expected
where
    key_count <> expected_key_count
    or ordinary_count <> expected_ordinary_count
    or key_max_rank >= coalesce(ordinary_min_rank, small_min_rank)
    or ordinary_max_rank >= small_min_rank
