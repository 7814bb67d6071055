"""A folder the workspace tools may read and write, and nothing outside it.

Paths come from a model, so they are distrusted: absolute paths and `..` are refused
outright; the rest is resolved (symbolic links included) and must stay inside the root.
A link that stays inside is followed, one that leads out is refused. What was checked is
then opened one folder at a time from the root with `O_NOFOLLOW`, so a link swapped in
between the check and the use makes the call fail instead of escaping (a race). Writes go
to a new file in the same folder, renamed over the target: a link there is replaced, never
written through (and one found there after the check is refused).

POSIX only (`dir_fd`, `O_NOFOLLOW`, `O_DIRECTORY`), like the server itself.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from agio.tools.base import ToolError

ROOT_VARIABLE = "AGIO_WORKSPACE_ROOT"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def relative_parts(path: str) -> tuple[str, ...]:
    """The folders and name of `path`, a relative path without `..` (`""` and `"."`
    are the root itself: no parts). Anything else raises `ToolError`."""
    if "\x00" in path:
        raise ToolError("the path contains a NUL character")
    if path.startswith("/"):
        raise ToolError(f"{path!r} is an absolute path: give a path relative to the workspace root")
    parts = tuple(part for part in path.split("/") if part not in ("", "."))
    if ".." in parts:
        raise ToolError(f"{path!r}: '..' is not allowed, give a path inside the workspace")
    return parts


def shown(parts: tuple[str, ...]) -> str:
    """How a path is shown to the model: relative to the tool's root, `.` for the root."""
    return "/".join(parts) or "."


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class Resolved:
    """A path that passed the check: `parts` lead from the real `base` to it, with no
    symbolic link on the way; `name` is the path as the model gave it (normalised)."""

    base: str
    parts: tuple[str, ...]
    name: str


@contextmanager
def os_errors(name: str) -> Iterator[None]:
    """`OSError`s as `ToolError`s worded for the model (no server paths in them)."""
    try:
        yield
    except ToolError:
        raise
    except FileNotFoundError:
        raise ToolError(f"{name!r} does not exist") from None
    except NotADirectoryError:
        raise ToolError(f"{name!r}: a part of the path is not a folder") from None
    except IsADirectoryError:
        raise ToolError(f"{name!r} is a folder, not a file") from None
    except PermissionError:
        raise ToolError(f"{name!r}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ToolError(
                f"{name!r}: a symbolic link appeared on the path while it was used; try again"
            ) from None
        raise ToolError(f"{name!r}: {exc.strerror or type(exc).__name__}") from None


class Workspace:
    """The folder `folder` (relative parts) inside the operator's `base` folder; `base`
    None means the operator has not set one, and every call is refused."""

    def __init__(self, base: Path | None, folder: tuple[str, ...] = ()) -> None:
        self.base = base
        self.folder = folder

    def _real_base(self) -> str:
        if self.base is None:
            raise ToolError(
                f"the workspace tools are disabled on this server; the operator must set "
                f"{ROOT_VARIABLE} to the folder they may use"
            )
        real = os.path.realpath(self.base)
        if not os.path.isdir(real):
            raise ToolError("the workspace folder does not exist on the server")
        return real

    def resolve(self, path: str) -> Resolved:
        """Check `path` (relative to the tool's root) and find where it really is."""
        asked = relative_parts(path)
        name = shown(asked)
        base = self._real_base()
        root = os.path.realpath(os.path.join(base, *self.folder))
        real = os.path.realpath(os.path.join(root, *asked))
        if not _within(root, base):
            raise ToolError("the tool's root folder leads outside the workspace")
        if not _within(real, root):
            raise ToolError(
                f"{name!r} leads outside the workspace (through a symbolic link); "
                "only paths inside it can be used"
            )
        relative = os.path.relpath(real, base)
        parts = () if relative == "." else tuple(relative.split(os.sep))
        return Resolved(base=base, parts=parts, name=name)

    # ------------------------------------------------------------------ opening

    @contextmanager
    def folder_fd(self, resolved: Resolved, *, create: bool = False) -> Iterator[int]:
        """A descriptor of the folder `resolved`, opened link-free from the base;
        missing folders are made when `create`."""
        with os_errors(resolved.name):
            fd = _open_folder(resolved.base, resolved.parts, create=create)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def open_file(self, path: str) -> Iterator[tuple[Resolved, BinaryIO, int]]:
        """The regular file at `path` opened for reading, with its size."""
        resolved = self.resolve(path)
        if not resolved.parts:
            raise ToolError("'.' is the workspace folder, not a file")
        parent = Resolved(resolved.base, resolved.parts[:-1], resolved.name)
        with self.folder_fd(parent) as folder, os_errors(resolved.name):
            fd = os.open(resolved.parts[-1], _READ_FLAGS, dir_fd=folder)
            try:
                info = os.fstat(fd)
                if stat.S_ISDIR(info.st_mode):
                    raise ToolError(f"{resolved.name!r} is a folder, not a file")
                if not stat.S_ISREG(info.st_mode):
                    raise ToolError(f"{resolved.name!r} is not a regular file")
                os.set_blocking(fd, True)
                stream = os.fdopen(fd, "rb")
            except BaseException:
                os.close(fd)
                raise
        with stream:
            yield resolved, stream, info.st_size

    def write_file(self, path: str, data: bytes) -> bool:
        """Replace (or create) the file at `path` with `data`, making missing folders;
        True when it is new. The old file's permissions are kept."""
        resolved = self.resolve(path)
        if not resolved.parts:
            raise ToolError("'.' is the workspace folder, not a file")
        *folders, target = resolved.parts
        parent = Resolved(resolved.base, tuple(folders), resolved.name)
        with self.folder_fd(parent, create=True) as folder, os_errors(resolved.name):
            try:
                before: os.stat_result | None = os.stat(
                    target, dir_fd=folder, follow_symlinks=False
                )
            except FileNotFoundError:
                before = None
            if before is not None and stat.S_ISLNK(before.st_mode):  # swapped in: a race
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
            if before is not None and stat.S_ISDIR(before.st_mode):
                raise ToolError(f"{resolved.name!r} is a folder, not a file")
            if before is not None and not stat.S_ISREG(before.st_mode):
                raise ToolError(f"{resolved.name!r} is not a regular file")
            temporary = f".agio-{secrets.token_hex(6)}.tmp"
            fd = os.open(temporary, _NEW_FILE_FLAGS, 0o666, dir_fd=folder)
            try:
                with os.fdopen(fd, "wb") as stream:
                    if before is not None:
                        os.fchmod(stream.fileno(), stat.S_IMODE(before.st_mode))
                    stream.write(data)
                os.replace(temporary, target, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temporary, dir_fd=folder)
                raise
        return before is None


def _open_child_folder(folder: int, name: str) -> int:
    """`name` in `folder`, which must be a folder and not a link (Linux says ENOTDIR for
    a link opened with O_DIRECTORY | O_NOFOLLOW: told apart here, it is ELOOP)."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=folder)
    except NotADirectoryError:
        if stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from None
        raise


def _open_folder(base: str, parts: tuple[str, ...], *, create: bool) -> int:
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                child = _open_child_folder(fd, part)
            except FileNotFoundError:
                if not create:
                    raise
                with suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                child = _open_child_folder(fd, part)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


#: Folders the walks (glob, grep) do not enter: version control's own files.
SKIPPED_FOLDERS = frozenset({".git", ".hg", ".svn"})


def walk(folder: int) -> Iterator[tuple[tuple[str, ...], list[str], list[str], int]]:
    """(parts below `folder`, sub-folder names, file names, descriptor) for `folder` and
    every folder under it, sorted; links are listed, never entered."""
    for path, folders, files, fd in os.fwalk(".", dir_fd=folder, follow_symlinks=False):
        folders[:] = sorted(name for name in folders if name not in SKIPPED_FOLDERS)
        files.sort()
        yield relative_parts(path), folders, files, fd
