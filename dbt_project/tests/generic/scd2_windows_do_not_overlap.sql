{#-
    SCD type 2 validity windows of the same durable key must not overlap: each version ends
    (valid_to) no later than the next one starts, and at most one version is open (valid_to
    null). Fails with the offending pairs.
-#}
{% test scd2_windows_do_not_overlap(model, key, valid_from='valid_from', valid_to='valid_to') %}

with versions as (

    select
        {{ key }} as durable_key,
        {{ valid_from }} as valid_from,
        {{ valid_to }} as valid_to,
        lead({{ valid_from }}) over (
            partition by {{ key }} order by {{ valid_from }}
        ) as next_valid_from

    from {{ model }}

)

select *
from versions
where
    (next_valid_from is not null and (valid_to is null or valid_to > next_valid_from))

{% endtest %}
