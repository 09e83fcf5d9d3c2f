"""Pure parts of the simulator: the emitter's assembler and calldata, event encoders, CTF ids."""

from __future__ import annotations

import pytest
from eth_abi import decode
from eth_abi.packed import encode_packed
from eth_utils import keccak

from orderflow_dagster.chain.contracts import EVENTS, EVENTS_BY_KEY, NEGRISK_WRAPPED_COLLATERAL, USDC_E
from orderflow_dagster.simulator.emitter import (
    EMITTER_BYTECODE,
    OPCODES,
    Label,
    Push,
    Ref,
    assemble,
    disassemble,
    encode_records,
    push_bytes,
)
from orderflow_dagster.chain.ctf_ids import (
    ALT_BN128_P,
    ZERO32,
    collection_id,
    condition_id,
    outcome_token_id,
    position_id,
)
from orderflow_dagster.simulator.events import encode_log, encode_topic
from orderflow_dagster.simulator.replayer import Fill, Side, fill_log, matched_log, v1_fee, v2_fee

# A real Polymarket market (Gamma API row): "Bitcoin Up or Down - December 31, 12:00PM-12:15PM ET",
# negRisk false, so its tokens are backed by USDC.e.
REAL_CONDITION_ID = "0x2e6af11e4b853b05ba7135239b21d77e808889b6ce1e735de856c94c4e5b5fce"
REAL_CLOB_TOKEN_IDS = (
    8851848546962572193739008211889046036776198486765606333032192644001246174440,
    10181859819235412241349111952383458602722012323104397550162049365057126390549,
)

ADDRESS_A = "0x" + "ab" * 20
ADDRESS_B = "0x" + "cd" * 20
HASH_A = "0x" + "11" * 32


# --- assembler ---------------------------------------------------------------------------

def test_push_uses_the_smallest_width_and_never_push0():
    assert push_bytes(0) == bytes([OPCODES["PUSH1"], 0])
    assert push_bytes(0xFF) == bytes([OPCODES["PUSH1"], 0xFF])
    assert push_bytes(0x100) == bytes([OPCODES["PUSH2"], 0x01, 0x00])
    assert push_bytes(2**256 - 1) == bytes([OPCODES["PUSH32"]]) + b"\xff" * 32
    with pytest.raises(ValueError):
        push_bytes(2**256)


def test_labels_resolve_to_their_jumpdest_offsets():
    code = assemble([Ref("end"), "JUMP", Push(0x1234), "POP", Label("end"), "STOP"])
    # PUSH2 0x0008, JUMP, PUSH2 0x1234, POP, JUMPDEST (offset 8), STOP
    assert code.hex() == "610008" + "56" + "611234" + "50" + "5b" + "00"


def test_duplicate_labels_are_rejected():
    with pytest.raises(ValueError):
        assemble([Label("x"), Label("x")])


def test_every_jump_in_the_emitter_lands_on_a_jumpdest():
    instructions = disassemble(EMITTER_BYTECODE)
    jumpdests = {pc for pc, name, _ in instructions if name == "JUMPDEST"}
    jumps = [(prev, ins) for prev, ins in zip(instructions, instructions[1:]) if ins[1] in ("JUMP", "JUMPI")]
    assert len(jumps) >= 10  # loop exit, bounds check, 5 dispatch branches, 5 loop-backs
    for (_, push_name, target), _ in jumps:
        assert push_name == "PUSH2", "every jump target is a pushed label"
        assert target in jumpdests


def test_emitter_uses_only_known_opcodes_and_log0_to_log4():
    names = [name for _, name, _ in disassemble(EMITTER_BYTECODE)]
    assert not [n for n in names if n.startswith("INVALID")]
    assert {"LOG0", "LOG1", "LOG2", "LOG3", "LOG4"} <= set(names)
    assert "PUSH0" not in names


# --- calldata records --------------------------------------------------------------------

def test_encode_records_layout():
    topic0, topic1 = b"\x01" * 32, "0x" + "02" * 32
    calldata = encode_records([([topic0, topic1], b"\xaa\xbb\xcc"), ([], b"")])
    assert calldata[0] == 2
    assert calldata[1:3] == (3).to_bytes(2, "big")
    assert calldata[3:35] == topic0
    assert calldata[35:67] == bytes.fromhex("02" * 32)
    assert calldata[67:70] == b"\xaa\xbb\xcc"
    assert calldata[70:] == b"\x00\x00\x00"  # second record: no topics, no data
    assert encode_records([([7], b"")])[3:] == (7).to_bytes(32, "big")  # int topics are 32-byte words


@pytest.mark.parametrize(
    "records",
    [
        [([b"\x00" * 32] * 5, b"")],  # LOG5 does not exist
        [(["0x1234"], b"")],  # a topic must be 32 bytes
        [([], b"\x00" * 65536)],  # data_len is 2 bytes
    ],
)
def test_encode_records_rejects_what_the_emitter_cannot_emit(records):
    with pytest.raises(ValueError):
        encode_records(records)


# --- event encoders ----------------------------------------------------------------------

def sample_value(abi_type: str, i: int):
    if abi_type == "address":
        return "0x" + f"{i + 1:02x}" * 20
    if abi_type == "bytes32":
        return bytes([i + 1]) * 32
    if abi_type == "bool":
        return i % 2 == 0
    if abi_type == "uint256[]":
        return [i, i + 1, 2**255]
    if abi_type.startswith("uint"):
        return 10**6 * (i + 1) if abi_type == "uint256" else 1
    raise AssertionError(f"no sample for {abi_type}")


def normalized(abi_type: str, value):
    return value.lower() if abi_type == "address" else (tuple(value) if isinstance(value, list) else value)


@pytest.mark.parametrize("spec", EVENTS, ids=lambda s: s.key)
def test_encode_log_round_trips_through_eth_abi(spec):
    fields = {p.name: sample_value(p.type, i) for i, p in enumerate(spec.params)}
    topics, data = encode_log(spec.key, **fields)
    assert topics[0] == spec.topic0
    assert len(topics) == 1 + len(spec.indexed)
    for topic, param in zip(topics[1:], spec.indexed):
        assert len(bytes.fromhex(topic[2:])) == 32
        (value,) = decode([param.type], bytes.fromhex(topic[2:]))
        assert normalized(param.type, value) == normalized(param.type, fields[param.name])
    decoded = decode([p.type for p in spec.data_params], data)
    assert [normalized(p.type, v) for p, v in zip(spec.data_params, decoded)] == [
        normalized(p.type, fields[p.name]) for p in spec.data_params
    ]
    if spec.static_data_len is not None:
        assert len(data) == spec.static_data_len


def test_indexed_params_are_32_byte_words():
    assert encode_topic("address", ADDRESS_A) == "0x" + "00" * 12 + "ab" * 20
    assert encode_topic("uint256", 1) == "0x" + "00" * 31 + "01"
    assert encode_topic("bytes32", HASH_A) == HASH_A
    assert encode_topic("string", "hi") == "0x" + keccak(text="hi").hex()


def test_encode_log_requires_exactly_the_event_fields():
    with pytest.raises(ValueError, match="missing"):
        encode_log("token_registered", token0=1, token1=2)
    with pytest.raises(ValueError, match="unknown"):
        encode_log("token_registered", token0=1, token1=2, conditionId=HASH_A, extra=1)


# --- CTF ids -----------------------------------------------------------------------------

def test_condition_id_is_keccak_of_the_packed_oracle_question_and_count():
    expected = keccak(encode_packed(["address", "bytes32", "uint256"], [ADDRESS_A, bytes.fromhex(HASH_A[2:]), 2]))
    assert condition_id(ADDRESS_A, HASH_A, 2) == "0x" + expected.hex()


def test_token_ids_match_a_real_polymarket_market():
    assert (outcome_token_id(REAL_CONDITION_ID, 0, neg_risk=False),
            outcome_token_id(REAL_CONDITION_ID, 1, neg_risk=False)) == REAL_CLOB_TOKEN_IDS
    assert position_id(USDC_E, collection_id(ZERO32, REAL_CONDITION_ID, 1)) == REAL_CLOB_TOKEN_IDS[0]


def test_neg_risk_tokens_are_backed_by_wrapped_collateral():
    collection = collection_id(ZERO32, REAL_CONDITION_ID, 2)
    assert outcome_token_id(REAL_CONDITION_ID, 1, neg_risk=True) == position_id(NEGRISK_WRAPPED_COLLATERAL, collection)


def test_nested_collection_ids_commute_like_curve_points():
    other_condition = condition_id(ADDRESS_B, HASH_A, 3)
    via_first = collection_id(collection_id(ZERO32, REAL_CONDITION_ID, 1), other_condition, 4)
    via_second = collection_id(collection_id(ZERO32, other_condition, 4), REAL_CONDITION_ID, 1)
    assert via_first == via_second
    assert via_first != collection_id(ZERO32, other_condition, 4)


def test_an_off_curve_parent_collection_is_rejected():
    off_curve = next(x for x in range(1, 100) if _is_off_curve(x))
    with pytest.raises(ValueError, match="invalid parent"):
        collection_id(off_curve.to_bytes(32, "big"), REAL_CONDITION_ID, 1)


def _is_off_curve(x: int) -> bool:
    rhs = (x**3 + 3) % ALT_BN128_P
    return pow(rhs, (ALT_BN128_P - 1) // 2, ALT_BN128_P) != 1  # Euler's criterion: not a square


# --- fill semantics ----------------------------------------------------------------------

def _fill(side: Side, shares: int = 10_000_000, collateral: int = 4_000_000) -> Fill:
    return Fill(b"\x01" * 32, ADDRESS_A, ADDRESS_B, side, 77, shares, collateral)


def _v1_data(log) -> tuple[int, ...]:
    return decode(["uint256"] * 5, log[1])


def test_v1_buy_fill_pays_collateral_for_the_taker_asset():
    maker_asset, taker_asset, making, taking, _ = _v1_data(fill_log(1, _fill(Side.BUY)))
    assert (maker_asset, taker_asset) == (0, 77)
    assert (making, taking) == (4_000_000, 10_000_000)  # price = making / taking = 0.4


def test_v1_sell_fill_gives_shares_of_the_maker_asset():
    maker_asset, taker_asset, making, taking, _ = _v1_data(fill_log(1, _fill(Side.SELL)))
    assert (maker_asset, taker_asset) == (77, 0)
    assert (making, taking) == (10_000_000, 4_000_000)  # price = taking / making = 0.4


def test_v2_fill_and_match_carry_side_and_token():
    side, token, making, taking, fee, builder, metadata = decode(
        ["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"], fill_log(2, _fill(Side.SELL))[1])
    assert (side, token, making, taking, fee) == (1, 77, 10_000_000, 4_000_000, 0)
    assert builder == metadata == ZERO32
    topics, data = matched_log(2, _fill(Side.BUY))
    assert topics[0] == EVENTS_BY_KEY["orders_matched_v2"].topic0
    assert decode(["uint8", "uint256", "uint256", "uint256"], data) == (0, 77, 4_000_000, 10_000_000)


def test_fees_follow_the_exchange_formulas():
    # V1 BUY at 0.4, 100 bps: 0.01 * min(0.4, 0.6) * 10 shares / 0.4 = 0.1 shares
    assert v1_fee(100, _fill(Side.BUY)) == 100_000
    # V1 SELL at 0.4, 100 bps: 0.01 * 0.4 * 10 shares = 0.04 collateral
    assert v1_fee(100, _fill(Side.SELL)) == 40_000
    # V2: 10 shares x 1% x 0.4 x 0.6 = 0.024 collateral
    assert v2_fee(100, _fill(Side.BUY)) == 24_000
    assert v1_fee(0, _fill(Side.BUY)) == v2_fee(0, _fill(Side.BUY)) == 0
