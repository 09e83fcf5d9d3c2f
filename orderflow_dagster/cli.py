"""`orderflow` command line: up, migrate, ingest, backfill, status, backtest.

Every command reads the same settings (DATABASE_URL, POLYGON_RPC_URL, ...) as the Dagster code.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from orderflow_dagster.settings import ConfigError, load_settings

log = logging.getLogger("orderflow")


# What a command started and stops when it ends (main() closes it).
_CLEANUP = contextlib.ExitStack()


def _database_url(settings) -> str:
    """DATABASE_URL; else the embedded server in ORDERFLOW_HOME: the one `orderflow up` runs, or,
    when none runs, one started for this command alone (the same data, stopped when it ends)."""
    if settings.database_url:
        return settings.database_url
    from orderflow_dagster.warehouse.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(settings.embedded_pg_dir)
    url = pg.running_url()
    if url is None:
        print(f"postgres     starting the embedded server in {settings.embedded_pg_dir} for this command "
              "(DATABASE_URL is unset; `make up` keeps one running)", file=sys.stderr, flush=True)
        url = pg.start()
        _CLEANUP.callback(lambda: pg.started_here and pg.stop())  # not one another process started meanwhile
    return url


def cmd_migrate(args, settings) -> int:
    from orderflow_dagster.warehouse.migrate import apply_migrations

    applied = apply_migrations(_database_url(settings))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'up to date'}")
    return 0


def cmd_ingest(args, settings) -> int:
    from orderflow_dagster.ingest import Ingestor
    from orderflow_dagster.warehouse.migrate import apply_migrations

    url = _database_url(settings)
    apply_migrations(url)
    ingestor = Ingestor(settings, url)
    to_block = ingestor.client.block_number() if args.to_block == "latest" else int(args.to_block)
    result = ingestor.backfill(args.from_block, to_block)
    print(
        f"landed blocks {result.from_block}-{result.to_block}: {result.logs} logs, {result.fills} fills, "
        f"{result.quarantined} quarantined in {result.seconds:.1f} s ({result.fills_per_second:,.0f} fills/s)"
        if result.from_block is not None else f"nothing to land: head {result.head_block} is below {args.from_block}"
    )
    return 0


def cmd_status(args, settings) -> int:
    from orderflow_dagster.status import collect_status, format_status

    print(format_status(collect_status(settings, _database_url(settings))))
    return 0


def cmd_fast_path(args, settings) -> int:
    import threading

    from orderflow_dagster.fastpath import run_fast_path

    stop = threading.Event()
    try:
        run_fast_path(settings, _database_url(settings), stop, args.poll or settings.fast_path_poll_seconds)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_backtest(args, settings) -> int:
    from pathlib import Path

    from orderflow_dagster.backtest.run import period, run_backtest
    from orderflow_dagster.trading.config import load_trading_settings

    try:
        start, end = period(args.from_date, args.to_date)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    report = run_backtest(_database_url(settings), start, end, Path(args.out), load_trading_settings(),
                          n_resamples=args.resamples, stake_usd=args.stake, seed=args.seed)
    print(report.markdown)
    print(f"report, equity curves, calibration plot and fills in {args.out}")
    return 0


def cmd_up(args, settings) -> int:
    from orderflow_dagster.up import run_up

    return run_up(settings)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="orderflow", description="Polymarket smart-money pipeline")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start Postgres, the chain (local if POLYGON_RPC_URL is unset), Dagster; ingest")
    sub.add_parser("migrate", help="apply pending migrations")
    ing = sub.add_parser("ingest", help="land one block range once, without the daemon")
    ing.add_argument("--from-block", type=int, required=True)
    ing.add_argument("--to-block", required=True, help="a block number or 'latest'")
    sub.add_parser("status", help="cursor, lag to head, rows per table, last reorg")
    fp = sub.add_parser("fast-path", help="land each new block and trade on it at once (what `up` runs), until Ctrl-C")
    fp.add_argument("--poll", type=float, default=None, help="seconds between head polls (FAST_PATH_POLL_SECONDS)")
    bt = sub.add_parser("backtest", help="walk-forward evaluation of the strategies over a period (UTC days)")
    bt.add_argument("--from", dest="from_date", required=True, help="first day, YYYY-MM-DD")
    bt.add_argument("--to", dest="to_date", required=True, help="last day (included), YYYY-MM-DD")
    bt.add_argument("--out", required=True, help="directory for report.md, the PNGs and the CSVs")
    bt.add_argument("--stake", type=float, default=100.0, help="USD per entry (default 100)")
    bt.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    bt.add_argument("--seed", type=int, default=0, help="seed of the random-wallets control and the bootstrap")
    return p


COMMANDS = {"fast-path": cmd_fast_path, "up": cmd_up, "migrate": cmd_migrate, "ingest": cmd_ingest, "status": cmd_status,
            "backtest": cmd_backtest}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per RPC call drowns the progress
    # Dagster's Postgres storage checks its schema with alembic at start: a dozen INFO lines of
    # plugin set-up in `make up`'s output, none of them news (its warnings still show)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # yoyo logs every step of every migration on a new database; migrate.py names each one applied
    logging.getLogger("yoyo").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "ingest" and args.to_block != "latest" and not args.to_block.isdigit():
            raise ConfigError(f"--to-block must be a block number or 'latest', not {args.to_block!r}")
        with _CLEANUP:
            return COMMANDS[args.command](args, settings)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
