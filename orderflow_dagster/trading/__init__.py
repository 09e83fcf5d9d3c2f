"""Trading: signals, risk, sizing, brokers, settlement, performance, alerts (plain Python, no Dagster)."""
