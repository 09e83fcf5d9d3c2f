{# A view: its two readers, orderflow_wallet_stats and orderflow_reputation_history, build side by
   side and each scores the wallets itself; as a table it was one more step on the scoring run's
   critical path (written, analysed, then read twice): 4.6 s -> 3.8-4.1 s from the wallets'
   aggregates to wallet stats at 200,000 wallets (README, bench-dbt). #}
{{ config(materialized='view') }}
-- The reputation score and tier of every wallet (the formula: `reputation_formula`).
-- Empirical Bayes: each wallet's decayed mean edge per share is shrunk toward the population's,
-- by how much evidence it has against how much true skill varies between wallets; the score is
-- ten times the posterior probability that its true edge beats the hurdle.
with evidence as (
    -- the stored weights are at the epoch: bring them to the scoring time. Narrow on purpose:
    -- this is materialised (read for the prior and per wallet), and copying every column of
    -- the wallets into it was half the model's time (1.1-1.5 s -> 0.65-0.8 s at 200,000 wallets)
    select
        wallet_address,
        resolved_markets,
        evidence_weight_at_epoch::double precision * {{ decay_since_epoch() }}       as evidence_weight,
        weighted_edge_sum_at_epoch::double precision * {{ decay_since_epoch() }}     as weighted_edge_sum,
        weighted_edge_sq_sum_at_epoch::double precision * {{ decay_since_epoch() }}  as weighted_edge_sq_sum
    from {{ ref('int_wallets_aggregated') }}
),

prior_wallets as (
    -- the population the prior is estimated from: wallets with a little history at least
    select evidence_weight, weighted_edge_sum, weighted_edge_sq_sum,
           weighted_edge_sum / evidence_weight                                     as mean_edge
    from evidence
    where resolved_markets >= {{ var('prior_min_markets') }} and evidence_weight > 0
),

population as (
    -- mu: pooled mean edge; sigma2: pooled within-wallet variance of one market's edge;
    -- tau2: between-wallet variance of true edges, by the method of moments
    -- (Var(mean_edge) = tau2 + E[sigma2 / n]), floored at prior_min_skill_sd^2
    select
        coalesce(sum(weighted_edge_sum) / nullif(sum(evidence_weight), 0), 0)              as prior_mean,
        greatest(
            coalesce(sum(weighted_edge_sq_sum - weighted_edge_sum * weighted_edge_sum / evidence_weight)
                     / nullif(sum(evidence_weight), 0), 0),
            {{ var('min_market_edge_sd') }} ^ 2
        )                                                                                  as sigma2,
        count(*)                                                                           as prior_wallets,
        coalesce(sum(evidence_weight), 0)                                                  as total_weight,
        coalesce(sum(evidence_weight * evidence_weight), 0)                                as total_weight_sq
    from prior_wallets
),

between_wallets as (
    select
        greatest(
            coalesce(var_pop(w.mean_edge) - avg(p.sigma2 / w.evidence_weight), 0),
            {{ var('prior_min_skill_sd') }} ^ 2
        )                                                                                  as tau2
    from prior_wallets as w
    cross join population as p
),

prior as (
    -- the prior of a wallet's true edge: N(mu, tau2 + Var(mu)). mu is itself an estimate:
    -- Var(mu) = sigma2 / N + tau2 * sum(n^2) / N^2 (N = sum(n)), which matters while the
    -- population is small and vanishes as it grows
    select
        p.prior_mean,
        p.sigma2,
        b.tau2,
        b.tau2 + case when p.total_weight > 0
                      then p.sigma2 / p.total_weight + b.tau2 * p.total_weight_sq / (p.total_weight ^ 2)
                      else b.tau2 end                                                      as prior_variance
    from population as p
    cross join between_wallets as b
),

wallets as (
    -- the per-wallet measures, computed once, as each wallet is scored
    select
        e.*,
        e.weighted_edge_sum / nullif(e.evidence_weight, 0)                           as mean_edge,
        a.trades,
        a.taker_trades,
        a.trades / greatest(1.0, extract(epoch from (a.last_trade_at - a.first_trade_at)) / 86400.0)
                                                                             as trades_per_day,
        least(a.shares_bought, a.shares_sold) / nullif(greatest(a.shares_bought, a.shares_sold), 0)
                                                                             as two_sided_ratio,
        a.inventory_shares / nullif(greatest(a.shares_bought, a.shares_sold), 0)  as inventory_ratio,
        a.capital_usdc / nullif(a.markets_traded, 0)                         as capital_at_risk_usd
    from evidence as e
    join {{ ref('int_wallets_aggregated') }} as a on a.wallet_address = e.wallet_address
),

posterior as (
    select
        w.*,
        p.prior_mean,
        p.sigma2,
        p.tau2,
        case when w.evidence_weight > 0 then
            {{ shrinkage('w.evidence_weight', 'p.sigma2', 'p.prior_variance') }} * p.prior_mean
            + (1 - {{ shrinkage('w.evidence_weight', 'p.sigma2', 'p.prior_variance') }}) * w.mean_edge
        else p.prior_mean end                                                              as posterior_edge,
        {{ posterior_variance('w.evidence_weight', 'p.sigma2', 'p.prior_variance') }}      as posterior_variance
    from wallets as w
    cross join prior as p
),

scored as (
    select
        *,
        case when resolved_markets >= {{ var('min_resolved_markets') }}
             then {{ reputation_score('posterior_edge', 'posterior_variance') }} end       as reputation_score,
        {{ is_market_maker('trades', 'trades_per_day', 'two_sided_ratio', 'inventory_ratio', 'taker_trades') }}
                                                                                           as is_market_maker
    from posterior
)

select
    wallet_address,
    reputation_score,
    {{ trader_tier('reputation_score', 'is_market_maker', 'capital_at_risk_usd') }}       as trader_tier,
    is_market_maker,
    resolved_markets,
    evidence_weight,
    mean_edge,
    posterior_edge,
    sqrt(posterior_variance)                                                               as posterior_edge_sd,
    prior_mean,
    sqrt(sigma2)                                                                           as market_edge_sd,
    sqrt(tau2)                                                                             as skill_sd,
    capital_at_risk_usd,
    trades_per_day,
    two_sided_ratio,
    inventory_ratio,
    {{ scored_at() }}                                                                      as scored_at
from scored
