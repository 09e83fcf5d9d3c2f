"""The one registry of Polymarket contracts and the events the pipeline lands.

Addresses, generations and first blocks follow ../shared/chain-facts.md (checked against
py-clob-client-v2 1.2.1's config for chain 137). Topic hashes are computed from the event
signatures here and pinned by a unit test against the published table. Adding a contract is
one line in CONTRACTS; adding an event is one EventSpec.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from eth_utils import keccak

POLYGON_CHAIN_ID = 137


@dataclass(frozen=True)
class Contract:
    name: str
    address: str  # lowercase 0x-hex
    kind: str  # "exchange" | "ctf" | "negrisk_adapter"
    generation: int  # exchange generation (1, 2); 0 for non-exchange contracts
    neg_risk: bool
    first_block: int  # first block worth scanning (deployment or a lower bound)


# first_block for the V2 exchanges is UNVERIFIED in chain-facts.md (deployed ~2026-04): we
# use the V1 NegRisk exchange's deployment block as a safe lower bound, which costs only
# empty eth_getLogs ranges, never a missed log.
CONTRACTS: tuple[Contract, ...] = (
    Contract("ctf_exchange_v1", "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e", "exchange", 1, False, 33605403),
    Contract("negrisk_ctf_exchange_v1", "0xc5d563a36ae78145c45a50134d48a1215220f80a", "exchange", 1, True, 50505492),
    Contract("ctf_exchange_v2", "0xe111180000d2663c0091e4f400237545b87b996b", "exchange", 2, False, 50505492),
    Contract("negrisk_ctf_exchange_v2", "0xe2222d279d744050d28e00520010520000310f59", "exchange", 2, True, 50505492),
    Contract("conditional_tokens", "0x4d97dcd97ec945f40cf65f87097ace5ea0476045", "ctf", 0, False, 4023686),
    Contract("negrisk_adapter", "0xd91e80cf2e7be2e162c6513ced06f1dd0da35296", "negrisk_adapter", 0, True, 50505403),
)

CONTRACTS_BY_ADDRESS: dict[str, Contract] = {c.address: c for c in CONTRACTS}
EXCHANGE_ADDRESSES: frozenset[str] = frozenset(c.address for c in CONTRACTS if c.kind == "exchange")

# Collateral tokens (not watched for logs; used to compute position ids).
USDC_E = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
PUSD = "0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb"
NEGRISK_WRAPPED_COLLATERAL = "0x3a3bd7bb9528e159577f7c2e685cc81a765002e2"


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    indexed: bool = False


@dataclass(frozen=True)
class EventSpec:
    """One event layout at one kind of contract, and the raw table it lands in."""

    key: str  # stable id, e.g. "order_filled_v1"
    name: str  # Solidity event name
    params: tuple[Param, ...]
    contract_kind: str
    generation: int  # 0 when the layout does not depend on the exchange generation
    table: str  # raw table

    @cached_property
    def signature(self) -> str:
        return f"{self.name}({','.join(p.type for p in self.params)})"

    @cached_property
    def topic0(self) -> str:
        return "0x" + keccak(text=self.signature).hex()

    @property
    def indexed(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.indexed)

    @property
    def data_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.indexed)

    @property
    def static_data_len(self) -> int | None:
        """Data length in bytes when every data field is a static 32-byte word, else None."""
        if any(p.type.endswith("[]") or p.type in ("bytes", "string") for p in self.data_params):
            return None
        return 32 * len(self.data_params)


def _p(spec: str) -> tuple[Param, ...]:
    """Parse 'bytes32 indexed orderHash, address maker' into Params."""
    out = []
    for part in spec.split(","):
        words = part.split()
        out.append(Param(name=words[-1], type=words[0], indexed=len(words) == 3 and words[1] == "indexed"))
    return tuple(out)


EVENTS: tuple[EventSpec, ...] = (
    EventSpec(
        "order_filled_v1", "OrderFilled",
        _p("bytes32 indexed orderHash, address indexed maker, address indexed taker, uint256 makerAssetId, "
           "uint256 takerAssetId, uint256 makerAmountFilled, uint256 takerAmountFilled, uint256 fee"),
        "exchange", 1, "raw_order_fills",
    ),
    EventSpec(
        "order_filled_v2", "OrderFilled",
        _p("bytes32 indexed orderHash, address indexed maker, address indexed taker, uint8 side, uint256 tokenId, "
           "uint256 makerAmountFilled, uint256 takerAmountFilled, uint256 fee, bytes32 builder, bytes32 metadata"),
        "exchange", 2, "raw_order_fills",
    ),
    EventSpec(
        "orders_matched_v1", "OrdersMatched",
        _p("bytes32 indexed takerOrderHash, address indexed takerOrderMaker, uint256 makerAssetId, "
           "uint256 takerAssetId, uint256 makerAmountFilled, uint256 takerAmountFilled"),
        "exchange", 1, "raw_orders_matched",
    ),
    EventSpec(
        "orders_matched_v2", "OrdersMatched",
        _p("bytes32 indexed takerOrderHash, address indexed takerOrderMaker, uint8 side, uint256 tokenId, "
           "uint256 makerAmountFilled, uint256 takerAmountFilled"),
        "exchange", 2, "raw_orders_matched",
    ),
    EventSpec(
        "token_registered", "TokenRegistered",
        _p("uint256 indexed token0, uint256 indexed token1, bytes32 indexed conditionId"),
        "exchange", 0, "raw_token_registrations",
    ),
    EventSpec(
        "condition_preparation", "ConditionPreparation",
        _p("bytes32 indexed conditionId, address indexed oracle, bytes32 indexed questionId, uint256 outcomeSlotCount"),
        "ctf", 0, "raw_conditions",
    ),
    EventSpec(
        "condition_resolution", "ConditionResolution",
        _p("bytes32 indexed conditionId, address indexed oracle, bytes32 indexed questionId, uint256 outcomeSlotCount, "
           "uint256[] payoutNumerators"),
        "ctf", 0, "raw_resolutions",
    ),
    EventSpec(
        "payout_redemption", "PayoutRedemption",
        _p("address indexed redeemer, address indexed collateralToken, bytes32 indexed parentCollectionId, "
           "bytes32 conditionId, uint256[] indexSets, uint256 payout"),
        "ctf", 0, "raw_redemptions",
    ),
    EventSpec(
        "outcome_reported", "OutcomeReported",
        _p("bytes32 indexed marketId, bytes32 indexed questionId, bool outcome"),
        "negrisk_adapter", 0, "raw_outcome_reports",
    ),
)

EVENTS_BY_KEY: dict[str, EventSpec] = {e.key: e for e in EVENTS}


def event_for(contract: Contract, topic0: str) -> EventSpec | None:
    """The event layout a log with this topic0 has at this contract, or None if not watched."""
    for e in EVENTS:
        if e.topic0 == topic0 and e.contract_kind == contract.kind and e.generation in (0, contract.generation):
            return e
    return None


def watched_topics() -> list[str]:
    """Every topic0 we land, for the eth_getLogs topic filter (deduplicated, stable order)."""
    return list(dict.fromkeys(e.topic0 for e in EVENTS))


def watched_addresses(from_block: int = 0) -> list[str]:
    return [c.address for c in CONTRACTS]
