{# Raw uint256 amounts carry 6 decimals (collateral and outcome shares alike): scale exactly. #}
{% macro scale_6(column) -%}
    ({{ column }} / 1000000)::numeric(78, 6)
{%- endmacro %}

