with

source as (

    {{ passed_rows(source('sales', 'sales_reps')) }}

),

latest as (

    {{ deduplicate_latest('source', 'sales_rep_id') }}

),

renamed as (

    select
        cast(sales_rep_id as bigint) as sales_rep_id,
        {{ clean_text('name') }} as sales_rep_name,
        {{ clean_text('email') }} as email,
        {{ normalise_email('email') }} as email_normalised,
        cast(hired_on as date) as hired_on,
        cast(left_on as date) as left_on,
        left_on is not null as has_left,
        cast(updated_at as timestamptz) as updated_at,
        _batch_id,
        _extracted_at

    from latest

)

select * from renamed
