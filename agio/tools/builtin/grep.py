"""The `grep` tool: lines of the workspace's text files that match a regular expression.

Patterns are RE2 (`google-re2`): matching takes time linear in the text, so no pattern a
model writes can hang the server (no back-references or look-around, as in ripgrep).
Binary, non-UTF-8 and oversized files are skipped and counted, so are links (not
followed); `.git` folders are skipped. Matches, line lengths and the bytes read are bounded.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Annotated, Any

import re2
from pydantic import BaseModel, ConfigDict, Field

from agio.tools.base import ToolError
from agio.tools.builtin.glob_files import matcher, pattern_segments
from agio.tools.builtin.workspace_tool import (
    PathArgument,
    WorkspaceOptions,
    WorkspaceTool,
    is_binary,
)
from agio.tools.workspace import relative_parts, walk

DEFAULT_MAX_MATCHES = 100
DEFAULT_MAX_FILE_BYTES = 2_000_000
#: a matching line longer than this is shown cut, with `…`
MAX_LINE_CHARS = 500
#: bytes read per call at most, so that one call over a huge tree ends
MAX_BYTES_READ = 200_000_000
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class GrepOptions(WorkspaceOptions):
    max_matches: int = Field(
        default=DEFAULT_MAX_MATCHES, ge=1, le=10_000, description="Most matching lines per call."
    )
    max_file_bytes: int = Field(
        default=DEFAULT_MAX_FILE_BYTES,
        ge=1,
        le=1_000_000_000,
        description="Files larger than this are skipped.",
    )


class GrepArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: Annotated[
        str,
        Field(
            min_length=1,
            max_length=1000,
            description="A regular expression (RE2 syntax), searched in each line.",
        ),
    ]
    path: PathArgument = "."
    glob: Annotated[
        str | None,
        Field(
            max_length=512,
            description="Only files whose name (or, with a `/`, path) matches this glob, "
            "e.g. `*.py`.",
        ),
    ] = None
    ignore_case: bool = False


def compile_pattern(pattern: str, *, ignore_case: bool) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.max_mem = 16 << 20
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", errors="replace")
        raise ToolError(f"invalid regular expression {pattern!r}: {reason}") from None


def _read(folder: int, name: str, max_bytes: int) -> bytes | str:
    """The file's bytes, or why it is skipped (`link`, `too_large`, `unreadable`)."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=folder)
    except OSError as exc:  # a link (O_NOFOLLOW), gone, no permission
        return "link" if exc.errno == errno.ELOOP else "unreadable"
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "unreadable"
        if info.st_size > max_bytes:
            return "too_large"
        os.set_blocking(fd, True)
        return stream.read(max_bytes + 1)


class GrepTool(WorkspaceTool[GrepArguments, GrepOptions]):
    """Returns `{"matches": [{"path", "line", "text"}], "files_searched", "skipped",
    "truncated"}`."""

    arguments = GrepArguments
    default_name = "grep"
    default_description = (
        "Search the workspace's text files for lines matching a regular expression (RE2 "
        "syntax); `glob` narrows the files (e.g. `*.md`). Returns path, line number and text."
    )

    def call(self, arguments: GrepArguments) -> dict[str, Any]:
        regex = compile_pattern(arguments.pattern, ignore_case=arguments.ignore_case)
        only = None
        if arguments.glob is not None:
            segments = pattern_segments(arguments.glob)
            only = matcher(segments if len(segments) > 1 else ("**", *segments))
        resolved = self.workspace.resolve(arguments.path)
        prefix = relative_parts(arguments.path)
        limit = self.options.max_matches
        matches: list[dict[str, Any]] = []
        skipped = {"binary": 0, "too_large": 0, "link": 0, "unreadable": 0}
        searched = read = 0
        note = None
        with self.workspace.folder_fd(resolved) as folder:
            for parts, _folders, files, fd in walk(folder):
                for name in files:
                    if only is not None and not only((*parts, name)):
                        continue
                    data = _read(fd, name, self.options.max_file_bytes)
                    if isinstance(data, str):
                        skipped[data] += 1
                        continue
                    read += len(data)
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = None
                    if text is None or is_binary(data):
                        skipped["binary"] += 1
                        continue
                    searched += 1
                    path = "/".join((*prefix, *parts, name))
                    for number, line in enumerate(text.splitlines(), start=1):
                        if regex.search(line) is None:
                            continue
                        if len(matches) == limit:
                            note = f"more than {limit} lines match; showing the first {limit}"
                            break
                        shown = line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS]
                        matches.append(
                            {
                                "path": path,
                                "line": number,
                                "text": shown if shown is line else shown + "…",
                            }
                        )
                    if note is None and read >= MAX_BYTES_READ:
                        note = f"stopped after reading {MAX_BYTES_READ} bytes"
                    if note is not None:
                        break
                if note is not None:
                    break
        result: dict[str, Any] = {
            "matches": matches,
            "files_searched": searched,
            "skipped": skipped,
            "truncated": note is not None,
        }
        if note is not None:
            result["note"] = note
        return result
