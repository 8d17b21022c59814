-- Loyalty type and lifecycle stage per customer as of var('as_of_date') (DOMAIN §3). Grain: one
-- row per customer of int_customer_value__profit. Every cut-off is a dbt var (project defaults).
--
-- Loyalty [004] = attachment (依恋) x repeat purchase. Repeat high: at least
-- var('loyalty_repeat_min_orders') orders in the trailing 12 months. Attachment signals (one
-- point each): satisfaction C >= var('loyalty_attachment_min_c'); mean recommend score >=
-- var('loyalty_attachment_min_recommend'); tenure (days since the first order) >=
-- var('loyalty_attachment_min_tenure_days'); full-price share of revenue >=
-- var('loyalty_attachment_min_full_price_share'). Attachment high: at least
-- var('loyalty_attachment_min_signals') points. First match wins:
--   super_value (超值)  attachment high, repeat high
--   monopoly (垄断)     attachment low, repeat high, sole-supplier share >= var(...min_sole_supplier_share)
--   incentive (激励)    attachment low, repeat high, promotion share of orders >= var(...incentive_min_promotion_share)
--   inertia (惰性)      attachment low, repeat high, promotion share <= var(...inertia_max_promotion_share)
--   price (价格)        attachment low, repeat low, discounted share of revenue >= var(...price_min_discounted_share)
--   none                anything else (incl. never ordered)
--
-- Lifecycle [004], first match wins: prospect (no order yet); churned (no order for more than
-- var('lifecycle_churned_after_days') days; back on the prospect list per [004]); exploration
-- 考察期 (one order: first-time buyer); decline 退化期 (revenue of the last
-- var('lifecycle_trend_days') days below var('lifecycle_decline_ratio') x the same span before,
-- "当客户与企业交易量下降的时候"); formation 形成期 (repeat buyer, tenure below
-- var('lifecycle_formation_max_days') days); stability 稳定期 (the rest).

with

profit as (

    select * from {{ ref('int_customer_value__profit') }}

),

behaviour as (

    select * from {{ ref('int_customer_value__behaviour') }}

),

signals as (

    select
        profit.customer_key,
        profit.orders_count,
        profit.orders_12m,
        profit.first_order_date,
        profit.last_order_date,
        profit.revenue_recent,
        profit.revenue_prior,
        {{ as_of_date() }} - profit.first_order_date as tenure_days,
        {{ as_of_date() }} - profit.last_order_date as days_since_last_order,
        behaviour.promotion_order_share,
        behaviour.discounted_revenue_share,
        behaviour.full_price_share,
        behaviour.sole_supplier_share,
        behaviour.satisfaction_c,
        behaviour.avg_recommend_score,
        profit.orders_12m >= {{ var('loyalty_repeat_min_orders') }} as is_repeat_high,
        (
            case when behaviour.satisfaction_c >= {{ var('loyalty_attachment_min_c') }}
                then 1 else 0 end
            + case when behaviour.avg_recommend_score >= {{ var('loyalty_attachment_min_recommend') }}
                then 1 else 0 end
            + case when {{ as_of_date() }} - profit.first_order_date
                >= {{ var('loyalty_attachment_min_tenure_days') }} then 1 else 0 end
            + case when behaviour.full_price_share
                >= {{ var('loyalty_attachment_min_full_price_share') }} then 1 else 0 end
        ) as attachment_signals

    from profit
    left join behaviour on profit.customer_key = behaviour.customer_key

),

classified as (

    select
        *,
        attachment_signals >= {{ var('loyalty_attachment_min_signals') }} as is_attached

    from signals

),

final as (

    select
        *,
        case
            when orders_count = 0 then 'none'
            when is_attached and is_repeat_high then 'super_value'
            when
                is_repeat_high
                and sole_supplier_share >= {{ var('loyalty_monopoly_min_sole_supplier_share') }}
                then 'monopoly'
            when
                is_repeat_high
                and promotion_order_share >= {{ var('loyalty_incentive_min_promotion_share') }}
                then 'incentive'
            when
                is_repeat_high
                and promotion_order_share <= {{ var('loyalty_inertia_max_promotion_share') }}
                then 'inertia'
            when
                not is_attached and not is_repeat_high
                and discounted_revenue_share >= {{ var('loyalty_price_min_discounted_share') }}
                then 'price'
            else 'none'
        end as loyalty_type,
        case
            when orders_count = 0 then 'prospect'
            when days_since_last_order > {{ var('lifecycle_churned_after_days') }} then 'churned'
            when orders_count = 1 then 'exploration'
            when
                revenue_prior > 0
                and revenue_recent < revenue_prior * {{ var('lifecycle_decline_ratio') }}
                then 'decline'
            when tenure_days < {{ var('lifecycle_formation_max_days') }} then 'formation'
            else 'stability'
        end as lifecycle_stage

    from classified

)

select * from final
