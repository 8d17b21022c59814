{#-
    Satisfaction surveys. DOMAIN §3: satisfaction C = perceived / expected; C > 1 exceeded,
    C = 1 acceptable, C < 1 dissatisfied. Recommend intent 0-10 gives the NPS class:
    promoter 9-10, passive 7-8, detractor 0-6 (NPS = % promoters - % detractors, i.e. the
    mean of nps_points).
-#}
with

source as (

    {{ passed_rows(source('service', 'surveys')) }}

),

latest as (

    {{ deduplicate_latest('source', 'survey_id') }}

),

renamed as (

    select
        cast(survey_id as bigint) as survey_id,
        cast(ticket_id as bigint) as ticket_id,
        {{ clean_text('respondent_email') }} as respondent_email,
        {{ normalise_email('respondent_email') }} as respondent_email_normalised,
        {{ clean_text('respondent_phone') }} as respondent_phone,
        {{ normalise_phone('respondent_phone') }} as respondent_phone_normalised,
        cast(answered_at as timestamptz) as answered_at,
        cast(perceived_score as numeric) as perceived_score,
        cast(expected_score as numeric) as expected_score,
        cast(recommend_score as integer) as recommend_score,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

),

classified as (

    select
        survey_id,
        ticket_id,
        case when ticket_id is not null then 'transactional' else 'relationship' end
            as survey_type,
        respondent_email,
        respondent_email_normalised,
        respondent_phone,
        respondent_phone_normalised,
        answered_at,
        perceived_score,
        expected_score,
        round(perceived_score / nullif(expected_score, 0), 4) as satisfaction_c,
        case
            when perceived_score / nullif(expected_score, 0) > 1 then 'exceeded'
            when perceived_score / nullif(expected_score, 0) = 1 then 'acceptable'
            when perceived_score / nullif(expected_score, 0) < 1 then 'dissatisfied'
        end as satisfaction_class,
        recommend_score,
        case
            when recommend_score between 9 and 10 then 'promoter'
            when recommend_score between 7 and 8 then 'passive'
            when recommend_score between 0 and 6 then 'detractor'
        end as nps_class,
        case
            when recommend_score between 9 and 10 then 100
            when recommend_score between 7 and 8 then 0
            when recommend_score between 0 and 6 then -100
        end as nps_points,
        updated_at,
        _batch_id,
        _extracted_at

    from renamed

)

select * from classified
