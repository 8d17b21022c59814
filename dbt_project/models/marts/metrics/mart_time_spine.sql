-- The metrics layer's time spine (MetricFlow, dbt `time_spine:`): one row per calendar day of
-- core.dim_date, the days the facts can key to. A table in marts, so the readers of the metrics
-- (bi_reader) can read it; published with the other marts.

select cast(date_day as date) as date_day
from {{ ref('dim_date') }}
