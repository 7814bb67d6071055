"""Load components from YAML files under the configs folder.

Each `*.yaml`/`*.yml` file holds one component, a list of components, or several YAML
documents. Strings may use `${VAR}` and `${VAR:-default}` (`$${` writes a literal `${`);
substitution happens on the parsed values, so an environment value can never change
the structure of a file. Only `yaml.safe_load_all` is used.

A file that fails is reported (path, field, reason) and the others still load.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agio.config.components import Component, dump_component, parse_component

_VAR = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ConfigProblem:
    """One reason a component could not be loaded."""

    path: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.field}" if self.field else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class LoadedComponent:
    component: Component
    path: str
    digest: str


@dataclass
class LoadResult:
    components: list[LoadedComponent] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)
    files: int = 0


class MissingVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable '{name}' is not set and has no default")
        self.name = name


def substitute(value: Any, env: Mapping[str, str]) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string of a parsed YAML value."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            escaped, name, default = match.groups()
            if escaped:
                return match.group(0)[1:]
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise MissingVariable(name)

        return _VAR.sub(repl, value)
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    return value


def component_digest(component: BaseModel) -> str:
    """A stable fingerprint of a component's full configuration (secrets included)."""
    canonical = json.dumps(
        dump_component(component, reveal_secrets=True), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _field(loc: tuple[int | str, ...]) -> str:
    # drop the discriminator tag pydantic puts first ("model", "agent", …)
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("model", "agent", "tool", "memory", "knowledge"):
        parts = parts[1:]
    return ".".join(parts) or "(component)"


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, reason) for each error, never echoing the input (it may be a secret)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        message = err["msg"]
        if err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
            message = "`type` must be one of: model, agent, tool, memory, knowledge"
            out.append(("type", message))
            continue
        out.append((_field(err["loc"]), message))
    return out


def iter_config_files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if (
            path.suffix in (".yaml", ".yml")
            and path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(directory).parts)
        ):
            yield path


def load_directory(directory: Path, env: Mapping[str, str] | None = None) -> LoadResult:
    """Parse and validate every YAML file under `directory` (recursively)."""
    env = os.environ if env is None else env
    result = LoadResult()
    if not directory.is_dir():
        result.problems.append(ConfigProblem(str(directory), None, "configs folder does not exist"))
        return result
    seen: dict[str, str] = {}
    for path in iter_config_files(directory):
        result.files += 1
        shown = str(path)
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            result.problems.append(ConfigProblem(shown, None, f"cannot read file: {exc}"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            result.problems.append(ConfigProblem(shown, None, f"{problem}{where}"))
            continue
        entries: list[tuple[str, Any]] = []
        for doc_index, doc in enumerate(documents):
            if doc is None:
                continue
            if isinstance(doc, list):
                entries.extend((f"[{i}]", item) for i, item in enumerate(doc))
            else:
                entries.append((f"[{doc_index}]" if len(documents) > 1 else "", doc))
        for prefix, raw in entries:
            label = f"{shown}{prefix}"
            if not isinstance(raw, dict):
                result.problems.append(
                    ConfigProblem(label, None, "a component must be a mapping with a `type`")
                )
                continue
            try:
                component = parse_component(substitute(raw, env))
            except MissingVariable as exc:
                result.problems.append(ConfigProblem(label, None, str(exc)))
                continue
            except ValidationError as exc:
                result.problems.extend(
                    ConfigProblem(label, fld, msg) for fld, msg in validation_problems(exc)
                )
                continue
            if component.name in seen:
                result.problems.append(
                    ConfigProblem(
                        label,
                        "name",
                        f"'{component.name}' is already defined in {seen[component.name]}",
                    )
                )
                continue
            seen[component.name] = label
            result.components.append(
                LoadedComponent(component, path=shown, digest=component_digest(component))
            )
    return result


def reference_problems(component: BaseModel, known: Mapping[str, str]) -> list[tuple[str, str]]:
    """(field, reason) for each component an agent or a workflow names that is missing or
    of another type.

    `known` maps component names to their types.
    """
    from agio.config.components import AgentComponent, WorkflowComponent

    if not isinstance(component, AgentComponent | WorkflowComponent):
        return []
    out = []
    for fld, kind, name in component.reference_fields():
        actual = known.get(name)
        if actual is None:
            out.append((fld, f"{kind} component '{name}' does not exist"))
        elif actual != kind:
            out.append((fld, f"'{name}' is a {actual} component, not a {kind} component"))
    return out


def check_directory(directory: Path, env: Mapping[str, str] | None = None) -> LoadResult:
    """`load_directory` plus reference checks among the loaded components (offline)."""
    result = load_directory(directory, env)
    known = {c.component.name: c.component.type for c in result.components}
    good = []
    for loaded in result.components:
        problems = reference_problems(loaded.component, known)
        result.problems.extend(ConfigProblem(loaded.path, f, m) for f, m in problems)
        if not problems:
            good.append(loaded)
    result.components = good
    return result
