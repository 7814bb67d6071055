"""Idempotency keys in the database: claim a key before the work, store the response
after it, give a claim up, purge what has expired. The rules (fingerprints, waiting for a
claim in progress, what a replay returns) are the service's
(`agio.services.idempotency`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from agio.domain.idempotency import IdempotencyRecord, KeyStatus
from agio.domain.ids import new_id
from agio.storage.database import Database
from agio.storage.tables_idempotency import IdempotencyKeyRow


def _record(row: IdempotencyKeyRow) -> IdempotencyRecord:
    return IdempotencyRecord(
        id=row.id,
        user_id=row.user_id,
        key=row.key,
        fingerprint=row.fingerprint,
        status=KeyStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        response_status=row.response_status,
        response_body=row.response_body,
        run_id=row.run_id,
    )


class IdempotencyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert

    async def claim(
        self,
        user_id: str,
        key: str,
        fingerprint: str,
        *,
        now: datetime,
        expires_at: datetime,
        stale_before: datetime,
    ) -> tuple[str | None, IdempotencyRecord | None]:
        """Claim `key` for `user_id`: `(id of the new claim, None)`, or `(None, the record
        that holds the key)`. The key's record is deleted first if it has expired, or if
        it is a claim still in progress that was made before `stale_before` (its process
        died before it could finish or give it up).

        One transaction: `INSERT … ON CONFLICT DO NOTHING` under the unique (user, key)
        constraint, then, when nothing was inserted, the read of the row that was there.
        On PostgreSQL a concurrent insert of the same key makes this one wait for it to
        commit (or roll back); on SQLite the transaction holds the write lock throughout."""
        async with self._db.write_sessions() as session, session.begin():
            await session.execute(
                delete(IdempotencyKeyRow).where(
                    IdempotencyKeyRow.user_id == user_id,
                    IdempotencyKeyRow.key == key,
                    or_(
                        IdempotencyKeyRow.expires_at <= now,
                        and_(
                            IdempotencyKeyRow.status == KeyStatus.IN_PROGRESS.value,
                            IdempotencyKeyRow.created_at <= stale_before,
                        ),
                    ),
                )
            )
            claim_id = new_id("idem")
            inserted = await session.execute(
                self._insert(IdempotencyKeyRow)
                .values(
                    id=claim_id,
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    status=KeyStatus.IN_PROGRESS.value,
                    created_at=now,
                    expires_at=expires_at,
                )
                .on_conflict_do_nothing(index_elements=["user_id", "key"])
                .returning(IdempotencyKeyRow.id)
            )
            if inserted.scalar_one_or_none() is not None:
                return claim_id, None
            row = (
                await session.execute(
                    select(IdempotencyKeyRow).where(
                        IdempotencyKeyRow.user_id == user_id, IdempotencyKeyRow.key == key
                    )
                )
            ).scalar_one_or_none()
            return None, None if row is None else _record(row)

    async def get(self, user_id: str, key: str) -> IdempotencyRecord | None:
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(IdempotencyKeyRow).where(
                        IdempotencyKeyRow.user_id == user_id, IdempotencyKeyRow.key == key
                    )
                )
            ).scalar_one_or_none()
            return None if row is None else _record(row)

    async def complete(
        self, claim_id: str, *, status_code: int, body: Any, run_id: str | None
    ) -> bool:
        """Store the response of the claim `claim_id`; False if the claim is gone (it
        expired, or was taken for stale, meanwhile)."""
        async with self._db.sessions() as session, session.begin():
            result = await session.execute(
                update(IdempotencyKeyRow)
                .where(
                    IdempotencyKeyRow.id == claim_id,
                    IdempotencyKeyRow.status == KeyStatus.IN_PROGRESS.value,
                )
                .values(
                    status=KeyStatus.COMPLETED.value,
                    response_status=status_code,
                    response_body=body,
                    run_id=run_id,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    async def release(self, claim_id: str) -> None:
        """Give up the claim `claim_id` (its request failed): the key is free again."""
        async with self._db.sessions() as session, session.begin():
            await session.execute(
                delete(IdempotencyKeyRow).where(
                    IdempotencyKeyRow.id == claim_id,
                    IdempotencyKeyRow.status == KeyStatus.IN_PROGRESS.value,
                )
            )

    async def purge_expired(self, now: datetime) -> int:
        """Delete every key that has expired; how many there were."""
        async with self._db.sessions() as session, session.begin():
            result = await session.execute(
                delete(IdempotencyKeyRow).where(IdempotencyKeyRow.expires_at <= now)
            )
            return int(getattr(result, "rowcount", 0) or 0)
