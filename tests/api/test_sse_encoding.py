"""The SSE messages of run events: what they parse back to (a corpus of awkward data), that
they match what json's encoder wrote, and that the streams of one run share one encoding."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from agio.api.sse import EncodedEvents, encode, encoded
from agio.bus.memory import InProcessBus
from agio.domain.events import Event
from agio.domain.runs import Run
from agio.runtime.follow import follow

WHEN = datetime(2026, 12, 1, tzinfo=UTC)

CORPUS: list[dict[str, Any]] = [
    {"delta": "héllo wörld — 日本語 🙂"},
    {"delta": "line\u2028separator\u2029paragraph\nnewline\r\rcr\ttab"},
    {"delta": 'quotes " and \\ backslash </script> \x00\x1f control'},
    {"nested": {"a": [1, 2.5, None, True, False, {"b": [[], {}]}], "c": {"d": {"e": "f"}}}},
    {"floats": [0.1, 1e16, 1e-07, -0.0, 3.141592653589793, 1.7976931348623157e308, 5e-324]},
    {"ints": [0, -1, 2**63 - 1, -(2**63)], "none": None, "empty": ""},
    {"huge": 2**70, "text": "ünïcode"},
    {"tuple": (1, "two")},
]


def _event(data: dict[str, Any], seq: int = 1, run_id: str = "run_1") -> Event:
    return Event(run_id=run_id, seq=seq, type="content_delta", timestamp=WHEN, data=data)


def _parse(raw: bytes) -> list[tuple[str, str, Any]]:
    """(id, event, data decoded by a strict JSON parser) of each message, as an SSE client
    reads them (httpx-sse: only CR, LF and CRLF end lines)."""
    lines = SSELineDecoder()
    decoder = SSEDecoder()
    messages = []
    for line in [*lines.decode(raw.decode()), *lines.flush()]:
        sse = decoder.decode(line)
        if sse is not None:
            messages.append((sse.id, sse.event, json.loads(sse.data, parse_constant=_refuse)))
    return messages


def _refuse(constant: str) -> None:
    raise AssertionError(f"not JSON: {constant}")


def _json_default(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("data", CORPUS)
def test_a_message_parses_back_to_its_data(data: dict[str, Any]) -> None:
    raw = EncodedEvents().encode(_event(data, seq=7))
    assert raw.startswith(b"id: 7\r\nevent: content_delta\r\ndata: ")
    assert raw.endswith(b"\r\n\r\n")
    assert raw.count(b"\r\n") == 4  # one line per field, whatever the data holds
    assert _parse(raw) == [("7", "content_delta", json.loads(_json_default(data)))]
    # non-ASCII characters as UTF-8, never as \u escapes
    assert b"\\u" not in raw.replace(b"\\u0000", b"").replace(b"\\u001f", b"")


def test_the_bytes_are_json_encoders_except_the_spelling_of_floats() -> None:
    for data in CORPUS:
        if "floats" in data:
            continue
        raw = EncodedEvents().encode(_event(data))
        expected = f"id: 1\r\nevent: content_delta\r\ndata: {_json_default(data)}\r\n\r\n"
        assert raw == expected.encode()


def test_non_string_keys_become_strings_as_json_made_them() -> None:
    data: dict[Any, Any] = {1: "one", 2.5: "float", False: "bool", None: "none", "s": {3: []}}
    raw = EncodedEvents().encode(_event(data))
    assert _parse(raw)[0][2] == json.loads(_json_default(data))


def test_nan_and_infinity_become_null_not_invalid_json() -> None:
    raw = EncodedEvents().encode(_event({"x": float("nan"), "y": [float("inf")]}))
    assert _parse(raw)[0][2] == {"x": None, "y": [None]}


def test_one_event_is_encoded_once_for_every_stream() -> None:
    cache = EncodedEvents()
    event = _event({"delta": "shared"})
    first = cache.encode(event)
    assert cache.encode(event) is first
    # an equal event read back from storage (another object) shares it too
    assert cache.encode(_event({"delta": "shared"})) is first


def test_an_entry_is_only_used_for_the_same_event() -> None:
    cache = EncodedEvents()
    cache.encode(_event({"delta": "one database"}))
    other = cache.encode(_event({"delta": "another database"}))
    assert _parse(other)[0][2] == {"delta": "another database"}
    assert cache.encode(_event({"delta": "another database"})) is other


def test_the_cache_is_bounded_by_entries_and_bytes() -> None:
    cache = EncodedEvents(entries=3, max_bytes=950)
    for seq in range(1, 11):
        cache.encode(_event({"delta": "x"}, seq=seq))
    assert len(cache) == 3
    cache.encode(_event({"delta": "y" * 400}, seq=11))
    cache.encode(_event({"delta": "y" * 400}, seq=12))
    assert len(cache) == 2  # two of ~450 bytes fit in 950, with the small one too they would not
    big = cache.encode(_event({"delta": "z" * 2000}, seq=13))  # never kept: too big
    assert _parse(big)[0][2] == {"delta": "z" * 2000}
    assert len(cache) == 2


class _NoLog:
    async def events_after(self, run_id: str, after_seq: int, limit: int = 1000) -> list[Event]:
        return []


class _NoRun:
    async def get_run(self, run_id: str, *, with_steps: bool = False) -> Run | None:
        return None


async def _collect(chunks: AsyncGenerator[list[Event], None]) -> list[bytes]:
    return [chunk async for chunk in encoded(chunks)]


async def test_two_subscribers_of_one_run_get_the_same_bytes() -> None:
    bus = InProcessBus()
    followers = [follow(_NoLog(), _NoRun(), bus, "run_shared", 0) for _ in range(2)]
    # both subscribed (a follower subscribes when it first runs) before anything is published
    firsts = [asyncio.ensure_future(anext(aiter(encoded(f)))) for f in followers]
    await asyncio.sleep(0.05)
    assert bus.subscriber_count("run_shared") == 2
    events = [
        _event({"delta": "héllo\u2028"}, seq=1, run_id="run_shared"),
        Event("run_shared", 2, "run_completed", WHEN, {"output": {"n": 1.5, "none": None}}),
    ]
    await bus.publish("run_shared", events)
    chunks = [await first for first in firsts]
    assert chunks[0] == chunks[1]
    assert [data for _, _, data in _parse(chunks[0])] == [event.data for event in events]
    assert encode(events[0]) is encode(events[0])
