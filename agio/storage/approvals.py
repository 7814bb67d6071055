"""Approvals in the database: asked for once per tool call (the unique `run_id`,
`call_id`), decided at most once (an update conditional on no decision yet), listed for
the inbox and found when they expire (a partial index over the undecided ones)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from agio.domain.approvals import Approval, Decision
from agio.domain.ids import new_id
from agio.domain.runs import RunStatus
from agio.storage.database import Database
from agio.storage.tables import RunRow, unfinished_runs
from agio.storage.tables_approvals import ApprovalRow


def _approval(row: ApprovalRow) -> Approval:
    return Approval(
        id=row.id,
        run_id=row.run_id,
        call_id=row.call_id,
        agent_id=row.agent_id,
        user_id=row.user_id,
        tool=row.tool,
        args=row.args,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        decision=Decision(row.decision) if row.decision else None,
        decided_args=row.decided_args,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=row.reason,
    )


class ApprovalRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def request(
        self,
        run_id: str,
        agent_id: str,
        user_id: str | None,
        calls: Sequence[tuple[str, str, dict[str, Any]]],
        *,
        now: datetime,
        expires_at: datetime,
    ) -> dict[str, Approval]:
        """Ask for a decision on each (call id, tool, arguments) that has none asked yet;
        return every call's approval, the earlier ones as they are (a run that resumes
        from before its request asks again, and finds the first one)."""
        call_ids = [call_id for call_id, _, _ in calls]
        rows = [
            {
                "id": new_id("apr"),
                "run_id": run_id,
                "call_id": call_id,
                "agent_id": agent_id,
                "user_id": user_id,
                "tool": tool,
                "args": args,
                "requested_at": now,
                "expires_at": expires_at,
            }
            for call_id, tool, args in calls
        ]
        insert = sqlite_insert if self._db.dialect == "sqlite" else postgresql_insert
        async with self._db.write_sessions() as s, s.begin():
            # asked before (a run that resumes from before its request asks again, or
            # another copy of it asked meanwhile): that one stands
            await s.execute(
                insert(ApprovalRow).on_conflict_do_nothing(index_elements=["run_id", "call_id"]),
                rows,
            )
            return await self._of_calls(s, run_id, call_ids)

    async def _of_calls(self, s: Any, run_id: str, call_ids: list[str]) -> dict[str, Approval]:
        rows = await s.scalars(
            select(ApprovalRow).where(
                ApprovalRow.run_id == run_id, ApprovalRow.call_id.in_(call_ids)
            )
        )
        return {row.call_id: _approval(row) for row in rows}

    async def get(self, run_id: str, call_id: str) -> Approval | None:
        async with self._db.sessions() as s:
            row = await s.scalar(
                select(ApprovalRow).where(
                    ApprovalRow.run_id == run_id, ApprovalRow.call_id == call_id
                )
            )
            return _approval(row) if row is not None else None

    async def of_run(self, run_id: str) -> list[Approval]:
        async with self._db.sessions() as s:
            rows = await s.scalars(
                select(ApprovalRow)
                .where(ApprovalRow.run_id == run_id)
                .order_by(ApprovalRow.requested_at, ApprovalRow.call_id)
            )
            return [_approval(row) for row in rows]

    async def decide(
        self,
        run_id: str,
        call_id: str,
        decision: Decision,
        *,
        by: str,
        now: datetime,
        reason: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> Approval | None:
        """Record the decision if none was made yet: the approval as decided, or None when
        it had been decided already (the first decision stands)."""
        async with self._db.write_sessions() as s, s.begin():
            result = await s.execute(
                update(ApprovalRow)
                .where(
                    ApprovalRow.run_id == run_id,
                    ApprovalRow.call_id == call_id,
                    ApprovalRow.decision.is_(None),
                )
                .values(
                    decision=decision.value,
                    decided_by=by,
                    decided_at=now,
                    reason=reason,
                    decided_args=arguments,
                )
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            row = await s.scalar(
                select(ApprovalRow).where(
                    ApprovalRow.run_id == run_id, ApprovalRow.call_id == call_id
                )
            )
            return _approval(row) if row is not None else None

    async def undecided(self, run_id: str) -> int:
        """How many of the run's approvals wait for a decision."""
        async with self._db.sessions() as s:
            count = await s.scalar(
                select(func.count())
                .select_from(ApprovalRow)
                .where(ApprovalRow.run_id == run_id, ApprovalRow.decision.is_(None))
            )
            return int(count or 0)

    async def pending(
        self,
        *,
        user_id: str | None = None,
        run_id: str | None = None,
        agent_id: str | None = None,
        limit: int = 100,
    ) -> list[Approval]:
        """Undecided approvals of runs still unfinished, oldest first (of `user_id`'s runs
        only, if given): a run that ended (cancelled while it waited, say) asks no more."""
        query = _of_unfinished_runs(select(ApprovalRow).where(ApprovalRow.decision.is_(None)))
        if user_id is not None:
            query = query.where(ApprovalRow.user_id == user_id)
        if run_id is not None:
            query = query.where(ApprovalRow.run_id == run_id)
        if agent_id is not None:
            query = query.where(ApprovalRow.agent_id == agent_id)
        async with self._db.sessions() as s:
            rows = await s.scalars(
                query.order_by(ApprovalRow.requested_at, ApprovalRow.id).limit(limit)
            )
            return [_approval(row) for row in rows]

    async def expired(self, now: datetime, limit: int = 100) -> list[Approval]:
        """Undecided approvals past their expiry (the partial index of undecided ones), of
        runs still unfinished (those of ended runs are left as they are)."""
        async with self._db.sessions() as s:
            rows = await s.scalars(
                _of_unfinished_runs(select(ApprovalRow))
                .where(ApprovalRow.decision.is_(None), ApprovalRow.expires_at <= now)
                .order_by(ApprovalRow.expires_at)
                .limit(limit)
            )
            return [_approval(row) for row in rows]

    async def decided_waiting_runs(self, limit: int = 100) -> list[str]:
        """Runs waiting for approvals, handed back by their process, that have none
        undecided: a decision was made but the run did not continue (its deciding process
        stopped in between). From the partial index of unfinished runs."""
        undecided = exists().where(ApprovalRow.run_id == RunRow.id, ApprovalRow.decision.is_(None))
        async with self._db.sessions() as s:
            rows = await s.scalars(
                select(RunRow.id)
                .where(
                    unfinished_runs(),
                    RunRow.status == RunStatus.WAITING_APPROVAL.value,
                    RunRow.owner_id.is_(None),
                    ~undecided,
                )
                .order_by(RunRow.created_at, RunRow.id)
                .limit(limit)
            )
            return list(rows)


def _of_unfinished_runs(query: Select[Any]) -> Select[Any]:
    return query.join(RunRow, RunRow.id == ApprovalRow.run_id).where(unfinished_runs())
