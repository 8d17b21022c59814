-- Customer money as of var('as_of_date') (DOMAIN §2). Grain: one row per live customer (current
-- dim_customer version, not deleted, created on or before the as-of date or with an order by
-- then: the same population as int_customer_value__monthly's as-of month).
-- Lifetime to the as-of date: revenue and cost of goods of non-cancelled, non-deleted orders,
-- credit notes, cost to serve (tickets priced per type, var('ticket_cost_by_type')) and the
-- acquisition cost (var('acquisition_cost_per_customer'), 0 as the sources carry none);
-- net_profit = revenue - cost of goods - credit notes - cost to serve - acquisition cost
-- (DOMAIN §2 [003]).
-- Historical CLV (DOMAIN §2 [004] steps 1-4, our reading): the customer life starts at the first
-- order (the creation date when none); customer year t = 1, 2, ... covers days
-- [365(t-1), 365t) from that start (anything earlier counts in year 1, the acquisition cost
-- too); clv_historical = sum over t of net_profit_t / (1 + var('clv_discount_rate'))^t, each
-- year's profit discounted back to the start of the relationship, literally the DOMAIN formula.
-- Trend inputs for the lifecycle (DOMAIN §3): revenue in the last var('lifecycle_trend_days')
-- days and in the same number of days before; orders in the trailing 12 months.

{%- set rate = var('clv_discount_rate') %}
{%- set trend = var('lifecycle_trend_days') | int %}

with

orders as (

    select customer_key, order_date, net_revenue, cost_amount, gross_margin
    from {{ ref('fct_orders') }}
    where
        {{ valued_orders_filter() }}

),

customers as (

    select
        customer_key,
        sales_customer_id,
        customer_name,
        acquisition_channel,
        {{ to_business_date('created_at') }} as created_on

    from ({{ value_population('orders') }}) as population

),

order_stats as (

    select
        customer_key,
        count(*) as orders_count,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) filter (
            where order_date > {{ as_of_date() }} - 365
        ) as orders_12m,
        coalesce(sum(net_revenue) filter (
            where order_date > {{ as_of_date() }} - {{ trend }}
        ), 0) as revenue_recent,
        coalesce(sum(net_revenue) filter (
            where
                order_date <= {{ as_of_date() }} - {{ trend }}
                and order_date > {{ as_of_date() }} - {{ 2 * trend }}
        ), 0) as revenue_prior

    from orders
    group by customer_key

),

anchored as (

    select
        customers.*,
        coalesce(order_stats.orders_count, 0) as orders_count,
        order_stats.first_order_date,
        order_stats.last_order_date,
        coalesce(order_stats.orders_12m, 0) as orders_12m,
        coalesce(order_stats.revenue_recent, 0) as revenue_recent,
        coalesce(order_stats.revenue_prior, 0) as revenue_prior,
        coalesce(order_stats.first_order_date, customers.created_on) as life_start

    from customers
    left join order_stats on customers.customer_key = order_stats.customer_key

),

events as (

    select customer_key, order_date as event_date, net_revenue as revenue,
        cost_amount as cost_of_goods, 0 as credit_notes, 0 as cost_to_serve
    from orders
    union all
    select customer_key, issued_on, 0, 0, amount, 0
    from {{ ref('fct_credit_notes') }}
    where issued_on <= {{ as_of_date() }} and customer_key is not null
    union all
    select customer_key, created_on, 0, 0, 0, {{ ticket_cost('ticket_type') }}
    from {{ ref('fct_tickets') }}
    where created_on <= {{ as_of_date() }} and customer_key is not null

),

yearly as (

    select
        anchored.customer_key,
        greatest(1, floor((events.event_date - anchored.life_start) / 365.0) + 1) as customer_year,
        sum(events.revenue) as revenue,
        sum(events.cost_of_goods) as cost_of_goods,
        sum(events.credit_notes) as credit_notes,
        sum(events.cost_to_serve) as cost_to_serve

    from events
    inner join anchored on events.customer_key = anchored.customer_key
    group by 1, 2

),

lifetime as (

    select
        customer_key,
        sum(revenue) as revenue,
        sum(cost_of_goods) as cost_of_goods,
        sum(credit_notes) as credit_notes,
        sum(cost_to_serve) as cost_to_serve,
        sum(
            (revenue - cost_of_goods - credit_notes - cost_to_serve
                - case when customer_year = 1
                    then cast({{ var('acquisition_cost_per_customer') }} as numeric) else 0 end)
            / power(1 + cast({{ rate }} as numeric), customer_year)
        ) as clv_historical,
        bool_or(customer_year = 1) as has_year_one

    from yearly
    group by customer_key

),

final as (

    select
        anchored.customer_key,
        anchored.sales_customer_id,
        anchored.customer_name,
        anchored.acquisition_channel,
        anchored.created_on,
        anchored.orders_count,
        anchored.first_order_date,
        anchored.last_order_date,
        anchored.orders_12m,
        anchored.revenue_recent,
        anchored.revenue_prior,
        coalesce(lifetime.revenue, 0) as revenue,
        coalesce(lifetime.cost_of_goods, 0) as cost_of_goods,
        coalesce(lifetime.revenue, 0) - coalesce(lifetime.cost_of_goods, 0) as gross_margin,
        coalesce(lifetime.credit_notes, 0) as credit_notes,
        coalesce(lifetime.cost_to_serve, 0) as cost_to_serve,
        cast({{ var('acquisition_cost_per_customer') }} as numeric) as acquisition_cost,
        coalesce(lifetime.revenue, 0) - coalesce(lifetime.cost_of_goods, 0)
        - coalesce(lifetime.credit_notes, 0) - coalesce(lifetime.cost_to_serve, 0)
        - cast({{ var('acquisition_cost_per_customer') }} as numeric) as net_profit,
        -- a customer with no events at all still carries its acquisition cost in year 1
        round(
            case
                when coalesce(lifetime.has_year_one, false) then lifetime.clv_historical
                else coalesce(lifetime.clv_historical, 0)
                    - cast({{ var('acquisition_cost_per_customer') }} as numeric)
                    / (1 + cast({{ rate }} as numeric))
            end,
            4
        ) as clv_historical

    from anchored
    left join lifetime on anchored.customer_key = lifetime.customer_key

)

select * from final
