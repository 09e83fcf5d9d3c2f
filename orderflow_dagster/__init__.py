"""orderflow: a smart-money pipeline for Polymarket (Dagster + dbt + Postgres)."""
