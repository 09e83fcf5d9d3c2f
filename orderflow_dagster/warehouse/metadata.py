"""Upsert Gamma market metadata and list the condition ids that still lack it."""

from __future__ import annotations

import json
from typing import Iterable

import psycopg

from orderflow_dagster.metadata.gamma import MarketMetadata


def conditions_missing_metadata(conn: psycopg.Connection, refresh_open_after_hours: float, limit: int) -> list[str]:
    """Prepared conditions with no metadata yet, or with metadata of a not-yet-closed market older than N hours."""
    rows = conn.execute(
        """
        SELECT c.condition_id
        FROM (SELECT condition_id, max(block_number) AS block_number FROM raw_conditions GROUP BY condition_id) c
        LEFT JOIN raw_market_metadata m USING (condition_id)
        WHERE m.condition_id IS NULL
           OR (coalesce(m.closed, false) = false AND m.fetched_at < now() - make_interval(secs => %s))
        ORDER BY m.fetched_at NULLS FIRST, c.block_number DESC
        LIMIT %s
        """,
        (refresh_open_after_hours * 3600, limit),
    ).fetchall()
    return [r[0] for r in rows]


def upsert_metadata(conn: psycopg.Connection, markets: Iterable[MarketMetadata]) -> int:
    rows = [
        (m.condition_id, m.question, m.slug, m.outcomes, m.clob_token_ids, m.end_date, m.closed, m.neg_risk,
         m.uma_resolution_status, m.version, json.dumps(m.payload))
        for m in markets
    ]
    if not rows:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO raw_market_metadata (condition_id, question, slug, outcomes, clob_token_ids, end_date, closed,
                                             neg_risk, uma_resolution_status, version, payload, fetched_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, now())
            ON CONFLICT (condition_id) DO UPDATE SET
                question = EXCLUDED.question, slug = EXCLUDED.slug, outcomes = EXCLUDED.outcomes,
                clob_token_ids = EXCLUDED.clob_token_ids, end_date = EXCLUDED.end_date, closed = EXCLUDED.closed,
                neg_risk = EXCLUDED.neg_risk, uma_resolution_status = EXCLUDED.uma_resolution_status,
                version = EXCLUDED.version, payload = EXCLUDED.payload, fetched_at = now()
            """,
            rows,
        )
    return len(rows)
