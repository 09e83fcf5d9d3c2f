{#
  The reputation formula, in one place (documented in the `reputation_formula` docs block,
  models/docs.md). int_wallets_aggregated builds each wallet's evidence with the first three
  macros; int_wallets_scored turns it into a score and a tier with the rest.
#}

{# The scoring time: var scored_at when pinned (tests, reruns), else the run's start. #}
{% macro scored_at() -%}
    {%- if var('scored_at', none) is not none -%}
        '{{ var("scored_at") }}'::timestamptz
    {%- else -%}
        '{{ run_started_at.isoformat() }}'::timestamptz
    {%- endif -%}
{%- endmacro %}

{# Edge per share of one resolved market: P&L after fees over the shares opened, in [-1, 1]. #}
{% macro market_edge(total_pnl, shares_opened) -%}
    greatest(-{{ var('edge_clip') }}, least({{ var('edge_clip') }},
        ({{ total_pnl }}) / nullif({{ shares_opened }}, 0)))::double precision
{%- endmacro %}

{#
  Weight of a market's evidence: halves every evidence_half_life_days after its resolution,
  w = 0.5 ^ ((scored_at - resolved_at) / H). Factored as 2 ^ ((resolved_at - epoch) / H), stored
  per market when the wallet's aggregates are built (it never changes), times
  0.5 ^ ((scored_at - epoch) / H), applied at scoring: so the stored sums stay valid as time
  passes and only touched wallets are rebuilt. (A market resolved after scored_at would weigh
  more than 1: only a scored_at pinned in the past can see one.)
#}
{% macro evidence_weight_at_epoch(resolved_at) -%}
    power(2.0::double precision,
          extract(epoch from ({{ resolved_at }} - '{{ var("evidence_epoch") }}'::timestamptz)) / 86400.0
          / {{ var('evidence_half_life_days') }})
{%- endmacro %}

{% macro decay_since_epoch() -%}
    power(0.5::double precision,
          extract(epoch from ({{ scored_at() }} - '{{ var("evidence_epoch") }}'::timestamptz)) / 86400.0
          / {{ var('evidence_half_life_days') }})
{%- endmacro %}

{# Shrinkage factor B = sigma2 / (sigma2 + n * P), P the prior variance: the prior's share of the posterior mean. #}
{% macro shrinkage(n, sigma2, tau2) -%}
    (({{ sigma2 }}) / (({{ sigma2 }}) + ({{ n }}) * ({{ tau2 }})))
{%- endmacro %}

{# Posterior variance of a wallet's true edge: 1 / (1/P + n/sigma2). #}
{% macro posterior_variance(n, sigma2, tau2) -%}
    (1.0 / (1.0 / ({{ tau2 }}) + ({{ n }}) / ({{ sigma2 }})))
{%- endmacro %}

{# 0-10: ten times the posterior probability that the wallet's true edge beats the hurdle. #}
{% macro reputation_score(posterior_edge, posterior_variance) -%}
    round((10 * {{ target.schema }}.orderflow_normal_cdf(
        (({{ posterior_edge }}) - {{ var('edge_hurdle') }}) / sqrt({{ posterior_variance }})))::numeric, 3)
{%- endmacro %}

{# Two-sided, high-frequency, near-zero inventory, and mostly the maker: an informed trader who buys
   before news and sells after is two-sided and flat too, but takes liquidity rather than giving it. #}
{% macro is_market_maker(trades, trades_per_day, two_sided_ratio, inventory_ratio, taker_trades) -%}
    coalesce(
        {{ trades }} >= {{ var('mm_min_trades') }}
        and {{ taker_trades }} <= {{ var('mm_max_taker_share') }} * {{ trades }}
        and {{ trades_per_day }} >= {{ var('mm_min_trades_per_day') }}
        and {{ two_sided_ratio }} >= {{ var('mm_min_two_sided_ratio') }}
        and {{ inventory_ratio }} <= {{ var('mm_max_inventory_ratio') }},
        false)
{%- endmacro %}

{# Tiers, first match wins: market makers never reach WHALE or SMART. #}
{% macro trader_tier(score, is_market_maker, capital_at_risk_usd) -%}
    case
        when {{ is_market_maker }} then 'MARKET_MAKER'
        when {{ score }} is null then 'UNRATED'
        when {{ score }} >= {{ var('whale_min_score') }}
             and {{ capital_at_risk_usd }} >= {{ var('whale_min_capital_usd') }} then 'WHALE'
        when {{ score }} >= {{ var('smart_min_score') }} then 'SMART'
        when {{ score }} <= {{ var('degen_max_score') }} then 'DEGEN'
        else 'NEUTRAL'
    end
{%- endmacro %}
