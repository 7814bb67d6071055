"""The `glob` tool: the workspace's paths that match a pattern such as `**/*.py`.

`*`, `?` and `[...]` match within one path segment; a `**` segment matches any number of
folders (none included). Links are listed but never entered; `.git` folders are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from agio.tools.base import ToolError
from agio.tools.builtin.workspace_tool import PathArgument, WorkspaceOptions, WorkspaceTool
from agio.tools.workspace import relative_parts, walk

DEFAULT_MAX_RESULTS = 500
#: entries looked at per call at most, so that one call over a huge tree ends
MAX_SCANNED = 200_000


class GlobOptions(WorkspaceOptions):
    max_results: int = Field(
        default=DEFAULT_MAX_RESULTS, ge=1, le=100_000, description="Most paths per call."
    )


class GlobArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: Annotated[
        str,
        Field(
            min_length=1,
            max_length=512,
            description="A glob relative to `path`: `*.md`, `src/**/*.py`, `**/test_*`.",
        ),
    ]
    path: PathArgument = "."


def pattern_segments(pattern: str) -> tuple[str, ...]:
    """The segments of a glob pattern (relative, without `..`, like a path)."""
    segments = relative_parts(pattern)
    if not segments:
        raise ToolError("the pattern is empty")
    if len(segments) > 64:
        raise ToolError("the pattern has too many segments (at most 64)")
    return segments


def matcher(segments: tuple[str, ...]) -> Callable[[tuple[str, ...]], bool]:
    """A function telling whether a path (its parts) matches the pattern's segments."""

    def matches(parts: tuple[str, ...]) -> bool:
        @cache
        def at(i: int, j: int) -> bool:
            if i == len(segments):
                return j == len(parts)
            if segments[i] == "**":
                return at(i + 1, j) or (j < len(parts) and at(i, j + 1))
            return j < len(parts) and fnmatchcase(parts[j], segments[i]) and at(i + 1, j + 1)

        return at(0, 0)

    return matches


class GlobTool(WorkspaceTool[GlobArguments, GlobOptions]):
    """Returns `{"matches": [paths], "truncated"}`; folders end with `/`."""

    arguments = GlobArguments
    default_name = "glob"
    default_description = (
        "Find files and folders of the workspace by a glob pattern, e.g. `**/*.py` "
        "(`**` spans folders). Paths are relative to the workspace; folders end with /."
    )

    def call(self, arguments: GlobArguments) -> dict[str, Any]:
        segments = pattern_segments(arguments.pattern)
        matches = matcher(segments)
        deep = "**" in segments
        resolved = self.workspace.resolve(arguments.path)
        prefix = relative_parts(arguments.path)
        limit = self.options.max_results
        found: list[str] = []
        scanned = 0
        note = None
        with self.workspace.folder_fd(resolved) as folder:
            for parts, folders, files, _fd in walk(folder):
                entries = [(n, "/") for n in folders] + [(n, "") for n in files]
                if not deep and len(parts) + 1 >= len(segments):
                    folders.clear()  # deeper paths cannot match
                for name, suffix in entries:
                    scanned += 1
                    if matches((*parts, name)):
                        found.append("/".join((*prefix, *parts, name)) + suffix)
                if len(found) > limit:
                    note = f"more than {limit} paths match; showing the first {limit}"
                    break
                if scanned >= MAX_SCANNED:
                    note = f"stopped after looking at {MAX_SCANNED} entries"
                    break
        result: dict[str, Any] = {
            "matches": sorted(found)[:limit],
            "truncated": note is not None,
        }
        if note is not None:
            result["note"] = note
        return result
