-- DOMAIN §2 concentration [000] per period: top-5 share (CRATIO, 前五大客户收入占比) and
-- HHI = sum of s_i^2 over customers' revenue shares s_i (fractions; hhi_points = 10,000 x HHI).
-- Grain: one row per month_end of int_customer_value__monthly. Computed twice: on the month's
-- own revenue and on the trailing-12-month revenue; customers with revenue > 0 count. Also the
-- Pareto view (DOMAIN §2 80/20): the share of customers making the first 80 % of value.

with

monthly as (

    select * from {{ ref('int_customer_value__monthly') }}

),

month_shares as (

    select
        month_end,
        revenue_in_month as revenue,
        revenue_in_month / sum(revenue_in_month) over (partition by month_end) as share,
        row_number() over (
            partition by month_end order by revenue_in_month desc, customer_key
        ) as revenue_rank

    from monthly
    where revenue_in_month > 0

),

t12m_shares as (

    select
        month_end,
        revenue,
        revenue / sum(revenue) over (partition by month_end) as share,
        row_number() over (partition by month_end order by revenue desc, customer_key)
            as revenue_rank

    from monthly
    where revenue > 0

),

month_stats as (

    select
        month_end,
        count(*) as customers_with_revenue,
        sum(revenue) as revenue,
        sum(revenue) filter (where revenue_rank <= 5) as top5_revenue,
        sum(share) filter (where revenue_rank <= 5) as top5_share,
        sum(share * share) as hhi

    from month_shares
    group by month_end

),

t12m_stats as (

    select
        month_end,
        count(*) as customers_with_revenue,
        sum(revenue) as revenue,
        sum(share) filter (where revenue_rank <= 5) as top5_share,
        sum(share * share) as hhi

    from t12m_shares
    group by month_end

),

periods as (

    select
        month_end,
        max(period_end) as period_end,
        count(*) as customers,
        count(*) filter (where pareto_class = 'vital_few') as pareto_vital_few_customers

    from monthly
    group by month_end

)

select
    cast(periods.month_end as date) as month_end,
    cast(periods.period_end as date) as period_end,
    cast(periods.customers as bigint) as customers,
    cast(coalesce(month_stats.customers_with_revenue, 0) as bigint) as customers_with_revenue,
    cast(coalesce(month_stats.revenue, 0) as numeric(18, 4)) as revenue,
    cast(coalesce(month_stats.top5_revenue, 0) as numeric(18, 4)) as top5_revenue,
    cast(round(month_stats.top5_share, 10) as numeric(38, 10)) as top5_share,
    cast(round(month_stats.hhi, 10) as numeric(38, 10)) as hhi,
    cast(round(month_stats.hhi * 10000, 4) as numeric(18, 4)) as hhi_points,
    cast(coalesce(t12m_stats.customers_with_revenue, 0) as bigint)
        as customers_with_revenue_12m,
    cast(coalesce(t12m_stats.revenue, 0) as numeric(18, 4)) as revenue_12m,
    cast(round(t12m_stats.top5_share, 10) as numeric(38, 10)) as top5_share_12m,
    cast(round(t12m_stats.hhi, 10) as numeric(38, 10)) as hhi_12m,
    cast(periods.pareto_vital_few_customers as bigint) as pareto_vital_few_customers,
    cast(round(cast(periods.pareto_vital_few_customers as numeric) / nullif(periods.customers, 0), 10)
        as numeric(38, 10)) as pareto_customer_share

from periods
left join month_stats on periods.month_end = month_stats.month_end
left join t12m_stats on periods.month_end = t12m_stats.month_end
