-- DOMAIN §2 value tiers [004] per period: "重点客户,约占企业客户总量的5%,对企业的价值贡献率…为80%;
-- 第二类,普通客户,约占…15%,…15%;第三类,小客户,…5%". Grain: one row per (month_end, value_tier)
-- from int_customer_value__monthly. Value = trailing-12-month net profit; value contribution rate =
-- tier value ÷ total value of the month (DOMAIN §2). Also the tier's revenue, average net profit
-- per customer (DOMAIN §4 KPI "average profitability per tier") and its Pareto (80/20) customers.

with

monthly as (

    select * from {{ ref('int_customer_value__monthly') }}

),

tiers as (

    select
        month_end,
        value_tier,
        max(period_end) as period_end,
        count(*) as customers,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin,
        sum(net_profit) as value,
        count(*) filter (where pareto_class = 'vital_few') as pareto_vital_few_customers

    from monthly
    group by month_end, value_tier

),

totals as (

    select
        *,
        sum(customers) over (partition by month_end) as month_customers,
        sum(value) over (partition by month_end) as month_value,
        sum(revenue) over (partition by month_end) as month_revenue

    from tiers

)

select
    cast(month_end as date) as month_end,
    cast(period_end as date) as period_end,
    cast(value_tier as text) as value_tier,
    cast(case value_tier when 'key' then 1 when 'ordinary' then 2 else 3 end as integer)
        as tier_order,
    cast(customers as bigint) as customers,
    cast(round(customers / nullif(month_customers, 0), 10) as numeric(38, 10))
        as customer_share,
    cast(revenue as numeric(18, 4)) as revenue,
    cast(round(revenue / nullif(month_revenue, 0), 10) as numeric(38, 10)) as revenue_share,
    cast(gross_margin as numeric(18, 4)) as gross_margin,
    cast(value as numeric(18, 4)) as value,
    cast(round(value / nullif(month_value, 0), 10) as numeric(38, 10))
        as value_contribution_rate,
    cast(round(value / nullif(customers, 0), 4) as numeric(18, 4))
        as avg_net_profit_per_customer,
    cast(pareto_vital_few_customers as bigint) as pareto_vital_few_customers

from totals
