{#
  Run at the start of every dbt invocation (on-run-start): the helpers the models rely on.
  Everything here is idempotent and cheap.

  - orderflow_position_step / orderflow_position: average-cost position accounting as an
    ordered aggregate (see the `position_accounting` docs block).
  - orderflow_incremental_state: per-model watermarks over the change logs.
  - orderflow_trade_changes: what each run of orderflow_trades removed and inserted, per
    (wallet, token), for the models downstream of it.
  - orderflow_key_state: what a model last used of a small dimension (token attribution,
    resolutions), so a run can find the keys that changed since.
#}
{% macro orderflow_install() %}
create schema if not exists {{ target.schema }};

create or replace function {{ target.schema }}.orderflow_position_step(
    state numeric[], delta_shares numeric, cash numeric
) returns numeric[]
language plpgsql immutable parallel safe as $fn$
-- state = {shares, cost_basis, realised_pnl, capital, shares_opened}
-- delta_shares: signed shares received (+) or given (-) by the wallet, net of share fees
-- cash: signed collateral received (+) or paid (-) by the wallet, net of collateral fees
declare
    s numeric := state[1];
    c numeric := state[2];
    r numeric := state[3];
    k numeric := state[4];
    o numeric := state[5];
    closing_cash numeric;
begin
    if delta_shares = 0 then
        -- nothing changes hands but cash (a fee eating the whole fill): it is a cost
        return array[s, c - cash, r, k - least(cash, 0), o];
    end if;
    if s = 0 or sign(s) = sign(delta_shares) then
        -- opening or adding: cost basis grows by the cash paid (shorts: by minus the proceeds)
        -- capital at risk: a long risks what it paid, a short risks 1 per share minus proceeds
        return array[
            s + delta_shares,
            c - cash,
            r,
            k + case when delta_shares > 0 then -cash else -delta_shares - cash end,
            o + abs(delta_shares)
        ];
    end if;
    if abs(delta_shares) <= abs(s) then
        -- reducing: realise against the average cost of the part closed
        return array[
            s + delta_shares,
            c - c * abs(delta_shares) / abs(s),
            r + cash - c * abs(delta_shares) / abs(s),
            k,
            o
        ];
    end if;
    -- flipping through zero: close all of it, open the rest at this fill's price
    closing_cash := cash * abs(s) / abs(delta_shares);
    return array[
        s + delta_shares,
        -(cash - closing_cash),
        r + closing_cash - c,
        k + case when s + delta_shares > 0 then -(cash - closing_cash)
                 else -(s + delta_shares) - (cash - closing_cash) end,
        o + abs(s + delta_shares)
    ];
end
$fn$;

create or replace aggregate {{ target.schema }}.orderflow_position(numeric, numeric) (
    sfunc = {{ target.schema }}.orderflow_position_step,
    stype = numeric[],
    initcond = '{0,0,0,0,0}',
    parallel = safe
);

-- The standard normal CDF (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7): Postgres 15 has no erf().
create or replace function {{ target.schema }}.orderflow_normal_cdf(x double precision)
returns double precision
language sql immutable parallel safe as $fn$
    select 0.5 * (1 + sign(s.x) * (1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
               + t * (-1.453152027 + t * 1.061405429)))) * exp(-s.x * s.x / 2)))
    from (select 1 / (1 + 0.3275911 * abs(x) / sqrt(2.0)) as t,
                 -- beyond |x| = 30 the cdf is 0 or 1 in double precision; Postgres raises on exp underflow
                 least(greatest(x, -30), 30) as x) as s
$fn$;

create table if not exists {{ target.schema }}.orderflow_incremental_state (
    model_name      text primary key,
    range_id        bigint      not null default 0,   -- newest ingest_ranges.id processed
    reorg_id        bigint      not null default 0,   -- newest chain_reorgs.id processed
    range_landed_at timestamptz,                      -- landed_at of that range (for the lookback)
    change_id       bigint      not null default 0,   -- newest orderflow_trade_changes.id processed
    identities      text[]      not null default '{}',  -- chain_identity rows seen (chain:genesis:first_seen)
    in_flight       bigint[]    not null default '{}',  -- 32-bit xids in progress when the watermark was read
    updated_at      timestamptz not null default now()
);

create table if not exists {{ target.schema }}.orderflow_trade_changes (
    id             bigserial primary key,
    changed_at     timestamptz not null default now(),
    is_reset       boolean     not null default false,  -- a full refresh of orderflow_trades: everything changed
    wallet_address text,
    token_id       numeric(78, 0),
    condition_id   text,           -- the token's market as those rows had it
    sign           smallint,       -- -1: rows removed, +1: rows inserted
    fills          bigint,
    market_fills   bigint,         -- fills that count once per match (taker fills and direct fills)
    market_usdc    numeric
);

-- When each dbt invocation started, by the database's clock: data tests check the rows stamped
-- (dbt_updated_at = now()) since then.
create table if not exists {{ target.schema }}.orderflow_dbt_invocations (
    invocation_id text primary key,
    started_at    timestamptz not null default now()
);
insert into {{ target.schema }}.orderflow_dbt_invocations (invocation_id) values ('{{ invocation_id }}')
on conflict (invocation_id) do nothing;
delete from {{ target.schema }}.orderflow_dbt_invocations where started_at < now() - interval '30 days';

alter table {{ target.schema }}.orderflow_trade_changes add column if not exists condition_id text;
-- the earliest of those rows: a token's first trade moves without re-reading its history
alter table {{ target.schema }}.orderflow_trade_changes add column if not exists first_trade_at timestamptz;

-- What each run of int_wallet_markets_accumulated removed (-1) and inserted (+1), per
-- (wallet, market), with every additive measure: int_wallets_aggregated moves by these deltas.
create table if not exists {{ target.schema }}.orderflow_wallet_market_changes (
    id                          bigserial primary key,
    changed_at                  timestamptz not null default now(),
    is_reset                    boolean     not null default false,
    wallet_address              text,
    market_key                  text,
    sign                        smallint,
    first_trade_at              timestamptz,
    last_trade_at               timestamptz,
    trades                      numeric,
    taker_trades                numeric,
    volume_usdc                 numeric,
    fees_usdc                   numeric,
    realised_pnl_usdc           numeric,
    settlement_pnl_usdc         numeric,
    capital_usdc                numeric,
    shares_bought               numeric,
    shares_sold                 numeric,
    inventory_shares            numeric,
    is_evidence                 integer,
    is_win                      integer,
    is_loss                     integer,
    evidence_pnl_usdc           numeric,
    evidence_shares             numeric,
    weight_at_epoch             numeric,
    weighted_edge_at_epoch      numeric,
    weighted_edge_sq_at_epoch   numeric
);

-- The definition each view and table_in_place model was last built from, with the relation's
-- oid: an unchanged one is kept (see materializations.sql).
create table if not exists {{ target.schema }}.orderflow_relation_state (
    relation_name text primary key,
    relation_oid  oid not null,
    fingerprint   text not null,
    recorded_at   timestamptz not null default now()
);

create table if not exists {{ target.schema }}.orderflow_key_state (
    model_name  text not null,
    key         text not null,      -- a token id, a condition id
    fingerprint text not null,      -- md5 of what the model used of it
    primary key (model_name, key)
);
{% endmacro %}


{# on-run-end: drop change-log rows every consumer has processed. #}
{% macro orderflow_prune_change_log() %}
{% set logs = {
    'orderflow_trade_changes': ['int_positions_accumulated', 'int_trades_aggregated_to_tokens', 'int_wallet_markets_accumulated'],
    'orderflow_wallet_market_changes': ['int_wallets_aggregated'],
} %}
{% for log, consumers in logs.items() %}
delete from {{ target.schema }}.{{ log }}
where id <= (
    select case when count(*) = {{ consumers | length }} then min(change_id) else 0 end
    from {{ target.schema }}.orderflow_incremental_state
    where model_name in ('{{ consumers | join("', '") }}')
);
{% endfor %}
{% endmacro %}
