"""The webhook outbox's writes: the deliveries of stored events, inserted in the very
transaction that stores them, so that an event is delivered if and only if it is stored.

One statement per kind of event (`INSERT INTO webhook_deliveries ... SELECT`), executed
with a parameter row per webhook event of the transaction: the database itself picks the
subscriptions that want it (by event type, by agent, by owner: a user's subscription gets
the events of that user's runs, an admin's those of every run) and, for the events of a
run's end, the run's own `webhook_url`. No subscription is read or cached in the process,
so a subscription created or deleted is in effect from the next transaction on, in every
process. A transaction without such events runs nothing more than a look-up of each of
its events' type in a dict.

Every path that stores a run event calls it: `core_batch.store` and the SQLite fast path
(`OutboxStatements`, the same SQL compiled for `sqlite3`) for the run writer's batches,
and the writer's and `LeaseRepository`'s own transactions that end a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Dialect,
    Insert,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase

from agio.domain.events import Event
from agio.domain.ids import new_id
from agio.domain.webhooks import TERMINAL_WEBHOOK_EVENTS, WEBHOOK_EVENT_OF
from agio.storage.tables import RunRow
from agio.storage.tables_webhooks import (
    WebhookDeliveryRow,
    WebhookSubscriptionEventRow,
    WebhookSubscriptionRow,
)
from agio.storage.types import JSONType, UTCDateTime, sqlite_utc_text


def _table(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


_SUBSCRIPTIONS = _table(WebhookSubscriptionRow)
_WANTS = _table(WebhookSubscriptionEventRow)
_RUNS = _table(RunRow)
_DELIVERIES = _table(WebhookDeliveryRow)

# one parameter row per webhook event
_ID_PREFIX = bindparam("w_id", type_=String())  # "whd_<token>_": + the subscription's id
_RUN = bindparam("w_run", type_=String())
_SEQ = bindparam("w_seq", type_=Integer())
_TYPE = bindparam("w_type", type_=String())  # the webhook event type (`run.completed`)
_DATA = bindparam("w_data", type_=JSONType)  # the run event's data
_AT = bindparam("w_at", type_=UTCDateTime())  # the run event's time: due from then on

_COLUMNS = (
    "id",
    "subscription_id",
    "run_id",
    "seq",
    "event_type",
    "url",
    "agent_id",
    "session_id",
    "data",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


def _row(id_: Any, subscription_id: Any, url: Any) -> tuple[Any, ...]:
    # literals, not parameters: `pending` is the partial index's predicate
    return (
        id_,
        subscription_id,
        _RUNS.c.id,
        _SEQ,
        _TYPE,
        url,
        _RUNS.c.agent_id,
        _RUNS.c.session_id,
        _DATA,
        literal_column("'pending'"),
        literal_column("0"),
        _AT,
        _AT,
    )


_BY_SUBSCRIPTION: Select[Any] = select(
    *_row(_ID_PREFIX + _SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.url)
).where(
    _WANTS.c.event_type == _TYPE,
    _SUBSCRIPTIONS.c.id == _WANTS.c.subscription_id,
    _RUNS.c.id == _RUN,
    or_(_SUBSCRIPTIONS.c.agent_id.is_(None), _SUBSCRIPTIONS.c.agent_id == _RUNS.c.agent_id),
    or_(_SUBSCRIPTIONS.c.all_runs == true(), _SUBSCRIPTIONS.c.owner_id == _RUNS.c.user_id),
)
_BY_RUN: Select[Any] = select(
    *_row(_ID_PREFIX + literal_column("'run'"), null(), _RUNS.c.webhook_url)
).where(_RUNS.c.id == _RUN, _RUNS.c.webhook_url.is_not(None))

#: the deliveries of an event of a run's end: its subscriptions' and the run's own
FOR_RUN_END: Insert = insert(_DELIVERIES).from_select(
    _COLUMNS, union_all(_BY_SUBSCRIPTION, _BY_RUN)
)
#: the deliveries of any other webhook event: its subscriptions' only
FOR_EVENT: Insert = insert(_DELIVERIES).from_select(_COLUMNS, _BY_SUBSCRIPTION)


def webhook_events(events: Sequence[Event]) -> list[tuple[Event, str]]:
    """The events that are webhook events, each with its webhook type."""
    of = WEBHOOK_EVENT_OF
    return [(e, kind) for e in events if (kind := of.get(e.type)) is not None]


def _params(event: Event, kind: str) -> dict[str, Any]:
    return {
        "w_id": new_id("whd") + "_",
        "w_run": event.run_id,
        "w_seq": event.seq,
        "w_type": kind,
        "w_data": event.data,
        "w_at": event.timestamp,
    }


async def store_outbox(conn: AsyncConnection, events: Sequence[Event]) -> None:
    """Insert the deliveries of `events` (those that are webhook events) in the
    transaction of `conn`, which stores them."""
    found = webhook_events(events)
    if not found:
        return
    ends = [_params(e, kind) for e, kind in found if kind in TERMINAL_WEBHOOK_EVENTS]
    others = [_params(e, kind) for e, kind in found if kind not in TERMINAL_WEBHOOK_EVENTS]
    if ends:
        await conn.execute(FOR_RUN_END, ends)
    if others:
        await conn.execute(FOR_EVENT, others)


#: one statement and its parameter rows (as `agio.storage.sqlite_batch.Statement`)
SQLiteStatement = tuple[str, list[tuple[Any, ...]]]


class OutboxStatements:
    """`store_outbox` for the run writer's SQLite fast path: the same two statements,
    compiled for `sqlite3` once, with values bound as SQLAlchemy binds them there."""

    def __init__(self, dialect: Dialect) -> None:
        json_bind = JSONType.dialect_impl(dialect).bind_processor(dialect)
        if json_bind is None:
            raise TypeError("JSON columns need a bind processor on SQLite")
        self._json: Callable[[Any], Any] = json_bind
        self._end = self._compile(FOR_RUN_END, dialect)
        self._other = self._compile(FOR_EVENT, dialect)

    @staticmethod
    def _compile(statement: Insert, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        compiled = statement.compile(dialect=dialect)
        order = compiled.positiontup
        if order is None:
            raise TypeError("the SQLite dialect binds parameters by position")
        return str(compiled), tuple(order)

    def _bound(self, event: Event, kind: str, order: tuple[str, ...]) -> tuple[Any, ...]:
        values = {
            "w_id": new_id("whd") + "_",
            "w_run": event.run_id,
            "w_seq": event.seq,
            "w_type": kind,
            "w_data": self._json(event.data),
            "w_at": sqlite_utc_text(event.timestamp),
        }
        return tuple(values[name] for name in order)

    def prepare(self, events: Sequence[Event]) -> list[SQLiteStatement]:
        found = webhook_events(events)
        if not found:
            return []
        out: list[SQLiteStatement] = []
        (end_sql, end_order), (other_sql, other_order) = self._end, self._other
        ends = [self._bound(e, k, end_order) for e, k in found if k in TERMINAL_WEBHOOK_EVENTS]
        others = [
            self._bound(e, k, other_order) for e, k in found if k not in TERMINAL_WEBHOOK_EVENTS
        ]
        if ends:
            out.append((end_sql, ends))
        if others:
            out.append((other_sql, others))
        return out
