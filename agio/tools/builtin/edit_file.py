"""The `edit_file` tool: replace an exact piece of a text file of the workspace.

The old text must occur exactly once (or `replace_all` says to replace every
occurrence), so an edit never lands somewhere the model did not mean.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from agio.tools.base import ToolError
from agio.tools.builtin.workspace_tool import (
    PathArgument,
    WorkspaceOptions,
    WorkspaceTool,
    decode_text,
)
from agio.tools.builtin.write_file import encoded
from agio.tools.workspace import os_errors

DEFAULT_MAX_BYTES = 1_000_000


class EditFileOptions(WorkspaceOptions):
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1,
        le=100_000_000,
        description="Largest file (before and after the edit) the tool edits.",
    )


class EditFileArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: PathArgument
    old_text: Annotated[
        str,
        Field(
            min_length=1,
            description="The exact text to replace, whitespace included; it must occur "
            "exactly once unless `replace_all`.",
        ),
    ]
    new_text: Annotated[str, Field(description="What replaces it (may be empty).")]
    replace_all: Annotated[bool, Field(description="Replace every occurrence of `old_text`.")] = (
        False
    )


class EditFileTool(WorkspaceTool[EditFileArguments, EditFileOptions]):
    """Returns `{"path", "replacements", "bytes"}`."""

    arguments = EditFileArguments
    default_name = "edit_file"
    default_description = (
        "Edit a UTF-8 text file of the workspace: replace `old_text`, which must occur "
        "exactly once (copy it exactly, with enough context to be unique), by `new_text`; "
        "`replace_all` replaces every occurrence."
    )

    def call(self, arguments: EditFileArguments) -> dict[str, Any]:
        limit = self.options.max_bytes
        if arguments.old_text == arguments.new_text:
            raise ToolError("old_text and new_text are the same: nothing to change")
        with self.workspace.open_file(arguments.path) as (resolved, stream, size):
            name = resolved.name
            if size > limit:
                raise ToolError(
                    f"{name!r} is {size} bytes; this tool edits files of at most {limit} bytes"
                )
            with os_errors(name):
                data = stream.read(limit + 1)
        text = decode_text(data, name)
        count = text.count(arguments.old_text)
        if count == 0:
            raise ToolError(
                f"old_text was not found in {name!r}; read the file and copy the text "
                "exactly, whitespace and line breaks included"
            )
        if count > 1 and not arguments.replace_all:
            raise ToolError(
                f"old_text occurs {count} times in {name!r}; include more of the text "
                "around it to make it unique, or set replace_all"
            )
        changed = encoded(text.replace(arguments.old_text, arguments.new_text), limit, name)
        self.workspace.write_file(arguments.path, changed)
        return {"path": name, "replacements": count, "bytes": len(changed)}
