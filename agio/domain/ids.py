"""Server-generated, prefixed, time-sortable identifiers (`agt_…`, `run_…`, `ckpt_…`)."""

from __future__ import annotations

import hashlib
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower-case


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """Return `prefix_` followed by 26 characters: 48 bits of milliseconds, 80 random bits.

    Ids made later sort after ids made earlier (to the millisecond), which keeps
    B-tree inserts local and makes ids readable in logs.
    """
    millis = int(time.time() * 1000) & ((1 << 48) - 1)
    return f"{prefix}_{_b32(millis, 10)}{_b32(secrets.randbits(80), 16)}"


def derived_id(prefix: str, *parts: str) -> str:
    """`prefix_` and 26 characters derived from `parts` (SHA-256): the same parts always
    give the same id, so a record made "once" is found again instead of made twice (a
    child run, from its parent's run and tool call ids)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return f"{prefix}_{_b32(int.from_bytes(digest[:17]), 26)}"


COMPONENT_ID_PREFIXES: dict[str, str] = {
    "agent": "agt",
    "model": "mdl",
    "tool": "tool",
    "memory": "mem",
    "knowledge": "kb",
    "workflow": "wf",
}
