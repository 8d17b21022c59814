-- CRM KPIs per month and value tier (DOMAIN §4 [002]): new, lost and upgraded customers, each
-- as a count and as a rate on the tier's base (customers active at the start of the month in
-- that tier), and the tier's average profitability.
--   new        acquired in the month, counted in their tier at the month-end
--   lost       in the base and churned in the month (= the tier's churn in mart_churn_monthly)
--   upgraded   in the base and in a higher tier at the month-end (small -> ordinary or key,
--              ordinary -> key); key customers cannot upgrade
--   average profitability  mean trailing-12-month net profit (int_customer_value__monthly) of
--              the tier's customers active at the month-end, and their total
-- Tiers per DOMAIN §2 from the value helper's int_customer_value__monthly.

with

months as (

    select
        *,
        case value_tier_at_start when 'key' then 3 when 'ordinary' then 2 when 'small' then 1 end
            as tier_rank_at_start,
        case value_tier_at_end when 'key' then 3 when 'ordinary' then 2 when 'small' then 1 end
            as tier_rank_at_end
    from {{ ref('int_churn__customer_months') }}

),

tiers as (

    select tier, tier_rank from (values ('key', 3), ('ordinary', 2), ('small', 1)) as t (tier, tier_rank)

),

calendar as (

    select distinct month_start, month_end, period_end from months

),

grid as (

    select calendar.*, tiers.tier, tiers.tier_rank
    from calendar cross join tiers

),

start_counts as (

    select
        month_start,
        value_tier_at_start as tier,
        count(*) as customers_at_start,
        count(*) filter (where churned_in_month) as lost_customers,
        count(*) filter (where tier_rank_at_end > tier_rank_at_start) as upgraded_customers

    from months
    where is_active_at_start and value_tier_at_start is not null
    group by month_start, value_tier_at_start

),

end_counts as (

    select
        month_start,
        value_tier_at_end as tier,
        count(*) filter (where is_acquired_in_month) as new_customers,
        count(*) filter (where is_active_at_end) as customers_at_end,
        avg(net_profit_at_end) filter (where is_active_at_end) as average_net_profit,
        sum(net_profit_at_end) filter (where is_active_at_end) as total_net_profit

    from months
    where value_tier_at_end is not null
    group by month_start, value_tier_at_end

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(grid.month_start as date) as month_start,
        cast(grid.month_end as date) as month_end,
        grid.period_end < grid.month_end as is_partial_month,
        cast(grid.tier as text) as value_tier,
        cast(coalesce(start_counts.customers_at_start, 0) as bigint) as customers_at_start,
        cast(coalesce(end_counts.customers_at_end, 0) as bigint) as customers_at_end,
        cast(coalesce(end_counts.new_customers, 0) as bigint) as new_customers,
        cast(coalesce(start_counts.lost_customers, 0) as bigint) as lost_customers,
        cast(coalesce(start_counts.upgraded_customers, 0) as bigint) as upgraded_customers,
        cast(round(end_counts.new_customers / cast(nullif(start_counts.customers_at_start, 0) as numeric), 6)
            as numeric(12, 6)) as new_customer_rate,
        cast(round(start_counts.lost_customers / cast(nullif(start_counts.customers_at_start, 0) as numeric), 6)
            as numeric(12, 6)) as lost_customer_rate,
        cast(round(start_counts.upgraded_customers / cast(nullif(start_counts.customers_at_start, 0) as numeric), 6)
            as numeric(12, 6)) as upgraded_customer_rate,
        cast(round(end_counts.average_net_profit, 4) as numeric(18, 4)) as average_net_profit,
        cast(end_counts.total_net_profit as numeric(18, 4)) as total_net_profit

    from grid
    left join start_counts
        on grid.month_start = start_counts.month_start and grid.tier = start_counts.tier
    left join end_counts
        on grid.month_start = end_counts.month_start and grid.tier = end_counts.tier

)

select * from final
