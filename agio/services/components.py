"""The configuration service: every change to a component (agents included) goes here.

It validates, checks references, keeps secrets out of history and responses, and writes
one revision per change through the repository.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ValidationError

from agio.config.components import (
    MASK,
    AgentComponent,
    AgentSpec,
    Component,
    ToolComponent,
    dump_component,
    parse_component,
    references,
)
from agio.config.loader import (
    ConfigProblem,
    LoadResult,
    component_digest,
    reference_problems,
    validation_problems,
)
from agio.config.masked import restore_masked
from agio.domain.errors import (
    AgentNotFound,
    ComponentNotFound,
    Conflict,
    InvalidConfig,
    RevisionNotFound,
    ValidationFailed,
)
from agio.domain.ids import COMPONENT_ID_PREFIXES, new_id
from agio.services.agent_graph import apply_order, cycle_problems
from agio.services.config_diff import FieldChange, config_changes
from agio.services.merge_patch import merge_patch
from agio.storage.components import (
    ComponentRepository,
    ComponentWrite,
    Page,
    Revision,
    StoredComponent,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PutResult:
    created: bool
    validated_only: bool
    component: StoredComponent | None


def _details(problems: Sequence[tuple[str, str]], prefix: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *(p for p in fld.split(".") if p)], "msg": msg, "type": "invalid_config"}
        for fld, msg in problems
    ]


class ComponentService:
    """Create, read, replace and delete components; validate; record history."""

    def __init__(
        self,
        repo: ComponentRepository,
        *,
        allowed_python_tool_modules: Sequence[str] = (),
        allowed_mcp_commands: Sequence[str] = (),
        max_steps_ceiling: int | None = None,
    ) -> None:
        self.repo = repo
        self._python_modules = tuple(allowed_python_tool_modules)
        self._mcp_commands = frozenset(allowed_mcp_commands)
        self._max_steps = max_steps_ceiling

    # ------------------------------------------------------------------ validation

    def _validate(
        self,
        raw: dict[str, Any],
        error: type[InvalidConfig | ValidationFailed],
        prefix: Sequence[str],
    ) -> Component:
        try:
            return parse_component(raw)
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise error(
                "Invalid configuration: " + "; ".join(f"{fld}: {msg}" for fld, msg in problems),
                details=_details(problems, prefix),
            ) from exc

    async def _check_references(
        self,
        component: BaseModel,
        error: type[InvalidConfig | ValidationFailed],
        prefix: Sequence[str],
    ) -> None:
        names = [name for _, name in references(component)]
        known = await self.repo.types_of(names)
        problems = reference_problems(component, known)
        if not problems:
            problems = await cycle_problems(self.repo, component)
        if problems:
            raise error(
                "; ".join(msg[:1].upper() + msg[1:] for _, msg in problems),
                details=_details(problems, prefix),
            )

    def _check_api_trust(self, component: BaseModel, prefix: Sequence[str]) -> None:
        """Python tools from the API may only import from allowed module prefixes."""
        if isinstance(component, ToolComponent) and component.kind == "python":
            module = (component.import_path or "").split(":", 1)[0]
            if not any(module == p or module.startswith(p + ".") for p in self._python_modules):
                message = (
                    f"python tools created through the API may only import from the modules "
                    f"in AGIO_ALLOWED_PYTHON_TOOL_MODULES; '{module}' is not among them "
                    "(define the tool in the configs folder instead)"
                )
                raise InvalidConfig(message, details=_details([("import_path", message)], prefix))
        if (
            isinstance(component, ToolComponent)
            and component.kind == "mcp"
            and component.transport == "stdio"
            and component.command not in self._mcp_commands
        ):
            message = (
                "mcp tools over stdio created through the API may only run the commands in "
                f"AGIO_ALLOWED_MCP_COMMANDS; {component.command!r} is not among them (define "
                "the tool in the configs folder instead)"
            )
            raise InvalidConfig(message, details=_details([("command", message)], prefix))

    def _check_limits(
        self,
        component: BaseModel,
        error: type[InvalidConfig | ValidationFailed],
        prefix: Sequence[str],
    ) -> None:
        """An agent from the API may not ask for more steps than the server allows (one
        from the configs folder is capped at run time instead)."""
        if (
            isinstance(component, AgentComponent)
            and self._max_steps is not None
            and component.config.max_steps > self._max_steps
        ):
            message = (
                f"max_steps may be at most {self._max_steps} on this server "
                "(AGIO_MAX_STEPS_CEILING)"
            )
            raise error(
                message,
                details=[
                    {
                        "loc": [*prefix, "config", "max_steps"],
                        "msg": message,
                        "type": "less_than_equal",
                    }
                ],
            )

    @staticmethod
    def _write(
        component: Component, *, source: str = "api", digest: str | None = None
    ) -> ComponentWrite:
        return ComponentWrite(
            name=component.name,
            type=component.type,
            description=component.description,
            enabled=component.enabled,
            tags=list(component.tags),
            config=dump_component(component, reveal_secrets=True),
            refs=list(dict.fromkeys(name for _, name in references(component))),
            history_config=dump_component(component),
            source=source,
            file_digest=digest,
        )

    # ------------------------------------------------------------------ config API

    async def list_components(
        self, type_: str | None, limit: int | None = None, offset: int = 0
    ) -> Page[StoredComponent]:
        return await self.repo.list_page(type_=type_, limit=limit, offset=offset)

    async def get(self, name: str) -> StoredComponent:
        stored = await self.repo.get(name)
        if stored is None or stored.name != name:
            raise ComponentNotFound(name)
        return stored

    async def put(
        self, name: str, raw_config: dict[str, Any], *, validate_only: bool, actor: str
    ) -> PutResult:
        """Create the component `name`, or replace it; with `validate_only`, change nothing."""
        prefix = ("body", "config")
        raw = copy.deepcopy(raw_config)
        if raw.get("name", name) != name:
            raise InvalidConfig(
                f"config.name '{raw.get('name')}' differs from the name in the path '{name}'",
                details=_details([("name", "must equal the name in the path")], prefix),
            )
        raw["name"] = name
        current = await self.repo.get(name)
        if current is not None and current.name != name:  # matched an id, not a name
            current = None
        bad = restore_masked(raw, current.config if current else {})
        if bad:
            problems = [(p, f"is the mask '{MASK}'; send the real secret") for p in bad]
            raise InvalidConfig(
                "Secrets must be sent in full when none is stored yet: " + ", ".join(bad),
                details=_details(problems, prefix),
            )
        component = self._validate(raw, InvalidConfig, prefix)
        if current is not None and current.type != component.type:
            raise Conflict(
                f"'{name}' is a {current.type} component; delete it before making it a "
                f"{component.type}"
            )
        await self._check_references(component, InvalidConfig, prefix)
        self._check_api_trust(component, prefix)
        self._check_limits(component, InvalidConfig, prefix)
        if validate_only:
            return PutResult(created=current is None, validated_only=True, component=current)
        # keep the digest of the file last applied, so that a restart does not undo this
        # edit unless the file itself changes
        write = self._write(component, digest=current.file_digest if current else None)
        if current is None:
            stored = await self.repo.create(
                new_id(COMPONENT_ID_PREFIXES[component.type]), write, actor
            )
            log.info(
                "component_created", component=name, component_type=component.type, actor=actor
            )
            return PutResult(created=True, validated_only=False, component=stored)
        stored = await self.repo.replace(current, write, actor)
        log.info(
            "component_updated",
            component=name,
            component_type=component.type,
            actor=actor,
            revision=stored.revision,
        )
        return PutResult(created=False, validated_only=False, component=stored)

    async def delete(self, name: str, *, actor: str, type_: str | None = None) -> None:
        current = await self.repo.get(name, type_)
        if current is None or (type_ is None and current.name != name):
            raise ComponentNotFound(name)
        await self.repo.delete(current, actor)
        log.info(
            "component_deleted", component=current.name, component_type=current.type, actor=actor
        )

    async def history(self, name: str) -> list[Revision]:
        entries = await self.repo.history(name)
        if not entries:
            raise ComponentNotFound(name)
        return entries

    async def revision(self, name: str, number: int) -> Revision:
        """The history entry of `name` with revision `number` (its configuration is
        masked, as history keeps it)."""
        entry = await self.repo.revision(name, number)
        if entry is None:
            if not await self.repo.history(name):
                raise ComponentNotFound(name)
            raise RevisionNotFound(name, number)
        return entry

    async def diff(self, name: str, from_revision: int, to_revision: int) -> list[FieldChange]:
        """The fields that differ from revision `from_revision` to `to_revision` (either
        order; a deletion has no configuration: every field is removed), secrets masked."""
        old = await self.revision(name, from_revision)
        new = await self.revision(name, to_revision)
        return config_changes(old.new_config, new.new_config)

    async def rollback(self, name: str, number: int, *, actor: str) -> StoredComponent:
        """Make revision `number`'s configuration current again, as a new revision (a
        `rolled_back` history entry that names `number`), validated like any update.

        History keeps configurations with their secrets masked, so every secret that
        revision had is taken from the component as it is now; one it no longer has must
        be sent again (a PUT): a 422 names it. The write is conditional on the revision
        read here: a concurrent change is a 409."""
        current = await self.get(name)
        entry = await self.revision(name, number)
        prefix = ("body", "revision")
        if entry.new_config is None:
            message = (
                f"Revision {number} of '{name}' is its deletion: it has no configuration "
                "to roll back to"
            )
            raise InvalidConfig(message, details=_details([("", message)], prefix))
        if entry.component_type and entry.component_type != current.type:
            message = (
                f"Revision {number} of '{name}' is a {entry.component_type} component, and "
                f"'{name}' is a {current.type} now"
            )
            raise InvalidConfig(message, details=_details([("", message)], prefix))
        raw = copy.deepcopy(entry.new_config)
        raw["name"] = name
        bad = restore_masked(raw, current.config if current else {})
        if bad:
            problems = [
                (p, f"revision {number} had a secret here that '{name}' no longer has") for p in bad
            ]
            raise InvalidConfig(
                f"Revision {number} of '{name}' had secrets that the component no longer "
                f"has: {', '.join(bad)}. History keeps no secrets: give them again with "
                f"PUT /api/config/{name}",
                details=_details(problems, prefix),
            )
        component = self._validate(raw, InvalidConfig, prefix)
        await self._check_references(component, InvalidConfig, prefix)
        self._check_api_trust(component, prefix)
        self._check_limits(component, InvalidConfig, prefix)
        write = self._write(component, digest=current.file_digest)
        stored = await self.repo.replace(current, write, actor, rolled_back_from=number)
        log.info(
            "component_rolled_back",
            component=name,
            component_type=component.type,
            actor=actor,
            revision=stored.revision,
            rolled_back_from=number,
        )
        return stored

    # ------------------------------------------------------------------ agents API

    async def get_agent(self, key: str) -> StoredComponent:
        stored = await self.repo.get(key, "agent")
        if stored is None:
            raise AgentNotFound(key)
        return stored

    async def get_runnable(self, key: str) -> StoredComponent:
        """An agent or a workflow (SPEC §20: both are run by a chat), by id or name."""
        stored = await self.repo.get(key, "agent") or await self.repo.get(key, "workflow")
        if stored is None:
            raise AgentNotFound(key)
        return stored

    async def list_agents(
        self, *, tag: str | None, limit: int, offset: int
    ) -> Page[StoredComponent]:
        return await self.repo.list_page(type_="agent", tag=tag, limit=limit, offset=offset)

    def _agent(self, spec: AgentSpec) -> AgentComponent:
        return AgentComponent(**spec.model_dump())

    async def create_agent(self, spec: AgentSpec, *, actor: str) -> StoredComponent:
        agent = self._agent(spec)
        await self._check_references(agent, ValidationFailed, ("body",))
        self._check_limits(agent, ValidationFailed, ("body",))
        stored = await self.repo.create(new_id("agt"), self._write(agent), actor)
        log.info("agent_created", agent=agent.name, agent_id=stored.id, actor=actor)
        return stored

    async def replace_agent(self, key: str, spec: AgentSpec, *, actor: str) -> StoredComponent:
        return await self._replace_agent(await self.get_agent(key), spec, actor)

    async def patch_agent(self, key: str, patch: dict[str, Any], *, actor: str) -> StoredComponent:
        """Apply a JSON merge patch (RFC 7386) to the stored agent, then validate and
        store the result exactly as a `PUT` of it would be.

        The base is the stored configuration itself (secrets included), and the write is
        conditional on the revision read here, so a concurrent change is a 409, never
        silently overwritten.
        """
        current = await self.get_agent(key)
        base = {k: v for k, v in current.config.items() if k != "type"}
        merged = merge_patch(base, patch)
        try:
            spec = AgentSpec.model_validate(merged)
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise ValidationFailed(
                "Invalid agent after the patch: "
                + "; ".join(f"{fld}: {msg}" for fld, msg in problems),
                details=_details(problems, ("body",)),
            ) from exc
        return await self._replace_agent(current, spec, actor)

    async def _replace_agent(
        self, current: StoredComponent, spec: AgentSpec, actor: str
    ) -> StoredComponent:
        if spec.name != current.name:
            raise ValidationFailed(
                f"An agent's name cannot change ('{current.name}' → '{spec.name}'); "
                "create a new agent instead",
                details=_details([("name", f"must stay '{current.name}'")], ("body",)),
            )
        agent = self._agent(spec)
        await self._check_references(agent, ValidationFailed, ("body",))
        self._check_limits(agent, ValidationFailed, ("body",))
        write = self._write(agent, digest=current.file_digest)
        stored = await self.repo.replace(current, write, actor)
        log.info(
            "agent_updated",
            agent=agent.name,
            agent_id=stored.id,
            actor=actor,
            revision=stored.revision,
        )
        return stored

    async def delete_agent(self, key: str, *, actor: str) -> None:
        current = await self.get_agent(key)
        await self.repo.delete(current, actor)
        log.info("agent_deleted", agent=current.name, agent_id=current.id, actor=actor)

    # ------------------------------------------------------------------ files

    async def sync_files(self, result: LoadResult) -> list[ConfigProblem]:
        """Apply loaded files to storage; returns the problems met on the way.

        A file's component is written when it is new, or when the file's content differs
        from what was last applied from a file (its digest); otherwise the stored one,
        which may carry later API edits, is kept. Agents go last so that their
        references are checked against everything else.
        """
        problems: list[ConfigProblem] = []
        ordered = apply_order(result.components)
        for loaded in ordered:
            component = loaded.component
            actor = f"file:{loaded.path}"
            try:
                current = await self.repo.get(component.name)
                if current is not None and current.name != component.name:
                    current = None
                if current is not None and current.type != component.type:
                    raise Conflict(
                        f"name '{component.name}' is already used by a {current.type} component"
                    )
                if current is not None and current.file_digest == loaded.digest:
                    continue
                known = await self.repo.types_of([n for _, n in references(component)])
                refs = reference_problems(component, known) or await cycle_problems(
                    self.repo, component
                )
                if refs:
                    problems.extend(ConfigProblem(loaded.path, f, m) for f, m in refs)
                    continue
                write = self._write(component, source=actor, digest=loaded.digest)
                if current is None:
                    await self.repo.create(
                        new_id(COMPONENT_ID_PREFIXES[component.type]), write, actor
                    )
                    change: Literal["created", "updated"] = "created"
                else:
                    await self.repo.replace(current, write, actor)
                    change = "updated"
                log.info(
                    "component_loaded", component=component.name, change=change, path=loaded.path
                )
            except Conflict as exc:
                if current is None and await self._same_as_stored(component, loaded.digest):
                    continue  # another replica applied the same file at the same moment
                problems.append(ConfigProblem(loaded.path, "name", exc.message))
        return problems

    async def _same_as_stored(self, component: BaseModel, digest: str) -> bool:
        stored = await self.repo.get(getattr(component, "name", ""))
        return stored is not None and stored.file_digest == digest


__all__ = ["ComponentService", "PutResult", "component_digest"]
