"""Conditional Tokens ids from the chain alone: condition id, collection id, position (token) id.

Follows gnosis/conditional-tokens-contracts contracts/CTHelpers.sol: a collection id hashes
(conditionId, indexSet) onto the alt_bn128 curve y^2 = x^3 + 3, adds the parent collection with
the curve's point addition and folds the y parity into bit 254; a position id is
keccak(collateral, collectionId). Pinned by a unit test against a real Polymarket market's
published clobTokenIds. Used by the indexer to map every prepared condition's outcome tokens.
"""

from __future__ import annotations

from eth_utils import keccak
from py_ecc.bn128 import FQ, add as bn128_add

from orderflow_dagster.chain.contracts import NEGRISK_WRAPPED_COLLATERAL, USDC_E

ZERO32 = b"\x00" * 32
ALT_BN128_P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
ALT_BN128_B = 3


def _bytes32(value: str | bytes) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


def _address_bytes(address: str) -> bytes:
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"expected a 20-byte address, got {address!r}")
    return raw


def condition_id(oracle: str, question_id: str | bytes, outcome_slot_count: int) -> str:
    """keccak256(abi.encodePacked(address oracle, bytes32 questionId, uint outcomeSlotCount))."""
    packed = _address_bytes(oracle) + _bytes32(question_id) + outcome_slot_count.to_bytes(32, "big")
    return "0x" + keccak(packed).hex()


def _curve_sqrt(value: int) -> int:
    # P = 3 mod 4, so a square root (when one exists) is value^((P+1)/4): the exponent the
    # Solidity addition chain computes.
    return pow(value, (ALT_BN128_P + 1) // 4, ALT_BN128_P)


def _curve_rhs(x: int) -> int:
    return (x * x * x + ALT_BN128_B) % ALT_BN128_P


def curve_point_from_hash(condition: bytes, index_set: int) -> tuple[int, int]:
    """Hash (conditionId, indexSet) onto the curve: next x with a square root, y parity from bit 255."""
    x = int.from_bytes(keccak(condition + index_set.to_bytes(32, "big")), "big")
    odd = x >> 255 != 0
    while True:
        x = (x + 1) % ALT_BN128_P
        y = _curve_sqrt(_curve_rhs(x))
        if y * y % ALT_BN128_P == _curve_rhs(x):
            break
    if odd != (y % 2 == 1):
        y = ALT_BN128_P - y
    return x, y


def _point_from_collection(collection: int) -> tuple[int, int]:
    """Decompress a collection id: x in the low 254 bits, y parity in bit 254."""
    odd = collection >> 254 != 0
    x = collection & ((1 << 254) - 1)
    y = _curve_sqrt(_curve_rhs(x))
    if odd != (y % 2 == 1):
        y = ALT_BN128_P - y
    if y * y % ALT_BN128_P != _curve_rhs(x):
        raise ValueError("invalid parent collection ID")
    return x, y


def ecadd(p: tuple[int, int], q: tuple[int, int]) -> tuple[int, int]:
    """The ecAdd precompile (address 6): the point at infinity comes back as (0, 0)."""
    total = bn128_add((FQ(p[0]), FQ(p[1])), (FQ(q[0]), FQ(q[1])))
    return (0, 0) if total is None else (int(total[0]), int(total[1]))


def collection_id(parent_collection_id: str | bytes, condition: str | bytes, index_set: int) -> str:
    """CTHelpers.getCollectionId(parentCollectionId, conditionId, indexSet)."""
    x, y = curve_point_from_hash(_bytes32(condition), index_set)
    parent = int.from_bytes(_bytes32(parent_collection_id), "big")
    if parent != 0:
        x, y = ecadd((x, y), _point_from_collection(parent))
    if y % 2 == 1:
        x ^= 1 << 254
    return "0x" + x.to_bytes(32, "big").hex()


def position_id(collateral: str, collection: str | bytes) -> int:
    """CTHelpers.getPositionId: uint(keccak256(abi.encodePacked(collateralToken, collectionId)))."""
    return int.from_bytes(keccak(_address_bytes(collateral) + _bytes32(collection)), "big")


def outcome_token_id(condition: str | bytes, outcome_index: int, neg_risk: bool) -> int:
    """The ERC-1155 token id of outcome i of a binary Polymarket market (index set 1 << i)."""
    collateral = NEGRISK_WRAPPED_COLLATERAL if neg_risk else USDC_E
    return position_id(collateral, collection_id(ZERO32, condition, 1 << outcome_index))


def condition_token_ids(condition: str | bytes, outcome_slot_count: int, neg_risk: bool) -> list[int]:
    """Token ids of every outcome of a condition (index set 1 << i), at most 8 outcomes."""
    return [outcome_token_id(condition, i, neg_risk) for i in range(min(outcome_slot_count, 8))]
