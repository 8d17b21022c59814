{#-
    A DOMAIN §5 business rule holds on the as-of date when the violations model has
    no row for it on that date. Configure `severity: warn` (business findings are reported
    and never stop the run); the number of failing rows (violations) goes to
    audit.dq_results through the on-run-end hook.
-#}
{% test business_rule_holds(model, rule_name) %}
    select * from {{ model }}
    where as_of_date = {{ as_of_date() }}
      and rule_name = '{{ rule_name }}'
{% endtest %}
