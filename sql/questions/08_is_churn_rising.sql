-- Question (DOMAIN §7): Is churn rising?
-- Answer: monthly churn rate of all customers (DOMAIN §4 definitions, churn marts) for each
-- complete month, the change against the month before and against the average of the three
-- months before; is_rising = the month's rate is above that three-month average.
-- Mart: marts.mart_churn_monthly (breakdown 'all'). The partial as-of month is left out.
-- Columns: month_start, customers_at_start, churned_customers, churn_rate,
-- change_vs_previous_month, avg_prior_3_months, is_rising.
with monthly as (
    select
        month_start,
        customers_at_start,
        churned_customers,
        churn_rate,
        churn_rate - lag(churn_rate) over (order by month_start) as change_vs_previous_month,
        avg(churn_rate) over (order by month_start rows between 3 preceding and 1 preceding)
            as avg_prior_3_months
    from marts.mart_churn_monthly
    where breakdown = 'all' and not is_partial_month and customers_at_start > 0
)
select
    month_start,
    customers_at_start,
    churned_customers,
    churn_rate,
    change_vs_previous_month,
    avg_prior_3_months,
    churn_rate > avg_prior_3_months as is_rising
from monthly
order by month_start desc;
