"""Print the fault suite's results as a markdown table for the README.

    python -m tests.faults.report [results.jsonl]

Reads $FAULTS_RESULTS (default .orderflow/faults/results.jsonl); the latest result of each
scenario wins, in the order scenarios first appear. Exits 1 when any scenario lost rows, landed
duplicates or breached a limit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.faults.outcome import results_path


def latest(lines: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for line in lines:
        if line.strip():
            r = json.loads(line)
            out[r["scenario"]] = r  # dicts keep first-insertion order; the value is the latest
    return out


def table(results: dict[str, dict]) -> str:
    rows = ["| scenario | injected | rows lost | duplicates | limit breaches |", "|---|---|---|---|---|"]
    for r in results.values():
        cells = [r["scenario"], r["injected"], r["rows_lost"], r["duplicates"], r["limit_breaches"]]
        rows.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else results_path()
    if not path.exists():
        print(f"no results at {path}: run `make test-faults` first", file=sys.stderr)
        return 2
    results = latest(path.read_text().splitlines())
    print(table(results))
    bad = [s for s, r in results.items() if r["rows_lost"] or r["duplicates"] or r["limit_breaches"]]
    if bad:
        print(f"\n{len(bad)} scenario(s) not clean: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
