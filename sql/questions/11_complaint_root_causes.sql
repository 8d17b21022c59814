-- Question (DOMAIN §6): What are complaints about, and which cause is growing?
-- Answer: for the last complete month, each root cause's complaints, share of the month's
-- complaints, change of that share against the month before and against the three months
-- before (is_rising); largest first.
-- Mart: marts.mart_service_root_causes.
-- Columns: month_start, root_cause, complaints, complaint_share,
-- share_change_vs_previous_month, avg_share_prior_3_months, is_rising.
select
    month_start,
    root_cause,
    complaints,
    complaint_share,
    share_change_vs_previous_month,
    avg_share_prior_3_months,
    is_rising
from marts.mart_service_root_causes
where month_start = (select max(month_start) from marts.mart_service_root_causes
                     where not is_partial_month)
order by complaints desc, root_cause;
