"""Prometheus metrics (prometheus-client): HTTP requests, runs, tokens, tool calls, open
SSE streams and event-log lag.

Each app has its own registry (so that several apps in one process, as in tests, do not
collide). With several worker processes (`agio serve --workers N` sets
`PROMETHEUS_MULTIPROC_DIR`), prometheus-client's multiprocess mode keeps every process's
values in files and `/metrics` adds them up, whichever process answers.

Run figures come from the events the run writer has committed (`RunWriter.on_stored`), so
they count what is in the event log, wherever the run executed.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agio.domain import events as ev
from agio.domain.events import Event

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_TERMINAL_STATUS = {event_type: status.value for event_type, status in ev.ENDED_AS.items()}
#: the events that count towards more than the event-log lag
_COUNTED = frozenset({ev.RUN_STARTED, ev.STEP_COMPLETED, ev.TOOL_CALL_COMPLETED, *_TERMINAL_STATUS})
UNKNOWN = "unknown"


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(amount)` for each of `amounts` (a histogram without labels, or a
    child), with one update of its sum and of each bucket it touches instead of one per
    amount: prometheus-client has no call for that, so this goes by its bucket values."""
    if not amounts:
        return
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]
    bounds = histogram._upper_bounds  # ascending, the last one +Inf
    counts = [0] * len(bounds)
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1  # the first bucket with amount <= bound
    histogram._sum.inc(sum(amounts))
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


class _Children:
    """The children of a labelled counter, kept by label values: `.labels()` takes a lock
    and builds its key for every call."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[tuple[str, ...], Counter] = {}

    def inc(self, labels: tuple[str, ...], amount: float) -> None:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._counter.labels(*labels)
        child.inc(amount)


class _Static(Collector):
    """Gauges read from the database at scrape time, added to one exposition."""

    def __init__(self, families: Sequence[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self):  # type: ignore[no-untyped-def]
        yield from self._families


class Telemetry:
    def __init__(self) -> None:
        self.multiprocess = multiprocess_enabled()
        # multiprocess mode: values live in files, collected at scrape time; otherwise in
        # this app's own registry
        registry = None if self.multiprocess else CollectorRegistry()
        self.registry = registry
        self.http_requests = Counter(
            "agio_http_requests",
            "HTTP requests, by route template, method and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "agio_http_request_duration_seconds",
            "Time to the end of the response (for SSE: to the end of the stream).",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.runs_started = Counter(
            "agio_runs_started", "Runs that started, by agent.", ["agent"], registry=registry
        )
        self.runs_finished = Counter(
            "agio_runs_finished",
            "Runs that ended, by agent and status (completed, failed, cancelled).",
            ["agent", "status"],
            registry=registry,
        )
        self.tokens = Counter(
            "agio_tokens",
            "Model tokens, by agent, model and kind (prompt, completion).",
            ["agent", "model", "kind"],
            registry=registry,
        )
        self.tool_calls = Counter(
            "agio_tool_calls", "Tool calls, by tool.", ["tool"], registry=registry
        )
        self.tool_errors = Counter(
            "agio_tool_errors",
            "Tool calls that failed or timed out, by tool.",
            ["tool"],
            registry=registry,
        )
        self.sse_streams = Gauge(
            "agio_sse_streams_open",
            "SSE streams being served.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.event_lag = Histogram(
            "agio_event_log_lag_seconds",
            "Time from a run event's creation to its commit to the event log.",
            buckets=_LAG_BUCKETS,
            registry=registry,
        )
        self._started = _Children(self.runs_started)
        self._finished = _Children(self.runs_finished)
        self._tokens = _Children(self.tokens)
        self._tool_calls = _Children(self.tool_calls)
        self._tool_errors = _Children(self.tool_errors)
        # run -> (agent, model, its tools), for the labels of its later events
        self._labels: OrderedDict[str, tuple[str, str, frozenset[str]]] = OrderedDict()

    # ------------------------------------------------------------------ hooks

    def label_run(
        self, run_id: str, agent: str, model: str, tools: frozenset[str] = frozenset()
    ) -> None:
        self._labels[run_id] = (agent, model, tools)
        self._labels.move_to_end(run_id)
        while len(self._labels) > 10_000:
            self._labels.popitem(last=False)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    def observe_events(self, events: Sequence[Event]) -> None:
        """Called with each batch of committed events: the lag of each, and the runs,
        tokens and tool calls among them, added up by labels and counted once each."""
        now = time.time()
        observe_many(self.event_lag, [max(0.0, now - e.timestamp.timestamp()) for e in events])
        counts: dict[tuple[_Children, tuple[str, ...]], float] = {}

        def add(children: _Children, labels: tuple[str, ...], amount: float = 1) -> None:
            key = (children, labels)
            counts[key] = counts.get(key, 0) + amount

        for event in events:
            if event.type not in _COUNTED:
                continue
            agent, model, tools = self._labels.get(event.run_id, (UNKNOWN, UNKNOWN, frozenset()))
            data = event.data
            if event.type == ev.RUN_STARTED:
                add(self._started, (agent,))
            elif event.type in _TERMINAL_STATUS:
                add(self._finished, (agent, _TERMINAL_STATUS[event.type]))
                self._labels.pop(event.run_id, None)
            elif event.type == ev.STEP_COMPLETED:
                metrics = data.get("metrics") or {}
                for kind in ("prompt", "completion"):
                    count = int(metrics.get(f"{kind}_tokens") or 0)
                    if count:
                        add(self._tokens, (agent, model, kind), count)
            else:  # a tool call completed
                # a name the model made up is not a label value (series must stay bounded)
                tool = str(data.get("tool", UNKNOWN))
                if tool not in tools:
                    tool = UNKNOWN
                add(self._tool_calls, (tool,))
                if data.get("error"):
                    add(self._tool_errors, (tool,))
        for (children, labels), amount in counts.items():
            children.inc(labels, amount)

    # ------------------------------------------------------------------ exposition

    def exposition(self, active_runs: dict[str, int]) -> bytes:
        """The text format: this app's metrics (or every process's), and the runs by
        status as the database has them now (exact for the whole server)."""
        if self.multiprocess:
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            assert self.registry is not None
            registry = self.registry
        family = GaugeMetricFamily(
            "agio_runs_active", "Unfinished runs by status, from the database.", labels=["status"]
        )
        for status, count in sorted(active_runs.items()):
            family.add_metric([status], count)
        static = CollectorRegistry()
        static.register(_Static([family]))
        return generate_latest(registry) + generate_latest(static)
