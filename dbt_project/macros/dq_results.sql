{#-
    Record every dbt data test and unit test (and any model, snapshot or seed that
    errored) of this invocation in audit.dq_results, the table the Great Expectations gate
    writes too (one row per check: run, as-of date, check, object, severity, observed,
    expected, status). Called by the project's on-run-end hook, so it works with cosmos's one
    dbt invocation per model: each invocation records its own results.

    The table is the warehouse's, created with the raw tables this project's sources read
    (crmwh.warehouse.ensure_schemas); the gate writes to it too.

    run_id: var('dq_run_id') (the nightly passes the Airflow run id), else dbt's invocation id.
    severity: a test configured `severity: error` (the default) is blocking, `warn` a warning.
    status: pass | fail (a warn-severity test that found rows is a failed warning) | error |
    skipped.
-#}
{% macro dq_sql_text(value) -%}
    {%- if value is none -%}null{%- else -%}'{{ (value | string)[:500] | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}

{% macro dq_object(node) -%}
    {%- set target_id = node.attached_node if node.attached_node else (node.depends_on.nodes | last) -%}
    {%- set parent = graph.nodes.get(target_id) if target_id else none -%}
    {%- if parent is none and target_id -%}
        {%- set parent = graph.sources.get(target_id) -%}
    {%- endif -%}
    {%- if parent is not none -%}
        {{ parent.schema }}.{{ parent.alias or parent.identifier or parent.name }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}

{% macro dq_record_results(results) -%}
    {%- if not execute or results is none or (results | length) == 0 -%}
        select 1
    {%- else -%}
    {%- set run_id = var('dq_run_id', none) or invocation_id -%}
    {%- set rows = [] -%}
    {%- for res in results -%}
        {%- set node = res.node -%}
        {%- set status = res.status | string | lower -%}
        {%- if node.resource_type in ('test', 'unit_test') -%}
            {%- set configured = (node.config.severity or 'error') | lower -%}
            {%- set severity = 'blocking' if configured == 'error' else 'warning' -%}
            {%- set outcome = {'pass': 'pass', 'fail': 'fail', 'warn': 'fail', 'error': 'error',
                               'skipped': 'skipped', 'success': 'pass'}.get(status, status) -%}
            {%- if node.resource_type == 'unit_test' -%}
                {%- set observed = 'passed' if outcome == 'pass' else (res.message or outcome) -%}
                {%- set expected = 'the unit test expectation' -%}
                {%- set object = node.model if node.model is defined else node.name -%}
            {%- else -%}
                {%- set observed = (res.failures | string) ~ ' failing rows' if res.failures is not none
                                   else (res.message or outcome) -%}
                {%- set expected = '0 failing rows' -%}
                {%- set object = dq_object(node) | trim -%}
            {%- endif -%}
            {%- set check = 'dbt:' ~ node.name -%}
        {%- elif status == 'error' -%}
            {%- set severity = 'blocking' -%}
            {%- set outcome = 'error' -%}
            {%- set observed = res.message -%}
            {%- set expected = node.resource_type ~ ' builds' -%}
            {%- set object = node.schema ~ '.' ~ (node.alias or node.name) -%}
            {%- set check = 'dbt:build:' ~ node.name -%}
        {%- else -%}
            {%- set outcome = none -%}
        {%- endif -%}
        {%- if outcome is not none -%}
            {%- do rows.append("(" ~ dq_sql_text(run_id) ~ ", " ~ as_of_date() ~ ", 'dbt', "
                ~ dq_sql_text(node.resource_type) ~ ", " ~ dq_sql_text(check) ~ ", "
                ~ dq_sql_text(object) ~ ", " ~ dq_sql_text(severity) ~ ", " ~ dq_sql_text(outcome)
                ~ ", " ~ dq_sql_text(observed) ~ ", " ~ dq_sql_text(expected) ~ ")") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if rows | length > 0 %}
    do $dq$ begin
      if to_regclass('audit.dq_results') is null then
        raise warning 'audit.dq_results does not exist (crmwh sets the warehouse up): % check results not recorded', {{ rows | length }};
      else
        insert into audit.dq_results
          (run_id, as_of_date, source, entity, check_name, object_name, severity, status,
           observed, expected)
        values
          {{ rows | join(',\n          ') }};
      end if;
    end $dq$;
    {%- else %}
    select 1
    {%- endif %}
    {%- endif -%}
{%- endmacro %}
