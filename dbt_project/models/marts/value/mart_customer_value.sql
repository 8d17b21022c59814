-- The run's as-of date of mart_customer_value_history: one row per customer, what BI tools read
-- (DOMAIN §2, §3, §5; columns documented in _value__models.yml).

with

history as (

    select * from {{ ref('mart_customer_value_history') }}

)

select * from history
where as_of_date = {{ as_of_date() }}
