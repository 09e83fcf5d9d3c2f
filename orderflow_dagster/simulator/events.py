"""Pure encoders: registry events to (topics, data), and Polymarket / CTF ids.

`encode_log` builds a log straight from an EventSpec in contracts.EVENTS, so the simulator
can only emit layouts the indexer is declared to read.

Token ids (chain/ctf_ids.py) are the REAL ones, not pseudo-ids: `collection_id` follows
gnosis/conditional-tokens-contracts contracts/CTHelpers.sol `getCollectionId` (hash of
conditionId and indexSet mapped onto the alt_bn128 curve y^2 = x^3 + 3, the parent collection
added with the curve's point addition, the y parity folded into bit 254). It is pinned by a
unit test against a real Polymarket market read from the Gamma API (condition
0x2e6af11e...5fce, "Bitcoin Up or Down - December 31, 12:00PM-12:15PM ET", clobTokenIds
8851848546...4440 and 1018185981...0549 with USDC.e collateral).
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_utils import keccak

from orderflow_dagster.chain.contracts import EVENTS_BY_KEY, EventSpec
from orderflow_dagster.chain.ctf_ids import _bytes32



def _abi_value(abi_type: str, value: Any) -> Any:
    """Accept 0x-hex strings for bytes32 (eth_abi wants bytes)."""
    if abi_type == "bytes32" and isinstance(value, str):
        return _bytes32(value)
    return value


def _word(abi_type: str, value: Any) -> bytes | None:
    """The 32-byte ABI word of a static value type, without eth_abi (20x faster); None otherwise."""
    if abi_type.startswith("uint") and isinstance(value, int) and not isinstance(value, bool):
        return value.to_bytes(32, "big")
    if abi_type == "bool":
        return int(bool(value)).to_bytes(32, "big")
    if abi_type == "address" and isinstance(value, str) and len(value.removeprefix("0x")) == 40:
        return bytes(12) + bytes.fromhex(value.removeprefix("0x"))
    if abi_type == "bytes32":
        raw = _bytes32(value) if isinstance(value, str) else bytes(value)
        return raw if len(raw) == 32 else None
    return None


def encode_topic(abi_type: str, value: Any) -> str:
    """One indexed parameter as a topic: the ABI word of a value type, keccak of bytes/string."""
    if abi_type.endswith("]") or abi_type.startswith("tuple"):
        raise NotImplementedError(f"indexed {abi_type} (hash of the in-place encoding) is not needed yet")
    if abi_type in ("bytes", "string"):
        raw = value.encode() if isinstance(value, str) and abi_type == "string" else bytes(value)
        return "0x" + keccak(raw).hex()
    word = _word(abi_type, value)
    return "0x" + (word if word is not None else encode([abi_type], [_abi_value(abi_type, value)])).hex()


def encode_log(spec_key: str, **fields: Any) -> tuple[list[str], bytes]:
    """(topics, data) of the registry event `spec_key`; every parameter must be given by name."""
    spec: EventSpec = EVENTS_BY_KEY[spec_key]
    expected = {p.name for p in spec.params}
    if set(fields) != expected:
        raise ValueError(f"{spec_key}: missing {sorted(expected - set(fields))}, unknown {sorted(set(fields) - expected)}")
    topics = [spec.topic0] + [encode_topic(p.type, fields[p.name]) for p in spec.indexed]
    words = [_word(p.type, fields[p.name]) for p in spec.data_params]
    if all(w is not None for w in words):
        return topics, b"".join(words)
    data = encode([p.type for p in spec.data_params], [_abi_value(p.type, fields[p.name]) for p in spec.data_params])
    return topics, data
