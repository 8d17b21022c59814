{#- Customer value building blocks (rules in DOMAIN §2, §3). -#}

{#- DOMAIN §2 cost to serve: a ticket priced by its type, var('ticket_cost_by_type')
    (project default); an unknown type costs 0. -#}
{% macro ticket_cost(ticket_type) -%}
    {%- set costs = var('ticket_cost_by_type') -%}
    case {{ ticket_type }}
        {%- for kind, cost in costs.items() %}
        when '{{ kind }}' then cast({{ cost }} as numeric)
        {%- endfor %}
        else cast(0 as numeric)
    end
{%- endmacro %}

{#- DOMAIN §2 RFM score 1-5 from a percent rank in [0, 1] (ties share the lower score):
    1 + floor(5 x percent_rank), capped at 5; null stays null. Project default. -#}
{% macro rfm_score(percent_rank) -%}
    cast(
        case when ({{ percent_rank }}) is not null
            then least(5, 1 + floor(5 * ({{ percent_rank }}))) end
        as integer
    )
{%- endmacro %}

{#- DOMAIN §2 RFM named segments (project default map on the 1-5 scores; 'prospect' when the
    customer never ordered):
    champions     r >= 4, f >= 4, m >= 4
    loyal         r >= 3, f >= 4
    potential_loyalist r >= 4, f 2-3
    new           r >= 4, f = 1
    at_risk       r <= 2, f >= 3
    hibernating   r <= 2, f <= 2
    need_attention the rest (r = 3, f <= 3) -#}
{% macro rfm_segment(r, f, m) -%}
    case
        when {{ r }} is null then 'prospect'
        when {{ r }} >= 4 and {{ f }} >= 4 and {{ m }} >= 4 then 'champions'
        when {{ r }} >= 3 and {{ f }} >= 4 then 'loyal'
        when {{ r }} >= 4 and {{ f }} between 2 and 3 then 'potential_loyalist'
        when {{ r }} >= 4 and {{ f }} = 1 then 'new'
        when {{ r }} <= 2 and {{ f }} >= 3 then 'at_risk'
        when {{ r }} <= 2 then 'hibernating'
        else 'need_attention'
    end
{%- endmacro %}

{#- DOMAIN §2 value tiers [004]: key = ranks up to ceil(N x key share), ordinary = up to
    ceil(N x (key + ordinary share)), small = the rest. Shares are dbt vars (project
    defaults 5 % / 15 %). -#}
{% macro value_tier(rank, customer_count) -%}
    case
        when {{ rank }} <= ceil({{ customer_count }} * cast({{ var('value_tier_key_share') }} as numeric))
            then 'key'
        when {{ rank }} <= ceil({{ customer_count }} * (cast({{ var('value_tier_key_share') }} as numeric)
            + cast({{ var('value_tier_ordinary_share') }} as numeric)))
            then 'ordinary'
        else 'small'
    end
{%- endmacro %}

{#- DOMAIN §2 value matrix [003]: current value and potential value, each high when above its
    median over the population (split quantile: var value_matrix_split_quantile) -> develop
    (发展型, both high), maintain (维持型, current only), nurture (培育型, potential only),
    abandon (放弃型, neither). NULL without a potential value (no model fit yet).
    labels: the four names in that order (the Chinese ones by default). -#}
{% macro value_quadrant(current, potential, current_median, potential_median,
                        labels=('发展型', '维持型', '培育型', '放弃型')) -%}
    case
        when {{ potential }} is null then null
        when {{ current }} > {{ current_median }} and {{ potential }} > {{ potential_median }}
            then '{{ labels[0] }}'
        when {{ current }} > {{ current_median }} then '{{ labels[1] }}'
        when {{ potential }} > {{ potential_median }} then '{{ labels[2] }}'
        else '{{ labels[3] }}'
    end
{%- endmacro %}

{#- DOMAIN §2 customer share (penetration, not share of wallet) [000]: captured customers
    ÷ (market population x target share x reachable share). Worked example: 5,000,000 x 15 %
    x 20 % = 150,000 target; 100,000 captured -> 2/3 (tests/assert_customer_share_worked_example). -#}
{% macro customer_share(captured, population, target_share, reachable_share) -%}
    (cast({{ captured }} as numeric)
        / nullif(cast({{ population }} as numeric) * cast({{ target_share }} as numeric)
            * cast({{ reachable_share }} as numeric), 0))
{%- endmacro %}

{#- DOMAIN §2 the orders that count for value as of the as-of date (a filter on
    fct_orders): neither cancelled nor deleted, dated by then, of a known customer.
    int_customer_value__monthly and int_customer_value__profit value the same orders, and
    the churn models (DOMAIN §4) count the same orders as purchases. -#}
{% macro valued_orders_filter() -%}
        not is_cancelled
        and not is_deleted
        and order_date <= {{ as_of_date() }}
        and customer_key is not null
{%- endmacro %}

{#- DOMAIN §2 the customers valued as of the as-of date: live current customers created by
    then, or who ordered by then (an `orders` CTE of the model holding their orders).
    int_customer_value__monthly and int_customer_value__profit share this population. -#}
{% macro value_population_filter(orders_cte='orders') -%}
        is_current
        and not is_deleted
        and (
            {{ to_business_date('created_at') }} <= {{ as_of_date() }}
            or customer_key in (select {{ orders_cte }}.customer_key from {{ orders_cte }})
        )
{%- endmacro %}
