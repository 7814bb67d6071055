"""`/api/metrics`: runs placed across hours and days (their times set by the test) give
exactly the figures computed here, independently, on SQLite and on PostgreSQL."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from agio.storage.tables import RunRow, SessionRow
from tests.conftest import add_user

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday


@dataclass
class FakeRun:
    created_at: datetime
    status: str
    total_tokens: int
    prompt_tokens: int
    duration: float | None
    model: str | None
    tool_calls: int
    user_id: str | None
    agent: str = "customer_support"


def _runs(owner: str) -> list[FakeRun]:
    rng = random.Random(7)
    runs = []
    for i in range(120):
        created = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 9))  # over nine days
        status = rng.choice(["completed"] * 6 + ["failed", "cancelled", "running", "paused"])
        tokens = rng.randrange(0, 500)
        prompt = rng.randrange(0, tokens + 1)
        runs.append(
            FakeRun(
                created_at=created,
                status=status,
                total_tokens=tokens,
                prompt_tokens=prompt,
                duration=None if status in ("running", "paused") else rng.randrange(1, 9000) / 1000,
                model=rng.choice(["demo", "openai", None]),
                tool_calls=rng.randrange(0, 4),
                user_id=owner if i % 3 == 0 else "someone_else",
                agent="customer_support" if i % 5 else "assistant",
            )
        )
    # edges: exactly on bucket boundaries, and just before the next
    runs.append(FakeRun(T0 + timedelta(hours=5), "completed", 10, 4, 1.5, "demo", 0, owner))
    runs.append(
        FakeRun(
            T0 + timedelta(hours=6) - timedelta(microseconds=1),
            "failed",
            20,
            5,
            2.5,
            "demo",
            1,
            owner,
        )
    )
    return runs


async def _insert(app: FastAPI, runs: list[FakeRun], agent_ids: dict[str, str]) -> None:
    db = app.state.agio.db
    rows: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    for i, run in enumerate(runs):
        sessions.append(
            {
                "id": f"ses_m{i}",
                "agent_id": agent_ids[run.agent],
                "user_id": run.user_id,
                "created_at": run.created_at,
                "updated_at": run.created_at,
            }
        )
        rows.append(
            {
                "id": f"run_m{i:04d}",
                "agent_id": agent_ids[run.agent],
                "agent_name": run.agent,
                "session_id": f"ses_m{i}",
                "user_id": run.user_id,
                "status": run.status,
                "input_query": "q",
                "metrics": {},
                "agent_config": {},
                "model_name": run.model,
                "prompt_tokens": run.prompt_tokens,
                "completion_tokens": run.total_tokens - run.prompt_tokens,
                "total_tokens": run.total_tokens,
                "tool_calls": run.tool_calls,
                "duration": run.duration,
                "last_seq": 0,
                "created_at": run.created_at,
                "ended_at": run.created_at + timedelta(seconds=run.duration or 0)
                if run.duration is not None
                else None,
                "recovery_count": 0,
            }
        )
    async with db.write_sessions() as s, s.begin():
        await s.execute(insert(SessionRow), sessions)
        await s.execute(insert(RunRow), rows)


def _nearest_rank(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(pct / 100 * len(ordered)) - 1]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


def _expected(runs: list[FakeRun], start: datetime, end: datetime, step: timedelta) -> Any:
    chosen = [r for r in runs if start <= r.created_at < end]
    finished = [r for r in chosen if r.status in ("completed", "failed", "cancelled")]
    durations = [r.duration for r in chosen if r.duration is not None]
    return chosen, finished, durations


def _floor(moment: datetime, granularity: str) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    if granularity == "hour":
        return moment
    moment = moment.replace(hour=0)
    return moment if granularity == "day" else moment - timedelta(days=moment.weekday())


@pytest.mark.parametrize(
    ("start", "end", "granularity"),
    [
        (T0, T0 + timedelta(days=1), "hour"),
        (T0 + timedelta(hours=3, minutes=30), T0 + timedelta(hours=9), "hour"),
        (T0, T0 + timedelta(days=9), "day"),
        (T0 + timedelta(days=1, hours=12), T0 + timedelta(days=8), "day"),
        (T0 - timedelta(days=3), T0 + timedelta(days=12), "week"),
    ],
)
async def test_agent_metrics_match_an_independent_computation(
    client: httpx.AsyncClient,
    app: FastAPI,
    start: datetime,
    end: datetime,
    granularity: str,
) -> None:
    owner_id, owner = await add_user(client, "viewer")
    agents = {
        name: (await client.get(f"/api/agents/{name}")).json()["id"]
        for name in ("customer_support", "assistant")
    }
    runs = _runs(owner_id)
    await _insert(app, runs, agents)
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[
        granularity
    ]
    params = {
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "granularity": granularity,
    }
    for who, headers in (("admin", {}), ("owner", owner)):
        visible = [
            r
            for r in runs
            if r.agent == "customer_support" and (who == "admin" or r.user_id == owner_id)
        ]
        response = await client.get(
            "/api/metrics/agents/customer_support", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        chosen, finished, durations = _expected(visible, start, end, step)
        m = body["metrics"]
        assert m["total_runs"] == len(chosen)
        assert m["completed_runs"] == sum(r.status == "completed" for r in chosen)
        assert m["failed_runs"] == sum(r.status == "failed" for r in chosen)
        assert m["cancelled_runs"] == sum(r.status == "cancelled" for r in chosen)
        completed = sum(r.status == "completed" for r in finished)
        assert m["success_rate"] == pytest.approx(completed / len(finished) if finished else None)
        tokens = sum(r.total_tokens for r in chosen)
        assert m["total_tokens"] == tokens
        assert m["prompt_tokens"] == sum(r.prompt_tokens for r in chosen)
        assert m["completion_tokens"] == tokens - m["prompt_tokens"]
        assert m["tool_calls"] == sum(r.tool_calls for r in chosen)
        assert m["avg_tokens_per_run"] == pytest.approx(tokens / len(chosen) if chosen else None)
        assert m["avg_duration"] == pytest.approx(
            sum(durations) / len(durations) if durations else None
        )
        assert m["p50_duration"] == pytest.approx(_nearest_rank(durations, 50))
        assert m["p95_duration"] == pytest.approx(_nearest_rank(durations, 95))
        # every bucket, empty ones included, in order
        first = _floor(start, granularity)
        expected_points = []
        when = first
        while when < end:
            inside = [r for r in chosen if when <= r.created_at < when + step]
            timed = [r.duration for r in inside if r.duration is not None]
            expected_points.append(
                {
                    "timestamp": when.isoformat().replace("+00:00", "Z"),
                    "runs": len(inside),
                    "tokens": sum(r.total_tokens for r in inside),
                    "errors": sum(r.status == "failed" for r in inside),
                    "prompt_tokens": sum(r.prompt_tokens for r in inside),
                    "completion_tokens": sum(r.total_tokens - r.prompt_tokens for r in inside),
                    "avg_duration": _mean(timed),
                    "p50_duration": _nearest_rank(timed, 50),
                    "p95_duration": _nearest_rank(timed, 95),
                }
            )
            when += step
        got = body["timeseries"]
        for point in got:  # an average computed by the database, exact only to rounding
            point["avg_duration"] = _rounded(point["avg_duration"])
        for point in expected_points:
            point["avg_duration"] = _rounded(point["avg_duration"])
        assert got == expected_points
        assert sum(p["runs"] for p in body["timeseries"]) == len(chosen)
        models: dict[str | None, list[FakeRun]] = {}
        for r in chosen:
            models.setdefault(r.model, []).append(r)
        assert {
            (b["model"], b["runs"], b["total_tokens"], b["prompt_tokens"]) for b in body["by_model"]
        } == {
            (name, len(rs), sum(r.total_tokens for r in rs), sum(r.prompt_tokens for r in rs))
            for name, rs in models.items()
        }
        assert body["period"]["granularity"] == granularity


async def test_system_metrics_and_the_default_period(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    agents = {
        name: (await client.get(f"/api/agents/{name}")).json()["id"]
        for name in ("customer_support", "assistant")
    }
    now = datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    runs = [
        FakeRun(now - timedelta(minutes=5), "completed", 100, 60, 2.0, "demo", 1, "u1"),
        FakeRun(now - timedelta(minutes=4), "failed", 50, 20, 1.0, "demo", 0, "u1"),
        FakeRun(now - timedelta(minutes=3), "running", 10, 5, None, "demo", 0, "u2"),
        FakeRun(now - timedelta(minutes=2), "pending", 0, 0, None, "demo", 0, "u2"),
        FakeRun(now - timedelta(minutes=1), "paused", 7, 3, None, "demo", 0, "u2"),
        FakeRun(now - timedelta(days=3), "completed", 1000, 600, 9.0, "demo", 0, "u1"),
    ]
    await _insert(app, runs, agents)
    body = (await client.get("/api/metrics/system")).json()
    today = [r for r in runs if r.created_at >= day]
    assert body["total_agents"] == len((await client.get("/api/agents?limit=100")).json()["items"])
    assert body["total_runs"] == 6
    assert body["active_runs"] == 2
    assert body["paused_runs"] == 1
    assert body["runs_today"] == len(today)
    assert body["failed_runs_today"] == sum(r.status == "failed" for r in today)
    assert body["total_tokens_today"] == sum(r.total_tokens for r in today)
    assert body["avg_response_time"] == pytest.approx(2.0)  # completed in the last 24 h
    default = (await client.get("/api/metrics/agents/customer_support")).json()
    assert len(default["timeseries"]) in (24, 25)  # the last 24 hours, hourly
    assert default["metrics"]["total_runs"] == 5


async def test_bad_periods_are_422(client: httpx.AsyncClient) -> None:
    url = "/api/metrics/agents/customer_support"
    backwards = await client.get(
        url, params={"start_time": "2026-03-02T10:00:00Z", "end_time": "2026-03-02T09:00:00Z"}
    )
    assert backwards.status_code == 422
    assert "after" in backwards.json()["error"]["message"]
    too_many = await client.get(
        url,
        params={
            "start_time": "2020-01-01T00:00:00Z",
            "end_time": "2026-01-01T00:00:00Z",
            "granularity": "hour",
        },
    )
    assert too_many.status_code == 422
    assert "AGIO_METRICS_MAX_BUCKETS" in too_many.json()["error"]["message"]
    huge = {"start_time": "0001-01-01T00:00:00Z", "end_time": "9999-12-31T00:00:00Z"}
    for granularity in ("hour", "day", "week"):  # refused at once, not listed first
        response = await client.get(url, params={**huge, "granularity": granularity})
        assert response.status_code == 422
    early = {"end_time": "0001-01-01T00:01:00-00:52"}  # found by schemathesis: overflowed
    assert (await client.get(url, params=early)).status_code == 422
    assert (await client.get(url, params={"granularity": "minute"})).status_code == 422
    assert (await client.get("/api/metrics/agents/ghost")).status_code == 404
