-- A read-only group role for analysts: SELECT on the orderflow_* tables, nothing else.
--   granted: the dbt models orderflow_* (models/marts; dbt grants SELECT on each one as it builds
--            it, see dbt_project/macros/grants.sql) and the trading outputs orderflow_signals,
--            orderflow_positions, orderflow_performance (the README's analyst queries read them);
--   not granted: raw_* (wallet-level chain data, metadata), chain_* / ingest_* state, the
--            executor's own state (orderflow_risk_state), dbt's bookkeeping tables
--            (orderflow_incremental_state, orderflow_trade_changes, ...), Dagster's tables, any write.
-- NOLOGIN: people get their own login role in the group, e.g.
--   CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE orderflow_analyst;
-- Roles belong to the whole server, so the role is created only when missing. Without the right
-- to create roles (no CREATEROLE) this migration only warns: a DBA creates the role, then runs
-- the GRANTs below by hand.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orderflow_analyst') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE WARNING 'orderflow_analyst not created: % may not create roles (see migrations/0005_analyst_role.sql)',
                current_user;
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE orderflow_analyst NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by another database's migration on the same server
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO orderflow_analyst', current_database());
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO orderflow_analyst', current_schema());
    GRANT SELECT ON orderflow_signals, orderflow_positions, orderflow_performance TO orderflow_analyst;
END
$$;
