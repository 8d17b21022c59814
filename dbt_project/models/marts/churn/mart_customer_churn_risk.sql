{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='as_of_date', on_schema_change='fail') }}
-- Churn risk per customer and as-of date (DOMAIN §4): the nightly model's 90-day churn
-- probability (ml.churn_scores, crmwh.churn; docs/churn_model.md; scored_by names the model
-- the fit chose) for every customer active on var('as_of_date'), the purchase model's
-- probability of no order in the next var('churn_purchase_horizon_days') days, P(alive) only
-- for repeat buyers (BG/NBD cannot tell for one-time buyers: it puts them at 1), the band,
-- the top three warning signals as reasons, the early warning for
-- key customers ([003]) and the win-back action by the DOMAIN §4 rule [004]:
--   excluded      unprofitable (trailing-12-month net profit <= 0), contract breach (an invoice
--                 more than var('churn_breach_overdue_days') past due), black-listed (credit_list
--                 'black', DOMAIN §5, from the value helper's int_customer_value__credit), or
--                 nothing to save (predicted CLV <= 0: saving would not make lifetime value larger)
--   utmost        极力挽留: key tier (important, high-profit customers)
--   best_effort   尽力挽留: ordinary tier (main customers)
--   case_by_case  ordinary customers in the DOMAIN sense: small tier ranked within
--                 var('churn_winback_case_by_case_rank_share') of all customers
--   let_go        基本放弃: the other small customers
-- expected_value_saved = score x predicted CLV x var('churn_save_success_rate');
-- allowed_save_budget = expected_value_saved x the action's budget share (< 1, so the cost
-- stays below the profit the save brings). Incremental: each run replaces its as-of date.

{%- set month_end -%}
    cast(date_trunc('month', {{ as_of_date() }}) + interval '1 month' - interval '1 day' as date)
{%- endset %}

with

scores as (

    select * from {{ source('churn_ml', 'churn_scores') }}
    where as_of_date = {{ as_of_date() }}

),

clv as (

    select customer_key, clv_predicted
    from {{ source('ml', 'clv_predictions') }}
    where as_of_date = {{ as_of_date() }}

),

value_now as (

    select customer_key, value_tier, value_rank, customer_count, net_profit
    from {{ ref('int_customer_value__monthly') }}
    where month_end = {{ month_end }}

),

customers as (

    select customer_key, customer_name
    from {{ ref('dim_customer') }}
    where is_current

),

credit as (

    select customer_key, credit_list
    from {{ ref('int_customer_value__credit') }}

),

breaches as (

    select customer_key, max(days_overdue) as max_days_overdue
    from {{ ref('fct_invoices') }}
    where customer_key is not null and open_amount > 0
    group by customer_key

),

joined as (

    select
        scores.*,
        customers.customer_name,
        coalesce(value_now.value_tier, 'small') as value_tier,
        value_now.value_rank,
        value_now.customer_count,
        coalesce(value_now.net_profit, 0) as net_profit,
        coalesce(clv.clv_predicted, 0) as clv_predicted,
        coalesce(breaches.max_days_overdue, 0) as max_days_overdue,
        coalesce(credit.credit_list, 'white') as credit_list

    from scores
    left join customers on scores.customer_key = customers.customer_key
    left join value_now on scores.customer_key = value_now.customer_key
    left join clv on scores.customer_key = clv.customer_key
    left join breaches on scores.customer_key = breaches.customer_key
    left join credit on scores.customer_key = credit.customer_key

),

decided as (

    select
        *,
        case
            when net_profit <= 0 then 'unprofitable'
            when max_days_overdue > {{ var('churn_breach_overdue_days') }} then 'contract_breach'
            when credit_list = 'black' then 'blacklisted'
            when clv_predicted <= 0 then 'no_value_to_save'
        end as exclusion_reason,
        case
            when score >= {{ var('churn_risk_band_high') }} then 'high'
            when score >= {{ var('churn_risk_band_medium') }} then 'medium'
            else 'low'
        end as risk_band

    from joined

),

actions as (

    select
        *,
        case
            when exclusion_reason is not null then 'excluded'
            when value_tier = 'key' then 'utmost'
            when value_tier = 'ordinary' then 'best_effort'
            when value_rank <= ceil(
                customer_count * cast({{ var('churn_winback_case_by_case_rank_share') }} as numeric)
            ) then 'case_by_case'
            else 'let_go'
        end as winback_action

    from decided

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(customer_key as text) as customer_key,
        cast(customer_name as text) as customer_name,
        cast(value_tier as text) as value_tier,
        cast(value_rank as bigint) as value_rank,
        cast(net_profit as numeric(18, 4)) as net_profit,
        cast(round(cast(score as numeric), 6) as numeric(9, 6)) as churn_score,
        cast(risk_band as text) as risk_band,
        cast(reason_1 as text) as reason_1,
        cast(reason_2 as text) as reason_2,
        cast(reason_3 as text) as reason_3,
        cast(value_tier = 'key' and score >= {{ var('churn_early_warning_score') }} as boolean)
            as is_early_warning,
        cast(winback_action as text) as winback_action,
        cast(
            case winback_action
                when 'utmost' then '极力挽留'
                when 'best_effort' then '尽力挽留'
                when 'case_by_case' then '具体分析'
                when 'let_go' then '基本放弃'
                else '不挽留'
            end as text
        ) as winback_action_zh,
        cast(exclusion_reason as text) as exclusion_reason,
        cast(credit_list as text) as credit_list,
        cast(round(cast(clv_predicted as numeric), 4) as numeric(18, 4)) as clv_predicted,
        cast(
            case when winback_action = 'excluded' then 0
                else round(cast(score * clv_predicted as numeric)
                    * {{ var('churn_save_success_rate') }}, 4)
            end as numeric(18, 4)
        ) as expected_value_saved,
        cast(
            case
                when winback_action = 'excluded' then 0
                else round(cast(score * clv_predicted as numeric)
                    * {{ var('churn_save_success_rate') }}
                    * case winback_action
                        when 'utmost' then {{ var('churn_save_budget_share_utmost') }}
                        when 'best_effort' then {{ var('churn_save_budget_share_best_effort') }}
                        when 'case_by_case' then {{ var('churn_save_budget_share_case_by_case') }}
                        else 0
                    end, 4)
            end as numeric(18, 4)
        ) as allowed_save_budget,
        cast(last_order_date as date) as last_order_date,
        cast(orders_90d as integer) as orders_90d,
        cast(orders_prev_90d as integer) as orders_prev_90d,
        cast(complaints_90d as integer) as complaints_90d,
        cast(sla_missed_90d as integer) as sla_missed_90d,
        cast(rep_left as boolean) as rep_left,
        cast(overdue_amount as numeric(18, 4)) as overdue_amount,
        cast(satisfaction_c as numeric(10, 4)) as satisfaction_c,
        cast(case when orders_365d > 0 then round(promo_365d / cast(orders_365d as numeric), 4) end
            as numeric(6, 4)) as promotion_share,
        cast(p_no_purchase as double precision) as p_no_purchase,
        cast(expected_purchases as double precision) as expected_purchases,
        cast(repeat_purchases as integer) as repeat_purchases,
        cast(case when repeat_purchases > 0 then p_alive end as double precision) as p_alive,
        cast(p_contract_lapse as double precision) as p_contract_lapse,
        cast(scored_by as text) as scored_by,
        cast(model_run_id as text) as model_run_id

    from actions

)

select * from final
