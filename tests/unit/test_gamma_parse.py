from datetime import datetime, timezone

from orderflow_dagster.metadata.gamma import parse_market
from tests.support.gamma_server import gamma_row


def test_json_encoded_lists_and_types_are_decoded():
    row = gamma_row("0xABC" + "0" * 61, "Will it rain?", [2**255 + 7, 11], umaResolutionStatus="disputed", negRisk=True)
    m = parse_market(row)
    assert m.condition_id == "0xabc" + "0" * 61
    assert m.outcomes == ["Yes", "No"] and m.clob_token_ids == [2**255 + 7, 11]
    assert m.end_date == datetime(2026, 12, 31, 12, tzinfo=timezone.utc)
    assert m.neg_risk is True and m.uma_resolution_status == "disputed" and m.payload is row


def test_bad_fields_degrade_to_none_and_rows_without_condition_are_skipped():
    m = parse_market({"conditionId": "0x" + "1" * 64, "outcomes": "not json", "clobTokenIds": '["x"]', "endDate": "soon"})
    assert m.outcomes is None and m.clob_token_ids is None and m.end_date is None and m.question is None
    assert parse_market({"question": "no id"}) is None
