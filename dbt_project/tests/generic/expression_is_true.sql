{#-
    Fails for every row where the SQL expression is false (a null result passes, as in
    dbt_utils; pair with not_null where nulls matter).
    As a column test the expression is appended to the column: `expression: ">= 0"`.
    As a model test it is a full predicate: `expression: "net_amount = gross_amount - discount_amount"`.
    Optional `where` is handled by dbt's generic `config: where:`.
-#}
{% test expression_is_true(model, expression, column_name=None) %}

select *
from {{ model }}
{% if column_name is none %}
where not ({{ expression }})
{% else %}
where not ({{ column_name }} {{ expression }})
{% endif %}

{% endtest %}
