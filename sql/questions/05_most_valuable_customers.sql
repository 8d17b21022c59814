-- Question (DOMAIN §7): Who are the most valuable customers, and why?
-- Answer: the top 20 by value rank (DOMAIN §2: net profit of the trailing 12 months = gross
-- margin - credit notes - cost to serve), with the why: what they buy and earn us, what they
-- cost, how they buy (RFM segment, orders), what they may still bring (predicted CLV,
-- current x potential quadrant) and their tier and share of all value.
-- Mart: marts.mart_customer_value (one row per customer, latest as-of date). Top N = the filter
-- value_rank <= N (a plain column a BI tool sets, not a LIMIT it rewrites).
-- Columns: value_rank, customer_key, customer_name, value_tier, value_share, net_profit_12m,
-- revenue_12m, gross_margin_12m, credit_notes_12m, cost_to_serve_12m, orders_12m,
-- rfm_segment, value_quadrant_en, lifecycle_stage, clv_predicted, acquisition_channel.
select
    value_rank,
    customer_key,
    customer_name,
    value_tier,
    value_share,
    gross_margin_12m - credit_notes_12m - cost_to_serve_12m as net_profit_12m,
    revenue_12m,
    gross_margin_12m,
    credit_notes_12m,
    cost_to_serve_12m,
    orders_12m,
    rfm_segment,
    value_quadrant_en,
    lifecycle_stage,
    clv_predicted,
    acquisition_channel
from marts.mart_customer_value
where value_rank <= 20
order by value_rank;
