-- Credit position per customer on var('as_of_date') (DOMAIN §5 [003]). Grain: one row per customer
-- with a billing account, a credit line or receivables.
-- Exposure = open receivables on the as-of date (fct_receivables_daily, summed over the
-- customer's billing accounts) with its ageing buckets; limit = sum of the credit lines (annual
-- or temporary) valid on the as-of date; utilisation = exposure ÷ limit (null without a line).
-- Write-offs: credit notes flagged as write-offs in the last 365 days.
-- Grade (project defaults, dbt vars): D when more than var('credit_grade_d_days') days overdue or
-- a write-off; C when more than var('credit_grade_c_days') days overdue or utilisation above
-- var('credit_grade_c_utilisation'); B when more than var('credit_grade_b_days') days overdue or
-- utilisation above var('credit_grade_b_utilisation'); else A. List (白/灰/黑名单): A and B white,
-- C grey, D black (no new credit business with black-listed customers).

with

accounts as (

    select account_id, customer_key
    from {{ ref('int_billing__account_customers') }}
    where customer_key is not null

),

receivables as (

    select
        customer_key,
        sum(open_amount) as open_amount,
        sum(not_due_amount) as not_due_amount,
        sum(overdue_amount) as overdue_amount,
        sum(overdue_1_30) as overdue_1_30,
        sum(overdue_31_60) as overdue_31_60,
        sum(overdue_61_90) as overdue_61_90,
        sum(overdue_91_180) as overdue_91_180,
        sum(overdue_181_365) as overdue_181_365,
        sum(overdue_over_365) as overdue_over_365,
        max(max_days_overdue) as max_days_overdue

    from {{ ref('fct_receivables_daily') }}
    where date_day = {{ as_of_date() }} and customer_key is not null
    group by customer_key

),

credit_lines as (

    select
        accounts.customer_key,
        sum(lines.credit_limit) as credit_limit,
        max(lines.term_days) as payment_term_days

    from {{ ref('fct_credit_lines') }} as lines
    inner join accounts on lines.billing_account_id = accounts.account_id
    where
        lines.valid_from <= {{ as_of_date() }}
        and (lines.valid_to is null or lines.valid_to >= {{ as_of_date() }})
    group by accounts.customer_key

),

write_offs as (

    select customer_key, sum(amount) as written_off_365d
    from {{ ref('fct_credit_notes') }}
    where
        is_write_off
        and issued_on <= {{ as_of_date() }}
        and issued_on > {{ as_of_date() }} - 365
        and customer_key is not null
    group by customer_key

),

customers as (

    select customer_key from accounts
    union
    select customer_key from receivables
    union
    select customer_key from credit_lines

),

joined as (

    select
        customers.customer_key,
        coalesce(receivables.open_amount, 0) as open_amount,
        coalesce(receivables.not_due_amount, 0) as not_due_amount,
        coalesce(receivables.overdue_amount, 0) as overdue_amount,
        coalesce(receivables.overdue_1_30, 0) as overdue_1_30,
        coalesce(receivables.overdue_31_60, 0) as overdue_31_60,
        coalesce(receivables.overdue_61_90, 0) as overdue_61_90,
        coalesce(receivables.overdue_91_180, 0) as overdue_91_180,
        coalesce(receivables.overdue_181_365, 0) as overdue_181_365,
        coalesce(receivables.overdue_over_365, 0) as overdue_over_365,
        coalesce(greatest(receivables.max_days_overdue, 0), 0) as max_days_overdue,
        credit_lines.credit_limit,
        credit_lines.payment_term_days,
        coalesce(write_offs.written_off_365d, 0) as written_off_365d,
        coalesce(receivables.open_amount, 0) / nullif(credit_lines.credit_limit, 0)
            as credit_utilisation

    from customers
    left join receivables on customers.customer_key = receivables.customer_key
    left join credit_lines on customers.customer_key = credit_lines.customer_key
    left join write_offs on customers.customer_key = write_offs.customer_key

),

graded as (

    select
        *,
        case
            when max_days_overdue > {{ var('credit_grade_d_days') }} or written_off_365d > 0
                then 'D'
            when
                max_days_overdue > {{ var('credit_grade_c_days') }}
                or credit_utilisation > {{ var('credit_grade_c_utilisation') }}
                then 'C'
            when
                max_days_overdue > {{ var('credit_grade_b_days') }}
                or credit_utilisation > {{ var('credit_grade_b_utilisation') }}
                then 'B'
            else 'A'
        end as credit_grade

    from joined

)

select
    *,
    case credit_grade when 'D' then 'black' when 'C' then 'grey' else 'white' end as credit_list
from graded
