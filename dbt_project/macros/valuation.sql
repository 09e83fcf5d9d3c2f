{# How a position is valued, in one place (see `position_accounting`). #}

{# The value of one share of outcome i of a resolved market: payoutNumerators[i] / sum(payoutNumerators). #}
{% macro payout_per_share(payout_fractions, outcome_index) -%}
    ({{ payout_fractions }})[{{ outcome_index }} + 1]::numeric(38, 20)
{%- endmacro %}

{# Resolved: what the shares held pay. #}
{% macro settlement_value(shares, payout_per_share) -%}
    ({{ shares }} * {{ payout_per_share }})
{%- endmacro %}

{# Open: the shares held at the token's mark (int_tokens_marked). #}
{% macro market_value(shares, mark_price) -%}
    ({{ shares }} * {{ mark_price }})
{%- endmacro %}
