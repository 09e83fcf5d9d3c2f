"""A log-emitting contract, hand-assembled, to stand in for Polymarket contracts on anvil.

`install_emitters` puts the same runtime code (via `anvil_setCode`) at every address in
contracts.CONTRACTS, so a transaction sent to, say, the V1 exchange address emits logs whose
`address` is the real exchange: the indexer sees exactly what it would see on Polygon.

Calldata is a sequence of records, each

    [n_topics: 1 byte][data_len: 2 bytes big-endian][n_topics x 32-byte topics][data bytes]

and the code emits one LOG<n_topics> per record, in order, so one transaction can carry a
whole match (maker fills, the taker fill, OrdersMatched) with consecutive log indexes.
Malformed calldata (more than 4 topics, a record running past the end) reverts.

The code is written for the small assembler below (opcode table, minimal PUSH sizing,
labels resolved to JUMPDEST offsets) so that it can be read and changed; PUSH0 is avoided so
it runs under any hardfork anvil is started with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orderflow_dagster.chain.contracts import CONTRACTS
from orderflow_dagster.simulator.anvil import rpc_call

OPCODES: dict[str, int] = {
    "STOP": 0x00, "ADD": 0x01, "LT": 0x10, "GT": 0x11, "EQ": 0x14, "ISZERO": 0x15, "AND": 0x16,
    "SHL": 0x1B, "SHR": 0x1C, "CALLDATALOAD": 0x35, "CALLDATASIZE": 0x36, "CALLDATACOPY": 0x37,
    "POP": 0x50, "JUMP": 0x56, "JUMPI": 0x57, "JUMPDEST": 0x5B, "REVERT": 0xFD,
    **{f"PUSH{n}": 0x5F + n for n in range(1, 33)},
    **{f"DUP{n}": 0x7F + n for n in range(1, 17)},
    **{f"SWAP{n}": 0x8F + n for n in range(1, 17)},
    **{f"LOG{n}": 0xA0 + n for n in range(5)},
}
OPCODE_NAMES = {code: name for name, code in OPCODES.items()}

MAX_TOPICS = 4
HEADER_LEN = 3  # n_topics (1 byte) + data_len (2 bytes)
LABEL_PUSH = "PUSH2"  # label references have a fixed size so offsets are known in one pass


@dataclass(frozen=True)
class Label:
    """Marks a jump target: assembles to JUMPDEST."""
    name: str


@dataclass(frozen=True)
class Ref:
    """Pushes the offset of a Label (PUSH2)."""
    name: str


@dataclass(frozen=True)
class Push:
    """Pushes a constant with the smallest PUSHn (at least PUSH1: no PUSH0)."""
    value: int


Instruction = str | Label | Ref | Push


def push_bytes(value: int) -> bytes:
    width = max(1, (value.bit_length() + 7) // 8)
    if width > 32:
        raise ValueError(f"push value does not fit in 32 bytes: {value}")
    return bytes([OPCODES[f"PUSH{width}"]]) + value.to_bytes(width, "big")


def _size(ins: Instruction) -> int:
    if isinstance(ins, Push):
        return len(push_bytes(ins.value))
    if isinstance(ins, Ref):
        return 3
    return 1


def assemble(program: Sequence[Instruction]) -> bytes:
    """Two passes: label offsets from instruction sizes, then bytes."""
    offsets: dict[str, int] = {}
    pc = 0
    for ins in program:
        if isinstance(ins, Label):
            if ins.name in offsets:
                raise ValueError(f"duplicate label {ins.name}")
            offsets[ins.name] = pc
        pc += _size(ins)
    code = bytearray()
    for ins in program:
        if isinstance(ins, Label):
            code.append(OPCODES["JUMPDEST"])
        elif isinstance(ins, Ref):
            code += bytes([OPCODES[LABEL_PUSH]]) + offsets[ins.name].to_bytes(2, "big")
        elif isinstance(ins, Push):
            code += push_bytes(ins.value)
        else:
            code.append(OPCODES[ins])
    return bytes(code)


def disassemble(code: bytes) -> list[tuple[int, str, int | None]]:
    """(offset, mnemonic, push argument) for each instruction; used by tests and debugging."""
    out, pc = [], 0
    while pc < len(code):
        name = OPCODE_NAMES.get(code[pc], f"INVALID_{code[pc]:02x}")
        width = int(name[4:]) if name.startswith("PUSH") else 0
        arg = int.from_bytes(code[pc + 1 : pc + 1 + width], "big") if width else None
        out.append((pc, name, arg))
        pc += 1 + width
    return out


def _log_block(n_topics: int) -> list[Instruction]:
    """Emit LOG<n_topics> for the current record, then jump back to the loop."""
    block: list[Instruction] = [Label(f"log{n_topics}"), "POP"]  # [tstart, len, next]
    for i in range(n_topics - 1, 0, -1):
        # push topic i below tstart, deepest first, so topic 0 ends up on top
        block += ["DUP1", Push(32 * i), "ADD", "CALLDATALOAD", "SWAP1"]  # [tstart, t_i, .., len, next]
    block += ["CALLDATALOAD"] if n_topics else ["POP"]  # [t0, .., t_{n-1}, len, next] (or [len, next])
    block += [
        f"DUP{n_topics + 1}",  # [len, t0.., len, next]
        Push(0),  # [0, len, t0.., len, next]        data was copied to memory offset 0
        f"LOG{n_topics}",  # [len, next]
        "POP",  # [next]
        Ref("loop"), "JUMP",
    ]
    return block


def emitter_program() -> list[Instruction]:
    program: list[Instruction] = [
        Push(0),  # [ptr]                               ptr: start of the current record
        Label("loop"),  # [ptr]
        "CALLDATASIZE", "DUP2", "LT", "ISZERO",  # [ptr >= size, ptr]
        Ref("done"), "JUMPI",  # [ptr]
        "DUP1", "CALLDATALOAD",  # [w, ptr]                         header = top 3 bytes of w
        "DUP1", Push(248), "SHR",  # [n, w, ptr]
        "SWAP1", Push(232), "SHR", Push(0xFFFF), "AND",  # [len, n, ptr]
        "SWAP2", Push(HEADER_LEN), "ADD",  # [tstart, n, len]
        "DUP2", Push(5), "SHL", "DUP2", "ADD",  # [dstart, tstart, n, len]    dstart = tstart + 32n
        "DUP4", "DUP2", "ADD",  # [next, dstart, tstart, n, len]
        "DUP1", "CALLDATASIZE", "LT", Ref("bad"), "JUMPI",  # record runs past calldata -> revert
        "SWAP4",  # [len, dstart, tstart, n, next]
        "DUP1", "SWAP2",  # [dstart, len, len, tstart, n, next]
        Push(0), "CALLDATACOPY",  # [len, tstart, n, next]     memory[0:len] = data
        "SWAP2",  # [n, tstart, len, next]
    ]
    for n in range(MAX_TOPICS + 1):
        program += ["DUP1", Push(n), "EQ", Ref(f"log{n}"), "JUMPI"]  # [n, tstart, len, next]
    program += [Label("bad"), Push(0), Push(0), "REVERT"]  # n > 4 or truncated record
    for n in range(MAX_TOPICS + 1):
        program += _log_block(n)
    program += [Label("done"), "STOP"]
    return program


EMITTER_BYTECODE: bytes = assemble(emitter_program())


def _topic_bytes(topic: str | bytes | int) -> bytes:
    if isinstance(topic, int):
        return topic.to_bytes(32, "big")
    raw = bytes.fromhex(topic.removeprefix("0x")) if isinstance(topic, str) else bytes(topic)
    if len(raw) != 32:
        raise ValueError(f"a topic must be 32 bytes, got {len(raw)}")
    return raw


def encode_records(records: Iterable[tuple[Sequence[str | bytes | int], bytes]]) -> bytes:
    """Calldata for the emitter: one record per (topics, data) log, in emission order."""
    out = bytearray()
    for topics, data in records:
        if len(topics) > MAX_TOPICS:
            raise ValueError(f"at most {MAX_TOPICS} topics per log, got {len(topics)}")
        if len(data) > 0xFFFF:
            raise ValueError(f"log data longer than 65535 bytes: {len(data)}")
        out += bytes([len(topics)]) + len(data).to_bytes(2, "big")
        out += b"".join(_topic_bytes(t) for t in topics) + bytes(data)
    return bytes(out)


def install_emitters(rpc_url: str, addresses: Iterable[str] | None = None) -> list[str]:
    """Put the emitter code at each address (default: every contract in the registry)."""
    targets = list(addresses) if addresses is not None else [c.address for c in CONTRACTS]
    for address in targets:
        rpc_call(rpc_url, "anvil_setCode", address, "0x" + EMITTER_BYTECODE.hex())
    return targets
