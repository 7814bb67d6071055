"""Python tools used by the runtime tests (configured through YAML as trusted files)."""

from __future__ import annotations

import asyncio

LEDGER: list[str] = []


def explode(reason: str = "boom") -> str:
    """A tool that always fails."""
    raise RuntimeError(f"exploded: {reason}")


async def slow(seconds: float = 5.0) -> str:
    """A tool that takes its time."""
    await asyncio.sleep(seconds)
    return "done"


def record(note: str) -> dict[str, str]:
    """Append to a ledger (to count executions)."""
    LEDGER.append(note)
    return {"recorded": note}


def ledger(note: str) -> dict[str, str]:
    """Append to the file named by AGIO_TEST_LEDGER (survives the process)."""
    import os

    with open(os.environ["AGIO_TEST_LEDGER"], "a", encoding="utf-8") as handle:
        handle.write(note + "\n")
    return {"recorded": note}


def unstorable(text: str = "evil") -> str:
    """A tool whose result holds a NUL character (PostgreSQL cannot store it)."""
    return text + "\x00"
