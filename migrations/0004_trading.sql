-- Trading: signals, the executor's positions, daily performance, and the persisted risk state.
-- Written by orderflow_dagster/trading/executor.py, always under the trading advisory lock and
-- in one transaction per decision (see the README's trading section).

-- One row per trigger trade that made a signal (or was skipped, with the reason).
CREATE TABLE orderflow_signals (
    id                  bigserial   PRIMARY KEY,
    signal_type         text        NOT NULL CHECK (signal_type IN ('WHALE_FOLLOW', 'DEGEN_FADE', 'EXIT')),
    market_title        text,
    outcome             text,                    -- name of the outcome we buy (or sell, for EXIT)
    confidence          numeric(5,4) CHECK (confidence BETWEEN 0 AND 1),
    wallet_score        numeric(6,3),            -- the trigger wallet's reputation_score at the time
    status              text        NOT NULL CHECK (status IN ('PENDING', 'EXECUTED', 'REJECTED', 'SKIPPED', 'FAILED')),
    status_reason       text,                    -- '<code>: <detail>' for REJECTED, SKIPPED, FAILED
    outcome_status      text        CHECK (outcome_status IN ('OPEN', 'WIN', 'LOSS')),  -- executed entries only
    trigger_wallet      text        NOT NULL,    -- lower-case address
    created_at          timestamptz NOT NULL DEFAULT now(),
    decided_at          timestamptz,
    -- the trigger fill (orderflow_trades key) and its market
    trigger_tx_hash     text        NOT NULL,
    trigger_log_index   integer     NOT NULL,
    trigger_block_number bigint,
    trigger_timestamp   timestamptz,
    trigger_side        text,
    trigger_price       numeric(12,6),
    trigger_usdc        numeric(20,6),
    condition_id        text        NOT NULL,
    token_id            numeric(78,0) NOT NULL,  -- the token WE trade (the complement for a fade)
    outcome_index       smallint,
    neg_risk            boolean,
    -- our order
    broker              text        CHECK (broker IN ('paper', 'live')),
    order_type          text,                    -- FOK | FAK
    order_id            text,                    -- live: the CLOB order hash, recorded before posting
    win_probability     numeric(8,6),            -- q used for Kelly sizing
    stake_usd           numeric(20,6),           -- dollars meant to spend (BUY) after every cap
    worst_price         numeric(12,6),
    our_price           numeric(12,6),           -- average fill price
    our_size            numeric(20,6),           -- shares filled
    our_cost_usd        numeric(20,6),           -- notional paid (BUY) or received (SELL), fees apart
    fee_usd             numeric(20,6),
    slippage_bps        numeric(10,2),           -- average fill price against the best level
    parent_signal_id    bigint      REFERENCES orderflow_signals (id),  -- EXIT: the entry it closes
    CONSTRAINT orderflow_signals_one_per_trigger UNIQUE (trigger_tx_hash, trigger_log_index, trigger_wallet)
);
CREATE INDEX orderflow_signals_created ON orderflow_signals (created_at);
CREATE INDEX orderflow_signals_wallet ON orderflow_signals (trigger_wallet, condition_id);
CREATE INDEX orderflow_signals_pending ON orderflow_signals (status) WHERE status = 'PENDING';
-- One entry signal per wallet and market (the executor checks first; this is the backstop).
CREATE UNIQUE INDEX orderflow_signals_one_entry_per_wallet_market ON orderflow_signals (trigger_wallet, condition_id)
    WHERE signal_type <> 'EXIT' AND status <> 'SKIPPED';

-- One row per executed entry (signal_id is unique: a signal is never executed twice).
CREATE TABLE orderflow_positions (
    id                  bigserial   PRIMARY KEY,
    signal_id           bigint      NOT NULL UNIQUE REFERENCES orderflow_signals (id),
    condition_id        text        NOT NULL,
    market_title        text,
    outcome             text,
    outcome_index       smallint,
    token_id            numeric(78,0) NOT NULL,
    broker              text        NOT NULL,
    shares              numeric(20,6) NOT NULL CHECK (shares > 0),
    entry_price         numeric(12,6) NOT NULL,
    cost_usd            numeric(20,6) NOT NULL,  -- shares * entry price
    fees_usd            numeric(20,6) NOT NULL DEFAULT 0,  -- entry and exit fees
    status              text        NOT NULL CHECK (status IN ('OPEN', 'CLOSED')),
    close_reason        text        CHECK (close_reason IN ('RESOLVED', 'EXIT')),
    exit_signal_id      bigint      REFERENCES orderflow_signals (id),
    exit_price          numeric(12,6),           -- payout per share at resolution, or the exit's average price
    realised_pnl_usd    numeric(20,6),           -- shares * exit price - cost - fees
    mark_price          numeric(12,6),           -- last traded price, while open
    unrealised_pnl_usd  numeric(20,6),
    marked_at           timestamptz,
    opened_at           timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    CHECK ((status = 'OPEN') = (closed_at IS NULL))
);
CREATE INDEX orderflow_positions_open ON orderflow_positions (condition_id) WHERE status = 'OPEN';
CREATE INDEX orderflow_positions_closed_at ON orderflow_positions (closed_at);

-- One row per UTC day, rewritten by every trading run of that day.
CREATE TABLE orderflow_performance (
    day                 date        PRIMARY KEY,
    signals             integer     NOT NULL,    -- signals created that day (every status)
    executed            integer     NOT NULL,
    rejected            integer     NOT NULL,
    skipped             integer     NOT NULL,
    failed              integer     NOT NULL,
    wins                integer     NOT NULL,    -- positions closed that day with a profit
    losses              integer     NOT NULL,
    realised_pnl_usd    numeric(20,6) NOT NULL,  -- of positions closed that day
    unrealised_pnl_usd  numeric(20,6) NOT NULL,  -- of positions open at the last run of the day
    daily_pnl_usd       numeric(20,6) NOT NULL,  -- the figure MAX_DAILY_LOSS is checked against
    equity_usd          numeric(20,6) NOT NULL,  -- BANKROLL_USD + all realised + unrealised
    peak_equity_usd     numeric(20,6) NOT NULL,
    drawdown_usd        numeric(20,6) NOT NULL,  -- peak equity so far - equity
    drawdown_pct        numeric(9,4)  NOT NULL,
    open_positions      integer     NOT NULL,
    open_exposure_usd   numeric(20,6) NOT NULL,
    paused              boolean     NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The risk state that must survive restarts: the daily-loss pause and the day's P&L baseline.
CREATE TABLE orderflow_risk_state (
    id                       smallint    PRIMARY KEY CHECK (id = 1),
    day                      date,                  -- UTC day the baseline belongs to
    day_start_unrealised_usd numeric(20,6) NOT NULL DEFAULT 0,
    paused_until             timestamptz,           -- new entries refused until then (next 00:00 UTC)
    paused_at                timestamptz,
    pause_reason             text,
    updated_at               timestamptz NOT NULL DEFAULT now()
);
INSERT INTO orderflow_risk_state (id) VALUES (1);
