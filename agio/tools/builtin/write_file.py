"""The `write_file` tool: create a text file of the workspace, or replace one.

Missing folders are made. The file is written beside the target and renamed over it, so
a reader never sees half of it and a link at the target is replaced, not written through.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from agio.tools.base import ToolError
from agio.tools.builtin.workspace_tool import PathArgument, WorkspaceOptions, WorkspaceTool

DEFAULT_MAX_BYTES = 1_000_000


class WriteFileOptions(WorkspaceOptions):
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1,
        le=100_000_000,
        description="Largest file (UTF-8 bytes) the tool writes.",
    )


class WriteFileArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: PathArgument
    content: Annotated[str, Field(description="The whole new content of the file.")]


def encoded(content: str, limit: int, name: str) -> bytes:
    """`content` in UTF-8, refused when over `limit` bytes."""
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolError("the content is not valid Unicode (lone surrogates)") from None
    if len(data) > limit:
        raise ToolError(
            f"{name!r} would be {len(data)} bytes; this tool writes at most {limit} bytes"
        )
    return data


class WriteFileTool(WorkspaceTool[WriteFileArguments, WriteFileOptions]):
    """Returns `{"path", "bytes", "created"}`."""

    arguments = WriteFileArguments
    default_name = "write_file"
    default_description = (
        "Create or overwrite a UTF-8 text file of the workspace with the given content; "
        "missing folders are created."
    )

    def call(self, arguments: WriteFileArguments) -> dict[str, Any]:
        data = encoded(arguments.content, self.options.max_bytes, arguments.path)
        created = self.workspace.write_file(arguments.path, data)
        name = self.workspace.resolve(arguments.path).name
        return {"path": name, "bytes": len(data), "created": created}
