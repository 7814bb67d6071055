"""Sessions: a conversation's runs, its stored messages and its summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import delete, func, select, update

from agio.domain.runs import Session
from agio.storage.components import Page
from agio.storage.database import Database
from agio.storage.tables import RunRow, SessionMessageRow, SessionRow


class NewSessionMessage(TypedDict):
    """A `session_messages` row to store: one message a completed run adds to its
    session."""

    session_id: str
    run_id: str
    message: dict[str, Any]
    created_at: datetime


def to_session(row: SessionRow) -> Session:
    return Session(
        id=row.id,
        agent_id=row.agent_id,
        user_id=row.user_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_session(self, session_id: str) -> Session | None:
        async with self._db.sessions() as s:
            row = await s.get(SessionRow, session_id)
            return None if row is None else to_session(row)

    async def list_sessions(
        self, *, user_id: str | None, agent_id: str | None, limit: int, offset: int
    ) -> Page[tuple[Session, int]]:
        """Sessions (of `user_id` / `agent_id` when given), most recently active first, each
        with its number of runs."""
        where = []
        if user_id is not None:
            where.append(SessionRow.user_id == user_id)
        if agent_id is not None:
            where.append(SessionRow.agent_id == agent_id)
        runs = (
            select(func.count())
            .select_from(RunRow)
            .where(RunRow.session_id == SessionRow.id)
            .scalar_subquery()
        )
        async with self._db.sessions() as s:
            total = await s.scalar(select(func.count()).select_from(SessionRow).where(*where))
            rows = await s.execute(
                select(SessionRow, runs)
                .where(*where)
                .order_by(SessionRow.updated_at.desc(), SessionRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            items = [(to_session(r), int(n)) for r, n in rows]
            return Page(total=int(total or 0), items=items)

    async def session_run_ids(self, session_id: str) -> list[tuple[str, str]]:
        """(run id, status) of the session's runs, oldest first."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(RunRow.id, RunRow.status)
                .where(RunRow.session_id == session_id)
                .order_by(RunRow.created_at, RunRow.id)
            )
            return [(i, st) for i, st in rows]

    async def delete_session(self, session_id: str) -> None:
        """The session, its messages and its runs (their events, steps and checkpoints
        go with them)."""
        async with self._db.write_sessions() as s, s.begin():
            await s.execute(delete(RunRow).where(RunRow.session_id == session_id))
            await s.execute(delete(SessionRow).where(SessionRow.id == session_id))

    async def session_summary(self, session_id: str) -> tuple[str | None, int]:
        """The session's summary and how many of its messages it covers."""
        async with self._db.sessions() as s:
            row = (
                await s.execute(
                    select(SessionRow.summary, SessionRow.summary_upto).where(
                        SessionRow.id == session_id
                    )
                )
            ).first()
            return (row[0], int(row[1])) if row else (None, 0)

    async def save_summary(self, session_id: str, summary: str, upto: int) -> None:
        async with self._db.sessions() as s, s.begin():
            await s.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(summary=summary, summary_upto=upto)
            )

    async def session_messages(self, session_id: str) -> list[dict[str, Any]]:
        """The session's stored messages, in the order they were appended."""
        async with self._db.sessions() as s:
            rows = await s.execute(
                select(SessionMessageRow.message)
                .where(SessionMessageRow.session_id == session_id)
                .order_by(SessionMessageRow.id)
            )
            return list(rows.scalars())
