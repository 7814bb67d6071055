"""What the workspace tools (`read_file`, `write_file`, `edit_file`, `list_files`, `glob`,
`grep`) share: the `root` option, the call in a worker thread, text decoding.

Every tool works inside one folder: `AGIO_WORKSPACE_ROOT` (the operator's), or the
sub-folder of it that the component's `options.root` names. See `agio.tools.workspace`
for how paths are kept inside it.
"""

from __future__ import annotations

import abc
import asyncio
import codecs
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agio.tools.base import ToolError
from agio.tools.function import json_schema, parse_arguments
from agio.tools.workspace import Workspace, relative_parts

A = TypeVar("A", bound=BaseModel)
Opts = TypeVar("Opts", bound="WorkspaceOptions")

#: the first bytes looked at to tell a binary file (a NUL byte) from text
SNIFF_BYTES = 8192
PathArgument = Annotated[
    str,
    Field(
        max_length=4096,
        description="A path relative to the workspace root, e.g. `notes/todo.md` "
        "(no absolute paths, no `..`).",
    ),
]


class WorkspaceOptions(BaseModel):
    """`options` every workspace tool component accepts."""

    model_config = ConfigDict(extra="forbid")

    root: str = Field(
        default="",
        max_length=1024,
        description="A folder inside AGIO_WORKSPACE_ROOT (relative) the tool is confined "
        "to; default: that folder itself.",
    )

    @field_validator("root")
    @classmethod
    def _relative(cls, value: str) -> str:
        try:
            relative_parts(value)
        except ToolError as exc:
            raise ValueError(str(exc)) from None
        return value


def is_binary(head: bytes) -> bool:
    return b"\x00" in head[:SNIFF_BYTES]


def decode_text(data: bytes, name: str, *, complete: bool = True) -> str:
    """`data` as UTF-8 text; a binary or non-UTF-8 file is a `ToolError`. When not
    `complete` (a cut-off read), a character cut in two at the end is dropped."""
    if is_binary(data):
        raise ToolError(f"{name!r} is a binary file; only text files can be read")
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        return str(decoder.decode(data, final=complete))
    except UnicodeDecodeError:
        raise ToolError(f"{name!r} is not UTF-8 text; only text files can be read") from None


class WorkspaceTool(abc.ABC, Generic[A, Opts]):
    """A tool over a `Workspace`: arguments validated by `arguments`, then `call` run
    in a worker thread (file system calls block)."""

    arguments: ClassVar[type[BaseModel]]
    default_name: ClassVar[str]
    default_description: ClassVar[str]

    def __init__(
        self,
        *,
        options: Opts,
        workspace_root: Path | None,
        name: str | None = None,
        description: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.name = name or self.default_name
        self.description = description or self.default_description
        self.timeout = timeout
        self.parameters = json_schema(self.arguments)
        self.options = options
        self.workspace = Workspace(workspace_root, relative_parts(options.root))

    async def run(self, arguments: dict[str, Any]) -> dict[str, Any]:
        parsed: A = parse_arguments(self.arguments, arguments, tool=self.name)  # type: ignore[assignment]
        return await asyncio.to_thread(self.call, parsed)

    @abc.abstractmethod
    def call(self, arguments: A) -> dict[str, Any]:
        """The tool's work on the workspace, in a worker thread; its result for the model."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, root={self.options.root!r})"
