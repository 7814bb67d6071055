"""`Telemetry.observe_events` counts a batch of events by labels, once per series: what it
records is what observing the events one at a time records; `observe_many` is
`Histogram.observe` for each amount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agio.domain.events import Event
from agio.observability.prometheus import Telemetry, observe_many

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(registry: CollectorRegistry, *, prefix: str = "") -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name.startswith(prefix) and not sample.name.endswith("_created"):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.parametrize(
    "amounts",
    [
        [],
        [0.0, 0.001, 0.0025, 0.003, 0.25, 0.2500001, 5, 5.5, 1e9, -1.0],
        [0.01] * 50,
    ],
)
def test_observe_many_is_observe_for_each(amounts: list[float]) -> None:
    buckets = (0.001, 0.0025, 0.01, 0.25, 5)
    one, many = CollectorRegistry(), CollectorRegistry()
    single = Histogram("lag", "h", buckets=buckets, registry=one)
    batched = Histogram("lag", "h", buckets=buckets, registry=many)
    for amount in amounts:
        single.observe(amount)
    observe_many(batched, amounts)
    expected, got = _samples(one), _samples(many)
    sum_key = ("lag_sum", ())
    assert got.pop(sum_key) == pytest.approx(expected.pop(sum_key))
    assert got == expected


def test_observe_many_refuses_a_labelled_parent() -> None:
    labelled = Histogram("lag", "h", ["route"], registry=CollectorRegistry())
    with pytest.raises(ValueError, match="missing label values"):
        observe_many(labelled, [1.0])


def _event(run_id: str, seq: int, type_: str, **data: Any) -> Event:
    # an hour old: every lag falls in the +Inf bucket, however long the test takes
    return Event(run_id, seq, type_, datetime.now(UTC) - timedelta(hours=1), data)


def _batch() -> list[Event]:
    tokens = {"prompt_tokens": 21, "completion_tokens": 65}
    return [
        _event("run_1", 1, "run_started"),
        _event("run_2", 1, "run_started"),
        _event("run_3", 1, "run_started"),  # never labelled: "unknown"
        _event("run_1", 2, "content_delta", content="hi"),
        _event("run_1", 3, "step_completed", step=1, metrics=tokens),
        _event("run_2", 2, "step_completed", step=1, metrics={"prompt_tokens": 4}),
        _event("run_2", 3, "step_completed", step=2, metrics=None),
        _event("run_1", 4, "tool_call_completed", tool="calculator", result="42"),
        _event("run_1", 5, "tool_call_completed", tool="calculator", error="boom"),
        _event("run_1", 6, "tool_call_completed", tool="made_up", error="no such tool"),
        _event("run_2", 4, "tool_call_completed", tool="calculator"),  # not run_2's tool
        _event("run_1", 7, "run_completed"),
        _event("run_1", 8, "tool_call_completed", tool="calculator"),  # after its end
        _event("run_2", 5, "run_failed", error={"type": "X"}),
        _event("run_3", 2, "run_cancelled"),
    ]


def _telemetry() -> Telemetry:
    telemetry = Telemetry()
    telemetry.label_run("run_1", "helper", "gpt", frozenset({"calculator"}))
    telemetry.label_run("run_2", "other", "small")
    return telemetry


def _observed(telemetry: Telemetry) -> Samples:
    assert telemetry.registry is not None
    return _samples(telemetry.registry, prefix="agio_")


def test_a_batch_is_counted_by_labels() -> None:
    telemetry = _telemetry()
    telemetry.observe_events(_batch())
    got = {key: v for key, v in _observed(telemetry).items() if v}
    assert got == {
        ("agio_runs_started_total", (("agent", "helper"),)): 1,
        ("agio_runs_started_total", (("agent", "other"),)): 1,
        ("agio_runs_started_total", (("agent", "unknown"),)): 1,
        ("agio_tokens_total", (("agent", "helper"), ("kind", "prompt"), ("model", "gpt"))): 21,
        ("agio_tokens_total", (("agent", "helper"), ("kind", "completion"), ("model", "gpt"))): 65,
        ("agio_tokens_total", (("agent", "other"), ("kind", "prompt"), ("model", "small"))): 4,
        ("agio_tool_calls_total", (("tool", "calculator"),)): 2,
        ("agio_tool_calls_total", (("tool", "unknown"),)): 3,
        ("agio_tool_errors_total", (("tool", "calculator"),)): 1,
        ("agio_tool_errors_total", (("tool", "unknown"),)): 1,
        ("agio_runs_finished_total", (("agent", "helper"), ("status", "completed"))): 1,
        ("agio_runs_finished_total", (("agent", "other"), ("status", "failed"))): 1,
        ("agio_runs_finished_total", (("agent", "unknown"), ("status", "cancelled"))): 1,
        ("agio_event_log_lag_seconds_bucket", (("le", "+Inf"),)): 15,
        ("agio_event_log_lag_seconds_count", ()): 15,
        ("agio_event_log_lag_seconds_sum", ()): pytest.approx(15 * 3600, rel=0.01),
    }


@pytest.mark.parametrize("size", [1, 2, 5])
def test_batches_count_what_single_events_count(size: int) -> None:
    whole, split = _telemetry(), _telemetry()
    events = _batch()
    whole.observe_events(events)
    for start in range(0, len(events), size):
        split.observe_events(events[start : start + size])
    expected, got = _observed(whole), _observed(split)
    sum_key = ("agio_event_log_lag_seconds_sum", ())
    assert got.pop(sum_key) == pytest.approx(expected.pop(sum_key), rel=0.01)
    assert got == expected
