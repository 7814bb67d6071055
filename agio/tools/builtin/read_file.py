"""The `read_file` tool: a text file of the workspace, or the part of it from a line on.

At most `max_bytes` are returned per call; the rest is announced with the line to ask
for next, so a model can page through a large file.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from agio.tools.base import ToolError
from agio.tools.builtin.workspace_tool import (
    SNIFF_BYTES,
    PathArgument,
    WorkspaceOptions,
    WorkspaceTool,
    decode_text,
    is_binary,
)
from agio.tools.workspace import os_errors

DEFAULT_MAX_BYTES = 256_000
_CHUNK = 65536


class ReadFileOptions(WorkspaceOptions):
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, ge=1, le=10_000_000, description="Most bytes per call."
    )


class ReadFileArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: PathArgument
    offset: Annotated[
        int, Field(ge=1, description="The first line to return (1 = the file's first line).")
    ] = 1
    limit: Annotated[
        int | None, Field(ge=1, le=1_000_000, description="At most this many lines.")
    ] = None


def _skip_lines(stream: BinaryIO, count: int) -> bool:
    """Move past `count` lines; False when the file has fewer."""
    while count:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return False
        position = -1
        while count:
            position = chunk.find(b"\n", position + 1)
            if position < 0:
                break
            count -= 1
        if not count:
            stream.seek(position + 1 - len(chunk), os.SEEK_CUR)
    return True


class ReadFileTool(WorkspaceTool[ReadFileArguments, ReadFileOptions]):
    """Returns `{"path", "content", "start_line", "end_line", "size", "truncated"}` and,
    when more follows, a `note` saying which `offset` to ask for."""

    arguments = ReadFileArguments
    default_name = "read_file"
    default_description = (
        "Read a UTF-8 text file of the workspace. Long files come in parts: the answer "
        "says whether it was truncated and which `offset` (line) to read next."
    )

    def call(self, arguments: ReadFileArguments) -> dict[str, Any]:
        limit = self.options.max_bytes
        with self.workspace.open_file(arguments.path) as (resolved, stream, size):
            name = resolved.name
            with os_errors(name):
                if is_binary(stream.read(SNIFF_BYTES)):
                    raise ToolError(f"{name!r} is a binary file; only text files can be read")
                stream.seek(0)
                if not _skip_lines(stream, arguments.offset - 1):
                    return {
                        "path": name,
                        "content": "",
                        "size": size,
                        "truncated": False,
                        "note": f"the file has fewer than {arguments.offset} lines",
                    }
                data = stream.read(limit + 1)
        more = len(data) > limit
        data = data[:limit]
        if more and b"\n" in data:  # whole lines only, unless one line is the whole part
            data = data[: data.rindex(b"\n") + 1]
        lines = decode_text(data, name, complete=not more).splitlines(keepends=True)
        if arguments.limit is not None and len(lines) > arguments.limit:
            lines, more = lines[: arguments.limit], True
        end = arguments.offset + max(len(lines), 1) - 1
        result: dict[str, Any] = {
            "path": name,
            "content": "".join(lines),
            "start_line": arguments.offset,
            "end_line": end,
            "size": size,
            "truncated": more,
        }
        if more:
            cut = lines and not lines[-1].endswith("\n")
            result["note"] = (
                f"truncated after {limit} bytes inside line {end}; the file is {size} bytes"
                if cut
                else f"more follows: read on with offset={end + 1} (the file is {size} bytes)"
            )
        return result
