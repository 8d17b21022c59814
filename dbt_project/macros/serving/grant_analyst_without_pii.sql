{#-
    Post-hook for tables holding personal data (docs/serving.md): the analyst role
    reads every column of the rebuilt table except var('pii_columns')[model name]; the masked
    versions are in marts.mart_customer_directory. Default privileges (crmwh.warehouse.roles)
    grant the whole table on creation: this narrows it to column privileges in the same
    transaction, so a nightly rebuild never exposes PII. Does nothing when the role does not
    exist (a warehouse set up without crmwh roles).
-#}
{% macro grant_analyst_without_pii() -%}
    {%- set pii = var('pii_columns', {}).get(this.identifier, []) -%}
    {%- set role = var('analyst_role', 'analyst') -%}
    do $grant$
    declare
        cols text;
    begin
        if exists (select 1 from pg_roles where rolname = '{{ role }}') then
            execute format('revoke select on %I.%I from %I', '{{ this.schema }}',
                           '{{ this.identifier }}', '{{ role }}');
            select string_agg(quote_ident(column_name), ', ' order by ordinal_position)
            into cols
            from information_schema.columns
            where table_schema = '{{ this.schema }}'
              and table_name = '{{ this.identifier }}'
              and column_name not in ('{{ pii | join("', '") }}');
            execute format('grant select (%s) on %I.%I to %I', cols, '{{ this.schema }}',
                           '{{ this.identifier }}', '{{ role }}');
        end if;
    end
    $grant$
{%- endmacro %}
