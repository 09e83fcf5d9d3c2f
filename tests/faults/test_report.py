"""The README table printer: latest result per scenario, pipes escaped, exit 1 when a scenario is not clean."""

from __future__ import annotations

import json

from tests.faults.outcome import Result, record
from tests.faults.report import main


def test_report_prints_the_latest_result_per_scenario(tmp_path, monkeypatch, capsys):
    path = tmp_path / "results.jsonl"
    monkeypatch.setenv("FAULTS_RESULTS", str(path))
    record(Result("db: kill", "SIGKILL", rows_lost=3))
    record(Result("rpc: 429 | storm", "429s"))
    record(Result("db: kill", "SIGKILL, rerun"))  # a later run of the same scenario wins
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| scenario | injected | rows lost | duplicates | limit breaches |"
    assert lines[2:] == ["| db: kill | SIGKILL, rerun | 0 | 0 | 0 |", "| rpc: 429 \\| storm | 429s | 0 | 0 | 0 |"]

    path.write_text(path.read_text() + json.dumps({"scenario": "x", "injected": "y", "rows_lost": 0, "duplicates": 2,
                                                   "limit_breaches": 0}) + "\n")
    assert main([str(path)]) == 1 and "not clean: x" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.jsonl")]) == 2
