"""The current_time tool: UTC by default, IANA zones, unknown zones refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agio.tools.base import Tool, ToolError
from agio.tools.builtin.current_time import CurrentTimeTool

FIXED = datetime(2024, 7, 1, 12, 30, 45, 123456, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED


async def test_defaults_to_utc() -> None:
    tool = CurrentTimeTool(clock=fixed_clock)
    assert isinstance(tool, Tool)
    assert await tool.run({}) == {
        "timezone": "UTC",
        "iso": "2024-07-01T12:30:45+00:00",
        "unix": int(FIXED.timestamp()),
    }
    assert (await tool.run({"timezone": None}))["timezone"] == "UTC"
    assert (await tool.run({"timezone": "utc"}))["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("zone", "iso"),
    [
        ("Europe/Paris", "2024-07-01T14:30:45+02:00"),
        ("America/New_York", "2024-07-01T08:30:45-04:00"),
        ("Asia/Kolkata", "2024-07-01T18:00:45+05:30"),
        ("Etc/UTC", "2024-07-01T12:30:45+00:00"),
    ],
)
async def test_iana_zones(zone: str, iso: str) -> None:
    result = await CurrentTimeTool(clock=fixed_clock).run({"timezone": zone})
    assert result == {"timezone": zone, "iso": iso, "unix": int(FIXED.timestamp())}


async def test_real_clock_is_now() -> None:
    before = int(datetime.now(UTC).timestamp())
    result = await CurrentTimeTool().run({"timezone": "Europe/Berlin"})
    after = int(datetime.now(UTC).timestamp())
    assert before <= result["unix"] <= after
    assert datetime.fromisoformat(result["iso"]).tzinfo is not None


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "Europe", "../../etc/passwd", "/etc/localtime", "Not A Zone"]
)
async def test_unknown_zone(zone: str) -> None:
    with pytest.raises(ToolError, match="unknown time zone"):
        await CurrentTimeTool().run({"timezone": zone})


async def test_bad_arguments() -> None:
    with pytest.raises(ToolError, match="timezone"):
        await CurrentTimeTool().run({"timezone": 5})
    with pytest.raises(ToolError, match="zone: Extra inputs"):
        await CurrentTimeTool().run({"zone": "UTC"})


def test_schema() -> None:
    tool = CurrentTimeTool(name="clock", description="What time is it?", timeout=2)
    assert (tool.name, tool.description, tool.timeout) == ("clock", "What time is it?", 2)
    assert tool.parameters["type"] == "object"
    assert "timezone" in tool.parameters["properties"]
    assert "required" not in tool.parameters
