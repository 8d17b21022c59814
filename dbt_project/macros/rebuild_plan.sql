{#-
    Incremental models that rebuild only the parts whose inputs changed
    (int_churn__customer_months) keep, beside their table, what each part was built from: the
    table <model>__inputs in the model's schema, one row per part:
      part         'month' (key = its month_start, YYYY-MM-DD) or 'customer' (key = customer_key)
      fingerprint  of the inputs the part's rows are computed from (fingerprint_of; the model
                   says which inputs and adds what else they depend on, such as the period end)
      rebuild      the last run (re)built the part
    A fingerprint is computed from the inputs, never from a date the data says it changed on,
    so late rows, released parked rows, cancellations, deletions and identity changes all show.
-#}

{#- The relation holding a model's part fingerprints. -#}
{% macro inputs_relation(model_relation) -%}
    {{ return(model_relation.incorporate(path={'identifier': model_relation.identifier ~ '__inputs'})) }}
{%- endmacro %}

{#- A 64-bit hash of one input row (the listed expressions). -#}
{% macro row_hash(expressions) -%}
    hashtextextended(cast(row({{ expressions | join(', ') }}) as text), 0)
{%- endmacro %}

{#- The fingerprint of a part: count and sum of its rows' hashes (an aggregate, so the rows'
    order does not matter; null hashes are left out), then the listed extras (as text). -#}
{% macro fingerprint_of(hash, extras=[]) -%}
    concat_ws(':', count({{ hash }}), coalesce(sum({{ hash }}), 0)
        {%- for extra in extras %}, {{ extra }}{% endfor %})
{%- endmacro %}

{#- A model's recipe: the vars it reads and its own SQL. A change to either changes every
    fingerprint, so the next run rebuilds everything (a change to a macro it calls does not:
    run it with --full-refresh). -#}
{% macro recipe(var_names) -%}
    {%- set values = [] -%}
    {%- for name in var_names -%}
        {%- do values.append(name ~ '=' ~ (var(name) | string)) -%}
    {%- endfor -%}
    '{{ local_md5(model.raw_code ~ values | join(';')) }}'
{%- endmacro %}

{#- The model's pre-hook (in its transaction). `fingerprints`: a query of (part, key,
    fingerprint, compared) for the inputs now: `fingerprint` is stored for the next run,
    `compared` is compared with the stored one (the same, unless the part's fingerprint covers a
    span that moved since: see int_churn__customer_months). A part changed when the two differ,
    it is new, or it is gone (a customer left, the months after an earlier as-of date). Rebuilt:
    every month from the first one that changed (a month's rows depend on the months before it)
    or from `rebuild_from` (a SQL date), if earlier, and every customer that changed (all its
    months). On an
    incremental run their rows are deleted here and the model's SQL builds the parts marked
    `rebuild`; a full build rebuilds all. The new fingerprints replace the stored ones; without
    stored ones everything is rebuilt. -#}
{% macro rebuild_plan(fingerprints, rebuild_from) -%}
    {%- set inputs = inputs_relation(this) -%}
    {%- set plan = this.identifier ~ '__plan' -%}
    create table if not exists {{ inputs }} (
        part text not null,
        key text not null,
        fingerprint text not null,
        rebuild boolean not null
    );
    create temporary table {{ plan }} on commit drop as
    with
    now_built as (
        {{ fingerprints }}
    ),
    compared as (
        select
            coalesce(now_built.part, stored.part) as part,
            coalesce(now_built.key, stored.key) as key,
            now_built.fingerprint,
            now_built.compared is distinct from stored.fingerprint as changed
        from now_built
        full join {{ inputs }} as stored
            on now_built.part = stored.part and now_built.key = stored.key
    ),
    first_month as (
        select least(
            (select min(key) from compared where part = 'month' and changed),
            to_char({{ rebuild_from }}, 'YYYY-MM-DD')
        ) as key
    )
    select
        compared.*,
        coalesce(
            case
                when compared.part = 'month' then compared.key >= first_month.key
                else compared.changed
            end,
            false
        ) as rebuild
    from compared
    cross join first_month;
    {%- if is_incremental() %}
    {#- two deletes, not one with `or customer_key in (select ...)`: that SubPlan is hashed
        only while the changed customers fit work_mem (else run once per row) #}
    delete from {{ this }}
    where month_start >= (
        select cast(min(key) as date) from {{ plan }} where part = 'month' and rebuild
    );
    delete from {{ this }} as stored
    using (select distinct key from {{ plan }} where part = 'customer' and changed) as changed
    where stored.customer_key = changed.key;
    {%- endif %}
    delete from {{ inputs }};
    insert into {{ inputs }} (part, key, fingerprint, rebuild)
    select part, key, fingerprint, {{ 'rebuild' if is_incremental() else 'true' }}
    from {{ plan }}
    where fingerprint is not null
{%- endmacro %}

{#- In an incremental model's SQL: the keys of the parts this run rebuilds. -#}
{% macro rebuilt_parts(part) -%}
    select key from {{ inputs_relation(this) }} where part = '{{ part }}' and rebuild
{%- endmacro %}
