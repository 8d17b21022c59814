-- Behaviour signals per customer as of var('as_of_date') for loyalty types and satisfaction
-- (DOMAIN §3). Grain: one row per customer with an order line in the trailing 12 months or a
-- survey in the trailing var('satisfaction_window_days') days.
-- Trailing 12 months of non-cancelled, non-deleted order lines: promotion_order_share (orders
-- using a promotion ÷ orders), discounted_revenue_share (net revenue of discounted lines ÷ net
-- revenue; full_price_share = 1 - it), sole_supplier_share (net revenue of lines of
-- sole-supplier products ÷ net revenue, the monopoly tell-tale).
-- Surveys: satisfaction C = sum of perceived ÷ sum of expected scores ([004] "顾客满意度(C)=
-- 顾客的感知值/顾客的期望值"; > 1 exceeded, = 1 acceptable, < 1 dissatisfied); NPS class from the
-- mean recommend score (9-10 promoter, 7-8 passive, 0-6 detractor).

with

lines as (

    select
        lines.customer_key,
        lines.order_id,
        lines.has_promotion,
        lines.discount_pct,
        lines.net_amount,
        coalesce(products.is_sole_supplier, false) as is_sole_supplier

    from {{ ref('fct_order_lines') }} as lines
    left join {{ ref('dim_product') }} as products on lines.product_key = products.product_key
    where
        lines.order_status <> 'cancelled'
        and not coalesce(lines.order_is_deleted, false)
        and lines.order_date <= {{ as_of_date() }}
        and lines.order_date > {{ as_of_date() }} - 365
        and lines.customer_key is not null

),

line_stats as (

    select
        customer_key,
        count(distinct order_id) as orders_12m,
        count(distinct order_id) filter (where has_promotion) as promotion_orders_12m,
        sum(net_amount) as net_revenue_12m,
        coalesce(sum(net_amount) filter (where discount_pct > 0), 0) as discounted_revenue_12m,
        coalesce(sum(net_amount) filter (where is_sole_supplier), 0) as sole_supplier_revenue_12m

    from lines
    group by customer_key

),

surveys as (

    select
        customer_key,
        count(*) as surveys_count,
        round(sum(perceived_score) / nullif(sum(expected_score), 0), 4) as satisfaction_c,
        avg(recommend_score) as avg_recommend_score

    from {{ ref('fct_surveys') }}
    where
        answered_on <= {{ as_of_date() }}
        and answered_on > {{ as_of_date() }} - {{ var('satisfaction_window_days') }}
        and customer_key is not null
    group by customer_key

),

final as (

    select
        coalesce(line_stats.customer_key, surveys.customer_key) as customer_key,
        line_stats.orders_12m,
        cast(line_stats.promotion_orders_12m as numeric)
        / nullif(line_stats.orders_12m, 0) as promotion_order_share,
        line_stats.discounted_revenue_12m / nullif(line_stats.net_revenue_12m, 0)
            as discounted_revenue_share,
        1 - line_stats.discounted_revenue_12m / nullif(line_stats.net_revenue_12m, 0)
            as full_price_share,
        line_stats.sole_supplier_revenue_12m / nullif(line_stats.net_revenue_12m, 0)
            as sole_supplier_share,
        coalesce(surveys.surveys_count, 0) as surveys_count,
        surveys.satisfaction_c,
        case
            when surveys.satisfaction_c > 1 then 'exceeded'
            when surveys.satisfaction_c = 1 then 'acceptable'
            when surveys.satisfaction_c < 1 then 'dissatisfied'
        end as satisfaction_class,
        surveys.avg_recommend_score,
        case
            when surveys.avg_recommend_score >= 9 then 'promoter'
            when surveys.avg_recommend_score >= 7 then 'passive'
            when surveys.avg_recommend_score >= 0 then 'detractor'
        end as nps_class

    from line_stats
    full outer join surveys on line_stats.customer_key = surveys.customer_key

)

select * from final
