-- Grain: one satisfaction survey answered on or before var('as_of_date'), with the customer
-- from identity resolution. Satisfaction C = perceived ÷ expected and its class (DOMAIN §3)
-- and the NPS class are computed in stg_service__surveys.

with

surveys as (

    select * from {{ ref('stg_service__surveys') }}
    where answered_at < {{ as_of_end() }}

),

bridge as (

    select source_id, customer_key, match_rule
    from {{ ref('bridge_customer_identity') }}
    where source_system = 'service' and source_entity = 'survey'

),

final as (

    select
        surveys.survey_id,
        surveys.ticket_id,
        surveys.survey_type,
        bridge.customer_key,
        bridge.match_rule as customer_match_rule,
        surveys.answered_at,
        {{ to_business_date('surveys.answered_at') }} as answered_on,
        surveys.perceived_score,
        surveys.expected_score,
        surveys.recommend_score,
        surveys.satisfaction_c,
        surveys.satisfaction_class,
        surveys.nps_class,
        surveys.nps_points

    from surveys
    left join bridge on cast(surveys.survey_id as text) = bridge.source_id

)

select * from final
