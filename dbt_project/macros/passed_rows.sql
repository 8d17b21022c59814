{#-
    A raw table as staging may read it: the rows of batches that passed their quality gate.
    A batch is recorded in audit.load_batches as it lands, gate_state 'pending', and the gate
    sets it to 'passed' or 'rejected' (a rejected batch's rows leave raw for quarantine); the
    nightly gates every pending batch before dbt, whichever run landed it. An anti-join, so a
    handful of pending batches cost one hash of them, never a subquery per row. The batch
    table is named, not a dbt source: a unit test's fixture rows belong to no batch, and pass.
-#}
{% macro passed_rows(relation) -%}
    select raw_rows.*
    from {{ relation }} as raw_rows
    where not exists (
        select 1 from audit.load_batches as b
        where b.batch_id = raw_rows._batch_id and b.gate_state <> 'passed'
    )
{%- endmacro %}
