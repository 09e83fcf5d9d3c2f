{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='fail',
        partition_by_day='scored_at',
        pre_hook="{{ history_day_partition(this) }}",
        indexes=[
            {'columns': ['scored_at', 'wallet_address'], 'unique': true},
            {'columns': ['wallet_address']},
        ],
    )
}}
-- One row per wallet per scoring run: the score, the tier and the inputs that produced them.
-- Appended, never rewritten (a full refresh does not rebuild it); a run whose scored_at is
-- already recorded appends nothing. Partitioned by day of scored_at (history_partitions.sql):
-- a run's random index inserts stay within its own day, however long the history grows.
select
    s.wallet_address::text                       as wallet_address,
    s.scored_at::timestamptz                     as scored_at,
    s.reputation_score::numeric(6, 3)            as reputation_score,
    s.trader_tier::text                          as trader_tier,
    s.is_market_maker::boolean                   as is_market_maker,
    s.resolved_markets::bigint                   as resolved_markets,
    s.evidence_weight::double precision          as evidence_weight,
    s.mean_edge::double precision                as mean_edge,
    s.posterior_edge::double precision           as posterior_edge,
    s.posterior_edge_sd::double precision        as posterior_edge_sd,
    s.prior_mean::double precision               as prior_mean,
    s.market_edge_sd::double precision           as market_edge_sd,
    s.skill_sd::double precision                 as skill_sd,
    s.capital_at_risk_usd::numeric(38, 6)        as capital_at_risk_usd,
    '{{ invocation_id }}'::text                  as invocation_id
from {{ ref('int_wallets_scored') }} as s
{% if is_incremental() %}
where not exists (select 1 from {{ this }} as h where h.scored_at = s.scored_at)
{% endif %}
{{ in_key_order(['wallet_address']) }}
