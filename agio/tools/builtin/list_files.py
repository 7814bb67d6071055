"""The `list_files` tool: what one folder of the workspace holds."""

from __future__ import annotations

import os
import stat
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agio.tools.builtin.workspace_tool import PathArgument, WorkspaceOptions, WorkspaceTool
from agio.tools.workspace import os_errors

DEFAULT_MAX_ENTRIES = 500


class ListFilesOptions(WorkspaceOptions):
    max_entries: int = Field(
        default=DEFAULT_MAX_ENTRIES, ge=1, le=100_000, description="Most entries per call."
    )


class ListFilesArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: PathArgument = "."


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "other"


class ListFilesTool(WorkspaceTool[ListFilesArguments, ListFilesOptions]):
    """Returns `{"path", "entries": [{"name", "type", "size"?}], "truncated"}`; `type` is
    `file`, `folder`, `link` (not followed) or `other`."""

    arguments = ListFilesArguments
    default_name = "list_files"
    default_description = (
        "List the files and folders in a folder of the workspace (`.` for its top), "
        "with their sizes."
    )

    def call(self, arguments: ListFilesArguments) -> dict[str, Any]:
        resolved = self.workspace.resolve(arguments.path)
        limit = self.options.max_entries
        entries: list[dict[str, Any]] = []
        with self.workspace.folder_fd(resolved) as folder, os_errors(resolved.name):
            names = sorted(os.listdir(folder))
            for name in names[:limit]:
                try:
                    info = os.stat(name, dir_fd=folder, follow_symlinks=False)
                except FileNotFoundError:  # gone meanwhile
                    continue
                entry: dict[str, Any] = {"name": name, "type": _kind(info.st_mode)}
                if entry["type"] == "file":
                    entry["size"] = info.st_size
                entries.append(entry)
        result: dict[str, Any] = {
            "path": resolved.name,
            "entries": entries,
            "truncated": len(names) > limit,
        }
        if len(names) > limit:
            result["note"] = f"showing the first {limit} of {len(names)} entries"
        return result
