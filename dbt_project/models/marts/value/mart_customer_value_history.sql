{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
        pre_hook="set local work_mem = '{{ var('value_models_work_mem') }}'",
    )
}}
-- Customer value per as-of date (DOMAIN §2, §3, §5). Grain: one row per (as_of_date, customer_key)
-- for every live customer on var('as_of_date'); each run replaces its as-of date (delete+insert),
-- other dates stay (history). Rules and project defaults are documented per column in
-- _value__models.yml and in the intermediate models it joins:
--   int_customer_value__profit     lifetime money, historical CLV (DOMAIN §2 formula)
--   int_customer_value__monthly    as-of month: trailing-12-month value, rank, tier, Pareto, RFM
--   int_customer_value__behaviour  satisfaction C, NPS class, loyalty tell-tales
--   int_customer_value__segments   loyalty type, lifecycle stage
--   int_customer_value__credit     credit grade, list, utilisation, ageing
--   ml.clv_predictions             predictive CLV (BG/NBD + Gamma-Gamma) fitted as of the date

{%- set size_medium = var('size_band_medium_from') %}
{%- set size_large = var('size_band_large_from') %}

with

profit as (

    select * from {{ ref('int_customer_value__profit') }}

),

monthly as (

    -- the as-of month, built for the same as-of date (a monthly table of another date joins
    -- nothing, so the mart comes out empty instead of mixing dates)
    select * from {{ ref('int_customer_value__monthly') }}
    where period_end = {{ as_of_date() }}

),

behaviour as (

    select * from {{ ref('int_customer_value__behaviour') }}

),

segments as (

    select * from {{ ref('int_customer_value__segments') }}

),

credit as (

    select * from {{ ref('int_customer_value__credit') }}

),

predictions as (

    select * from {{ source('ml', 'clv_predictions') }}
    where as_of_date = {{ as_of_date() }}

),

fit as (

    -- predictions exist for the date: customers the model did not score (no orders) get 0
    -- potential; no fit for the date (skipped or not run): NULL
    select exists (select 1 from predictions) as has_predictions

),

joined as (

    select
        profit.*,
        monthly.revenue as revenue_12m,
        monthly.gross_margin as gross_margin_12m,
        monthly.credit_notes as credit_notes_12m,
        monthly.cost_to_serve as cost_to_serve_12m,
        monthly.net_profit as current_value,
        case
            when fit.has_predictions then coalesce(predictions.clv_predicted, 0)
        end as potential_value,
        -- BG/NBD puts P(alive) at 1 for one-time buyers: no evidence, so not shown
        case when predictions.frequency > 0 then predictions.p_alive end as p_alive,
        predictions.expected_purchases_90d,
        predictions.expected_purchases_365d,
        predictions.expected_avg_margin,
        predictions.expected_margin_365d,
        predictions.clv_predicted,
        predictions.model_run_id as clv_model_run_id,
        monthly.recency_days,
        monthly.frequency,
        monthly.monetary,
        monthly.r_score,
        monthly.f_score,
        monthly.m_score,
        monthly.rfm_segment,
        monthly.value_rank,
        monthly.value_tier,
        monthly.pareto_class,
        segments.loyalty_type,
        segments.is_repeat_high,
        segments.attachment_signals,
        segments.is_attached,
        segments.tenure_days,
        segments.lifecycle_stage,
        behaviour.promotion_order_share,
        behaviour.discounted_revenue_share,
        behaviour.full_price_share,
        behaviour.sole_supplier_share,
        behaviour.satisfaction_c,
        behaviour.satisfaction_class,
        behaviour.avg_recommend_score,
        behaviour.nps_class,
        coalesce(behaviour.surveys_count, 0) as surveys_count,
        coalesce(credit.credit_grade, 'A') as credit_grade,
        coalesce(credit.credit_list, 'white') as credit_list,
        credit.credit_limit,
        credit.payment_term_days,
        credit.credit_utilisation,
        coalesce(credit.open_amount, 0) as open_amount,
        coalesce(credit.not_due_amount, 0) as not_due_amount,
        coalesce(credit.overdue_amount, 0) as overdue_amount,
        coalesce(credit.overdue_1_30, 0) as overdue_1_30,
        coalesce(credit.overdue_31_60, 0) as overdue_31_60,
        coalesce(credit.overdue_61_90, 0) as overdue_61_90,
        coalesce(credit.overdue_91_180, 0) as overdue_91_180,
        coalesce(credit.overdue_181_365, 0) as overdue_181_365,
        coalesce(credit.overdue_over_365, 0) as overdue_over_365,
        coalesce(credit.max_days_overdue, 0) as max_days_overdue,
        coalesce(credit.written_off_365d, 0) as written_off_365d

    from profit
    cross join fit
    inner join monthly on profit.customer_key = monthly.customer_key
    left join behaviour on profit.customer_key = behaviour.customer_key
    left join segments on profit.customer_key = segments.customer_key
    left join credit on profit.customer_key = credit.customer_key
    left join predictions on profit.customer_key = predictions.customer_key

),

medians as (

    select
        percentile_cont({{ var('value_matrix_split_quantile') }}) within group (
            order by current_value
        ) as current_value_median,
        percentile_cont({{ var('value_matrix_split_quantile') }}) within group (
            order by potential_value
        ) as potential_value_median,
        sum(current_value) as current_value_total

    from joined

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        cast(joined.customer_key as text) as customer_key,
        cast(joined.sales_customer_id as bigint) as sales_customer_id,
        cast(joined.customer_name as text) as customer_name,
        cast(joined.acquisition_channel as text) as acquisition_channel,
        cast(joined.created_on as date) as created_on,
        cast(joined.orders_count as bigint) as orders_count,
        cast(joined.first_order_date as date) as first_order_date,
        cast(joined.last_order_date as date) as last_order_date,
        cast(joined.revenue as numeric(18, 4)) as revenue,
        cast(joined.cost_of_goods as numeric(18, 4)) as cost_of_goods,
        cast(joined.gross_margin as numeric(18, 4)) as gross_margin,
        cast(joined.credit_notes as numeric(18, 4)) as credit_notes,
        cast(joined.cost_to_serve as numeric(18, 4)) as cost_to_serve,
        cast(joined.acquisition_cost as numeric(18, 4)) as acquisition_cost,
        cast(joined.net_profit as numeric(18, 4)) as net_profit,
        cast(joined.revenue_12m as numeric(18, 4)) as revenue_12m,
        cast(joined.gross_margin_12m as numeric(18, 4)) as gross_margin_12m,
        cast(joined.credit_notes_12m as numeric(18, 4)) as credit_notes_12m,
        cast(joined.cost_to_serve_12m as numeric(18, 4)) as cost_to_serve_12m,
        cast(round(joined.clv_historical, 4) as numeric(18, 4)) as clv_historical,
        cast(joined.current_value as numeric(18, 4)) as current_value,
        cast(round(cast(joined.potential_value as numeric), 4) as numeric(18, 4))
            as potential_value,
        cast(joined.p_alive as double precision) as p_alive,
        cast(joined.expected_purchases_90d as double precision) as expected_purchases_90d,
        cast(joined.expected_purchases_365d as double precision) as expected_purchases_365d,
        cast(joined.expected_avg_margin as double precision) as expected_avg_margin,
        cast(joined.expected_margin_365d as double precision) as expected_margin_365d,
        cast(joined.clv_predicted as double precision) as clv_predicted,
        cast(joined.clv_model_run_id as text) as clv_model_run_id,
        cast(joined.recency_days as integer) as recency_days,
        cast(joined.frequency as bigint) as frequency,
        cast(joined.monetary as numeric(18, 4)) as monetary,
        cast(joined.r_score as integer) as r_score,
        cast(joined.f_score as integer) as f_score,
        cast(joined.m_score as integer) as m_score,
        cast(joined.rfm_segment as text) as rfm_segment,
        cast(joined.value_rank as bigint) as value_rank,
        cast(joined.value_tier as text) as value_tier,
        cast(
            case
                when medians.current_value_total = 0 then 0
                else round(joined.current_value / medians.current_value_total, 10)
            end as numeric(38, 10)
        ) as value_share,
        cast(joined.pareto_class as text) as pareto_class,
        joined.current_value > medians.current_value_median as is_current_value_high,
        joined.potential_value > medians.potential_value_median as is_potential_value_high,
        cast({{ value_quadrant('joined.current_value', 'joined.potential_value',
                'medians.current_value_median', 'medians.potential_value_median') }} as text) as value_quadrant,
        cast({{ value_quadrant('joined.current_value', 'joined.potential_value',
                'medians.current_value_median', 'medians.potential_value_median',
                ('develop', 'maintain', 'nurture', 'abandon')) }} as text) as value_quadrant_en,
        cast(joined.loyalty_type as text) as loyalty_type,
        cast(joined.orders_12m as bigint) as orders_12m,
        joined.is_repeat_high,
        cast(joined.attachment_signals as integer) as attachment_signals,
        joined.is_attached,
        cast(round(joined.promotion_order_share, 4) as numeric(9, 4)) as promotion_order_share,
        cast(round(joined.discounted_revenue_share, 4) as numeric(9, 4))
            as discounted_revenue_share,
        cast(round(joined.full_price_share, 4) as numeric(9, 4)) as full_price_share,
        cast(round(joined.sole_supplier_share, 4) as numeric(9, 4)) as sole_supplier_share,
        cast(joined.lifecycle_stage as text) as lifecycle_stage,
        cast(joined.tenure_days as integer) as tenure_days,
        cast(joined.revenue_recent as numeric(18, 4)) as revenue_recent,
        cast(joined.revenue_prior as numeric(18, 4)) as revenue_prior,
        cast(joined.satisfaction_c as numeric(12, 4)) as satisfaction_c,
        cast(joined.satisfaction_class as text) as satisfaction_class,
        cast(round(joined.avg_recommend_score, 2) as numeric(5, 2)) as avg_recommend_score,
        cast(joined.nps_class as text) as nps_class,
        cast(joined.surveys_count as bigint) as surveys_count,
        cast(joined.credit_grade as text) as credit_grade,
        cast(joined.credit_list as text) as credit_list,
        cast(joined.credit_limit as numeric(18, 4)) as credit_limit,
        cast(joined.payment_term_days as integer) as payment_term_days,
        cast(round(joined.credit_utilisation, 4) as numeric(12, 4)) as credit_utilisation,
        cast(joined.open_amount as numeric(18, 4)) as open_amount,
        cast(joined.not_due_amount as numeric(18, 4)) as not_due_amount,
        cast(joined.overdue_amount as numeric(18, 4)) as overdue_amount,
        cast(joined.overdue_1_30 as numeric(18, 4)) as overdue_1_30,
        cast(joined.overdue_31_60 as numeric(18, 4)) as overdue_31_60,
        cast(joined.overdue_61_90 as numeric(18, 4)) as overdue_61_90,
        cast(joined.overdue_91_180 as numeric(18, 4)) as overdue_91_180,
        cast(joined.overdue_181_365 as numeric(18, 4)) as overdue_181_365,
        cast(joined.overdue_over_365 as numeric(18, 4)) as overdue_over_365,
        cast(joined.max_days_overdue as integer) as max_days_overdue,
        cast(joined.written_off_365d as numeric(18, 4)) as written_off_365d,
        cast(
            case
                when joined.revenue_12m <= 0 then 'none'
                when joined.revenue_12m < {{ size_medium }} then 'small'
                when joined.revenue_12m < {{ size_large }} then 'medium'
                else 'large'
            end as text
        ) as size_band

    from joined
    cross join medians

)

select * from final
