-- Churn events (DOMAIN §4 definitions; every threshold is a project default dbt var).
-- Grain: one churn episode of a customer, as known at the end of var('as_of_date').
--
-- Contract customers (a subscription or framework contract started on or before the as-of
-- date) churn by contract:
--   contract_cancelled    the contract was cancelled; churn_date = the cancellation date
--   contract_not_renewed  the contract ended and no other recurring contract of the customer
--                         started or was in force within var('churn_contract_grace_days');
--                         churn_date = end_date + grace
-- unless another recurring contract of the customer started after this one or was still in
-- force on the churn date (a renewal or a parallel contract).
-- Non-contract customers churn by inactivity relative to their own purchase rhythm:
--   inactivity            after a purchase day, no purchase for threshold days, where
--                         threshold = clamp(ceil(multiplier x the customer's mean gap between
--                         purchase days so far), floor, cap); after a single purchase the
--                         single-purchase threshold applies; churn_date = last purchase + threshold
-- churn_date is the day the definition is first met (the churn is known from then on), so the
-- events as known at an earlier date are exactly those with churn_date <= that date.
-- Came back: the first non-cancelled order or recurring contract start after the churn date,
-- up to the as-of date (for inactivity: the next purchase).
-- Type (DOMAIN §4 voluntary vs involuntary): the sources record no death, move, emigration or
-- bankruptcy; the one involuntary cause they show is non-payment, so a churn is involuntary
-- when an invoice issued up to the churn date was written off (as known at the as-of date) or
-- was more than var('churn_involuntary_overdue_days') days past due and unpaid on the churn date.

{%- set grace = var('churn_contract_grace_days') %}
{%- set multiplier = var('churn_inactivity_multiplier') %}
{%- set floor_days = var('churn_inactivity_floor_days') %}
{%- set cap_days = var('churn_inactivity_cap_days') %}
{%- set single_days = var('churn_single_purchase_threshold_days') %}
{%- set overdue_days = var('churn_involuntary_overdue_days') %}

with

recurring_contracts as (

    select
        contract_id,
        customer_key,
        start_date,
        end_date,
        case
            when status = 'cancelled' and cancelled_at is not null
                then {{ to_business_date('cancelled_at') }}
        end as cancelled_on

    from {{ ref('dim_contract') }}
    where
        {{ recurring_contracts_filter() }}

),

contract_customers as (

    select distinct customer_key from recurring_contracts

),

contract_ends as (

    select
        contract_id,
        customer_key,
        start_date,
        case
            when cancelled_on is not null then 'contract_cancelled' else 'contract_not_renewed'
        end as churn_basis,
        coalesce(cancelled_on, end_date) as last_active_date,
        coalesce(cancelled_on, end_date + {{ grace }}) as churn_date

    from recurring_contracts
    where cancelled_on is not null or end_date is not null

),

contract_churn as (

    select
        ends.customer_key,
        ends.churn_basis,
        ends.contract_id,
        ends.last_active_date,
        ends.churn_date,
        cast(null as integer) as threshold_days,
        cast(null as date) as next_purchase_date

    from contract_ends as ends
    where
        ends.churn_date <= {{ as_of_date() }}
        and not exists (
            select 1
            from recurring_contracts as other
            where
                other.customer_key = ends.customer_key
                and other.contract_id <> ends.contract_id
                and other.start_date <= ends.churn_date
                and (
                    other.start_date > ends.start_date
                    or coalesce(other.cancelled_on, other.end_date + {{ grace }}, date 'infinity')
                    > ends.churn_date
                )
        )

),

purchase_days as (

    select distinct
        orders.customer_key,
        orders.order_date as purchase_date

    from {{ ref('fct_orders') }} as orders
    where
        {{ valued_orders_filter() }}

),

sequenced as (

    select
        purchase_days.customer_key,
        purchase_days.purchase_date,
        row_number() over customer_window as purchase_number,
        min(purchase_days.purchase_date) over customer_window as first_purchase_date,
        lead(purchase_days.purchase_date) over customer_window as next_purchase_date

    from purchase_days
    left join contract_customers
        on purchase_days.customer_key = contract_customers.customer_key
    where contract_customers.customer_key is null
    window customer_window as (
        partition by purchase_days.customer_key order by purchase_days.purchase_date
    )

),

thresholds as (

    select
        *,
        case
            when purchase_number = 1 then {{ single_days }}
            else cast(least({{ cap_days }}, greatest({{ floor_days }}, ceil(
                {{ multiplier }} * (purchase_date - first_purchase_date)
                / cast(purchase_number - 1 as numeric)
            ))) as integer)
        end as threshold_days

    from sequenced

),

inactivity_churn as (

    select
        customer_key,
        'inactivity' as churn_basis,
        cast(null as text) as contract_id,
        purchase_date as last_active_date,
        purchase_date + threshold_days as churn_date,
        threshold_days,
        next_purchase_date

    from thresholds
    where
        purchase_date + threshold_days <= {{ as_of_date() }}
        and (next_purchase_date is null or next_purchase_date > purchase_date + threshold_days)

),

episodes as (

    select * from contract_churn
    union all
    select * from inactivity_churn

),

activity as (

    select customer_key, purchase_date as active_date from purchase_days
    union all
    select customer_key, start_date from recurring_contracts

),

returns as (

    select
        episodes.customer_key,
        episodes.churn_date,
        min(activity.active_date) as returned_on

    from episodes
    inner join activity
        on
            episodes.customer_key = activity.customer_key
            and activity.active_date > episodes.churn_date
    group by episodes.customer_key, episodes.churn_date

),

non_payment as (

    select distinct
        episodes.customer_key,
        episodes.churn_date

    from episodes
    inner join {{ ref('fct_invoices') }} as invoices
        on
            episodes.customer_key = invoices.customer_key
            and invoices.invoice_date <= episodes.churn_date
    where
        invoices.is_written_off
        or (
            invoices.due_date + {{ overdue_days }} < episodes.churn_date
            and invoices.status not in ('void')
            and (invoices.last_paid_on is null or invoices.last_paid_on > episodes.churn_date)
            and invoices.amount > coalesce(invoices.credited_amount, 0)
        )

),

final as (

    select
        cast({{ surrogate_key(['episodes.customer_key', 'episodes.churn_date', 'episodes.churn_basis', 'episodes.contract_id']) }} as text)
            as churn_event_key,
        cast(episodes.customer_key as text) as customer_key,
        cast(
            case when episodes.churn_basis = 'inactivity' then 'non_contract' else 'contract' end
            as text
        ) as customer_segment,
        cast(episodes.churn_basis as text) as churn_basis,
        cast(episodes.contract_id as text) as contract_id,
        cast(episodes.last_active_date as date) as last_active_date,
        cast(episodes.threshold_days as integer) as inactivity_threshold_days,
        cast(episodes.churn_date as date) as churn_date,
        {{ date_key('episodes.churn_date') }} as churn_date_key,
        cast(
            case when non_payment.customer_key is not null then 'involuntary' else 'voluntary' end
            as text
        ) as churn_type,
        cast(
            case when non_payment.customer_key is not null then 'non_payment' end as text
        ) as involuntary_reason,
        cast(returns.returned_on as date) as returned_on,
        returns.returned_on is not null as has_returned

    from episodes
    left join returns
        on
            episodes.customer_key = returns.customer_key
            and episodes.churn_date = returns.churn_date
    left join non_payment
        on
            episodes.customer_key = non_payment.customer_key
            and episodes.churn_date = non_payment.churn_date

)

select * from final
