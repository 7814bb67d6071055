"""Component repository: the current revision of each component plus its history; the
reads that start runs may be answered from memory (`ComponentCache`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agio.domain.components import StoredComponent as StoredComponent
from agio.domain.errors import ComponentNotFound, Conflict
from agio.domain.time import utcnow
from agio.storage.change_stamp import ChangeStamp
from agio.storage.component_cache import ComponentCache
from agio.storage.database import Database
from agio.storage.tables import (
    ComponentRefRow,
    ComponentRevisionRow,
    ComponentRow,
    ComponentTagRow,
)


@dataclass(frozen=True)
class ComponentWrite:
    """What the service hands the repository to create or replace a component."""

    name: str
    type: str
    description: str
    enabled: bool
    tags: list[str]
    config: dict[str, Any]
    refs: list[str]
    history_config: dict[str, Any]  # the config as history shows it (secrets masked)
    source: str = "api"
    file_digest: str | None = None


@dataclass(frozen=True)
class Revision:
    change_type: str
    timestamp: datetime
    old_config: dict[str, Any] | None
    new_config: dict[str, Any] | None
    actor: str
    revision: int
    #: a `rolled_back` entry: the revision whose configuration it made current again
    rolled_back_from: int | None = None
    component_type: str = ""


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    total: int
    items: list[T] = field(default_factory=list)


def _to_domain(row: ComponentRow) -> StoredComponent:
    # the tags table serves the `tag` filter; the component's own list keeps its order
    return StoredComponent(
        id=row.id,
        name=row.name,
        type=row.type,
        description=row.description,
        enabled=row.enabled,
        tags=list(row.config.get("tags") or []),
        config=row.config,
        revision=row.revision,
        source=row.source,
        file_digest=row.file_digest,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ComponentRepository:
    """All reads and writes of components go through here. With `cache_seconds` (the
    setting `AGIO_COMPONENT_CACHE_SECONDS`), the reads asked with `cached=True` may come
    from `cache` (every write drops what it changes from it, here and, once `cache` is
    connected to the bus, in every process)."""

    def __init__(self, db: Database, *, cache_seconds: float = 0) -> None:
        self._db = db
        self.cache = ComponentCache(
            cache_seconds, stamp=ChangeStamp.beside(db.sqlite_file, "component-changes")
        )

    # ------------------------------------------------------------------ reads

    async def get(
        self, key: str, type_: str | None = None, *, cached: bool = False
    ) -> StoredComponent | None:
        """Look a component up by id or by name, optionally of one type only; with
        `cached`, from memory when it is there."""
        if cached:
            found = self.cache.get(key, type_)
            if found is not None:
                return found
        generation = self.cache.generation
        async with self._db.sessions() as session:
            query = select(ComponentRow).where(
                or_(ComponentRow.id == key, ComponentRow.name == key)
            )
            if type_ is not None:
                query = query.where(ComponentRow.type == type_)
            row = (await session.execute(query)).scalars().first()
            component = None if row is None else _to_domain(row)
        if component is not None:
            self.cache.put([component], generation)
        return component

    async def get_many(
        self, names: Sequence[str], *, cached: bool = False
    ) -> dict[str, StoredComponent]:
        """The components named `names` that exist, in one query (with `cached`, of those
        that are not in memory; none when all are)."""
        found: dict[str, StoredComponent] = {}
        if cached:
            for name in names:
                component = self.cache.get(name)
                if component is not None and component.name == name:
                    found[name] = component
        missing = [name for name in names if name not in found]
        if not missing:
            return found
        generation = self.cache.generation
        async with self._db.sessions() as session:
            rows = await session.execute(select(ComponentRow).where(ComponentRow.name.in_(missing)))
            read = [_to_domain(row) for row in rows.scalars()]
        self.cache.put(read, generation)
        return found | {component.name: component for component in read}

    async def revisions(self, names: Sequence[str]) -> dict[str, tuple[str, int]]:
        """{name: (id, revision)} of those of `names` that exist: from memory when they are
        there (no copies made), the others read."""
        found = self.cache.revisions(names)
        missing = [name for name in names if name not in found]
        if missing:
            read = await self.get_many(missing)
            found.update((name, (c.id, c.revision)) for name, c in read.items())
        return found

    async def types_of(self, names: Sequence[str]) -> dict[str, str]:
        """{name: type} for those of `names` that exist."""
        if not names:
            return {}
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(ComponentRow.name, ComponentRow.type).where(ComponentRow.name.in_(names))
            )
            return {name: type_ for name, type_ in rows}

    async def list_page(
        self,
        *,
        type_: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[StoredComponent]:
        async with self._db.sessions() as session:
            query = select(ComponentRow)
            if type_ is not None:
                query = query.where(ComponentRow.type == type_)
            if tag is not None:
                query = query.where(
                    ComponentRow.id.in_(
                        select(ComponentTagRow.component_id).where(ComponentTagRow.tag == tag)
                    )
                )
            total = (
                await session.execute(select(func.count()).select_from(query.subquery()))
            ).scalar_one()
            query = query.order_by(ComponentRow.created_at, ComponentRow.id).offset(offset)
            if limit is not None:
                query = query.limit(limit)
            rows = (await session.execute(query)).scalars()
            return Page(total=total, items=[_to_domain(r) for r in rows])

    async def referenced_by(self, name: str) -> list[str]:
        """Names of the components (agents) that name `name`."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(ComponentRow.name)
                .join(ComponentRefRow, ComponentRefRow.component_id == ComponentRow.id)
                .where(ComponentRefRow.ref_name == name)
                .order_by(ComponentRow.name)
            )
            return list(rows.scalars())

    async def history(self, name: str) -> list[Revision]:
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(ComponentRevisionRow)
                .where(ComponentRevisionRow.component_name == name)
                .order_by(ComponentRevisionRow.id)
            )
            return [
                Revision(
                    change_type=r.change_type,
                    timestamp=r.created_at,
                    old_config=r.old_config,
                    new_config=r.new_config,
                    actor=r.actor,
                    revision=r.revision,
                    rolled_back_from=r.rolled_back_from,
                    component_type=r.component_type,
                )
                for r in rows.scalars()
            ]

    async def revision(self, name: str, number: int) -> Revision | None:
        """The history entry of `name` with revision `number`. (Revision numbers go on
        across a deletion and a re-creation; where a database made before that holds two
        entries with one number, the later one is meant.)"""
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(ComponentRevisionRow)
                    .where(
                        ComponentRevisionRow.component_name == name,
                        ComponentRevisionRow.revision == number,
                    )
                    .order_by(ComponentRevisionRow.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            return Revision(
                change_type=row.change_type,
                timestamp=row.created_at,
                old_config=row.old_config,
                new_config=row.new_config,
                actor=row.actor,
                revision=row.revision,
                rolled_back_from=row.rolled_back_from,
                component_type=row.component_type,
            )

    # ------------------------------------------------------------------ writes

    @staticmethod
    def _revision(
        row: ComponentRow,
        change_type: str,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        actor: str,
        when: datetime,
        rolled_back_from: int | None = None,
    ) -> ComponentRevisionRow:
        return ComponentRevisionRow(
            component_name=row.name,
            component_type=row.type,
            revision=row.revision,
            change_type=change_type,
            old_config=old,
            new_config=new,
            actor=actor,
            created_at=when,
            rolled_back_from=rolled_back_from,
        )

    @staticmethod
    async def _last_history_config(session: AsyncSession, name: str) -> dict[str, Any] | None:
        return (
            await session.execute(
                select(ComponentRevisionRow.new_config)
                .where(ComponentRevisionRow.component_name == name)
                .order_by(ComponentRevisionRow.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    async def create(self, component_id: str, data: ComponentWrite, actor: str) -> StoredComponent:
        """Insert a new component; `Conflict` when the name is taken."""
        now = utcnow()
        try:
            async with self._db.write_sessions() as session, session.begin():
                taken = await session.execute(
                    select(ComponentRow.type).where(ComponentRow.name == data.name)
                )
                existing_type = taken.scalar_one_or_none()
                if existing_type is not None:
                    raise Conflict(
                        f"A component named '{data.name}' already exists (type {existing_type})"
                    )
                # a name used before goes on from its last revision, so that a revision
                # number names one entry of the name's history (diff, rollback)
                last = await session.scalar(
                    select(func.max(ComponentRevisionRow.revision)).where(
                        ComponentRevisionRow.component_name == data.name
                    )
                )
                row = ComponentRow(
                    id=component_id,
                    name=data.name,
                    type=data.type,
                    description=data.description,
                    enabled=data.enabled,
                    config=data.config,
                    revision=(last or 0) + 1,
                    source=data.source,
                    file_digest=data.file_digest,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.flush()
                self._add_children(session, row.id, data)
                session.add(self._revision(row, "created", None, data.history_config, actor, now))
                await session.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"Could not create '{data.name}': the name was taken or a referenced "
                "component was removed at the same time; retry"
            ) from exc
        self.cache.changed([data.name])
        return _to_domain(row)

    @staticmethod
    def _add_children(session: AsyncSession, component_id: str, data: ComponentWrite) -> None:
        session.add_all(ComponentTagRow(component_id=component_id, tag=t) for t in data.tags)
        session.add_all(ComponentRefRow(component_id=component_id, ref_name=r) for r in data.refs)

    async def replace(
        self,
        current: StoredComponent,
        data: ComponentWrite,
        actor: str,
        *,
        rolled_back_from: int | None = None,
    ) -> StoredComponent:
        """Replace `current` with `data` if nobody changed it since it was read; with
        `rolled_back_from`, the history entry is a `rolled_back` to that revision."""
        now = utcnow()
        try:
            async with self._db.write_sessions() as session, session.begin():
                old_history = await self._last_history_config(session, current.name)
                result = await session.execute(
                    update(ComponentRow)
                    .where(ComponentRow.id == current.id, ComponentRow.revision == current.revision)
                    .values(
                        description=data.description,
                        enabled=data.enabled,
                        config=data.config,
                        revision=current.revision + 1,
                        source=data.source,
                        file_digest=data.file_digest,
                        updated_at=now,
                    )
                    .returning(ComponentRow)
                )
                row = result.scalars().first()
                if row is None:
                    raise Conflict(
                        f"Component '{current.name}' was changed or deleted by another request; "
                        "read it again and retry"
                    )
                await session.execute(
                    delete(ComponentTagRow).where(ComponentTagRow.component_id == current.id)
                )
                await session.execute(
                    delete(ComponentRefRow).where(ComponentRefRow.component_id == current.id)
                )
                self._add_children(session, current.id, data)
                change = "updated" if rolled_back_from is None else "rolled_back"
                session.add(
                    self._revision(
                        row,
                        change,
                        old_history,
                        data.history_config,
                        actor,
                        now,
                        rolled_back_from=rolled_back_from,
                    )
                )
                await session.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"Could not update '{current.name}': a referenced component was removed at the "
                "same time; retry"
            ) from exc
        self.cache.changed([current.name])
        return _to_domain(row)

    async def delete(self, current: StoredComponent, actor: str) -> None:
        """Delete a component; `Conflict` while another component names it."""
        now = utcnow()
        try:
            async with self._db.write_sessions() as session, session.begin():
                users = (
                    (
                        await session.execute(
                            select(ComponentRow.name)
                            .join(ComponentRefRow, ComponentRefRow.component_id == ComponentRow.id)
                            .where(ComponentRefRow.ref_name == current.name)
                            .order_by(ComponentRow.name)
                        )
                    )
                    .scalars()
                    .all()
                )
                if users:
                    raise Conflict(
                        f"Component '{current.name}' is still used by: {', '.join(users)}"
                    )
                old_history = await self._last_history_config(session, current.name)
                row = await session.get(ComponentRow, current.id)
                if row is None:
                    raise ComponentNotFound(current.name)
                row.revision += 1
                session.add(self._revision(row, "deleted", old_history, None, actor, now))
                await session.delete(row)
                await session.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"Component '{current.name}' became used by another component; retry"
            ) from exc
        self.cache.changed([current.name])
