-- Grain: one credit line (annual for a contract year, or temporary with a higher limit) known at
-- the end of var('as_of_date'): staging keeps each line's latest version updated by then. Lines
-- valid only after the as-of date (granted in advance) are kept; each reader picks the lines
-- valid on its own date. DOMAIN §5: exposure ÷ credit_limit is the utilisation, and shipments
-- are checked against the limits of the lines valid on the ship date.

with

credit_lines as (

    select * from {{ ref('stg_billing__credit_lines') }}

),

accounts as (

    select * from {{ ref('int_billing__account_customers') }}

),

final as (

    select
        credit_lines.credit_line_id,
        accounts.customer_key,
        credit_lines.account_id as billing_account_id,
        credit_lines.line_type,
        credit_lines.credit_limit,
        credit_lines.term_days,
        credit_lines.valid_from,
        credit_lines.valid_to

    from credit_lines
    left join accounts on credit_lines.account_id = accounts.account_id

)

select * from final
