# orderflow: `make up` runs the whole pipeline, `make test` runs the test suite.
# Both install everything they need first (Python venv in .venv, anvil from npm in node_modules).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ANVIL := node_modules/.bin/anvil
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -path dbt_project/logs -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.md' -o -name '*.csv' \) -print)
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: install up test test-unit test-integration test-faults bench-ingest bench-dbt bench-latency bench-sim bench-soak bench-backfill bench-history backtest migrate status clean

install: $(STAMP) $(ANVIL) $(MANIFEST)

# the C source too: pip builds the extension in place (pyproject.toml ext-modules)
$(STAMP): pyproject.toml constraints.txt orderflow_dagster/warehouse/_copyrows.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(ANVIL): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(ANVIL)

# The dbt manifest is prepared here, never parsed at import time. `dbt parse` needs no
# database, only a renderable profile: a placeholder URL stands in when DATABASE_URL is unset.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	DATABASE_URL=$${DATABASE_URL:-postgresql://localhost/orderflow} $(BIN)/dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet
	touch $(MANIFEST)

up: install  ## start Postgres, migrations, Dagster webserver + daemon, ingestion sensor on
	$(BIN)/orderflow up

test: install  ## the whole suite: unit, integration (anvil + Postgres + Dagster), fault suite in its short form
	$(BIN)/python -m pytest -q tests -m "not faults_long"

test-faults: install  ## every fault scenario (tests/faults, about 5 min on an idle machine), then the results table
	$(BIN)/python -m pytest -q tests/faults
	$(BIN)/python -m tests.faults.report

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

test-integration: install
	$(BIN)/python -m pytest -q tests/integration

bench-ingest: install  ## 1M OrderFilled logs: decode+land vs naive web3.py vs COPY floor
	$(BIN)/python -m benchmarks.bench_ingest

bench-dbt: install  ## 5M synthetic fills COPYed into raw: full dbt build vs incremental after 50k more
	$(BIN)/python -m benchmarks.bench_dbt

bench-latency: install  ## `orderflow up` on a 2 s chain: whale fill's block time -> our paper position, p50/p95
	$(BIN)/python -m benchmarks.bench_latency

bench-sim: install  ## one simulated week (>= 150k fills): chain, ingestion, dbt, paper trading
	$(BIN)/python -m benchmarks.bench_sim

bench-soak: install  ## 20 minutes of `orderflow up` on the simulated world at 10x the live rate: lag, RSS growth, errors
	$(BIN)/python -m benchmarks.bench_soak

bench-history: install  ## one scoring run's append to a 62-day reputation history: one table vs daily partitions
	$(BIN)/python -m benchmarks.bench_history

bench-backfill: install  ## 2 simulated days in 8 block-range partitions backfilled as Dagster runs (daemon, run queue): tag limit 1 vs 2 vs 3
	$(BIN)/python -m benchmarks.bench_backfill

backtest: install  ## walk-forward evaluation: make backtest FROM=2026-01-01 TO=2026-01-31 [OUT=reports/backtest]
	$(BIN)/orderflow backtest --from $(FROM) --to $(TO) --out $(or $(OUT),reports/backtest)

migrate: install
	$(BIN)/orderflow migrate

status: install
	$(BIN)/orderflow status

clean:
	rm -rf $(VENV) node_modules .orderflow
