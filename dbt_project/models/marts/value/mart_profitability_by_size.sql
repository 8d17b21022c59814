-- DOMAIN §2 profitability by size band [002] ("企业发现自己的利润主要来自中等规模的客户"): margin and
-- cost to serve per sales-size band on the latest as-of date. Grain: one row per size_band of
-- mart_customer_value (bands by trailing-12-month revenue: none, small below
-- var('size_band_medium_from'), medium below var('size_band_large_from'), large; project
-- defaults). Money is trailing 12 months; net profit = gross margin - credit notes - cost to serve.

with

customers as (

    select * from {{ ref('mart_customer_value') }}

),

bands as (

    select
        as_of_date,
        size_band,
        count(*) as customers,
        sum(revenue_12m) as revenue,
        sum(gross_margin_12m) as gross_margin,
        sum(credit_notes_12m) as credit_notes,
        sum(cost_to_serve_12m) as cost_to_serve,
        sum(current_value) as net_profit

    from customers
    group by as_of_date, size_band

)

select
    cast(as_of_date as date) as as_of_date,
    cast(size_band as text) as size_band,
    cast(case size_band when 'none' then 0 when 'small' then 1 when 'medium' then 2 else 3 end
        as integer) as band_order,
    cast(customers as bigint) as customers,
    cast(revenue as numeric(18, 4)) as revenue,
    cast(gross_margin as numeric(18, 4)) as gross_margin,
    cast(round(gross_margin / nullif(revenue, 0), 6) as numeric(12, 6)) as gross_margin_rate,
    cast(credit_notes as numeric(18, 4)) as credit_notes,
    cast(cost_to_serve as numeric(18, 4)) as cost_to_serve,
    cast(net_profit as numeric(18, 4)) as net_profit,
    cast(round(net_profit / nullif(revenue, 0), 6) as numeric(12, 6)) as net_margin_rate,
    cast(round(net_profit / nullif(customers, 0), 4) as numeric(18, 4))
        as net_profit_per_customer,
    cast(round(net_profit / nullif(sum(net_profit) over (partition by as_of_date), 0), 10)
        as numeric(38, 10)) as net_profit_share

from bands
