"""The workspace tools stay inside their root: `..`, absolute paths and symbolic links out
are refused for reading and writing, links inside work, a link swapped in after the check
is caught; sizes, binary files and the search tools' limits give clear tool errors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agio.config.components import ToolComponent
from agio.tools import workspace as workspace_module
from agio.tools.base import Tool, ToolError
from agio.tools.environment import ToolEnvironment
from agio.tools.registry import ToolLoadError, build_tool


@dataclass
class Space:
    root: Path
    outside: Path

    def tool(self, builtin: str, **options: Any) -> Tool:
        component = ToolComponent(name=builtin, kind="builtin", builtin=builtin, options=options)
        return build_tool(component, ToolEnvironment(workspace_root=self.root))


@pytest.fixture
def space(tmp_path: Path) -> Space:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "docs").mkdir(parents=True)
    outside.mkdir()
    (root / "docs" / "notes.md").write_text("alpha\nbeta\ngamma\n")
    (outside / "secret.txt").write_text("the secret\n")
    return Space(root=root, outside=outside)


async def refused(tool: Tool, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await tool.run(arguments)


# ------------------------------------------------------------------ paths


@pytest.mark.parametrize("builtin", ["read_file", "list_files", "write_file", "edit_file"])
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside/secret.txt", "'..' is not allowed"),
        ("docs/../../outside/secret.txt", "'..' is not allowed"),
        ("/etc/passwd", "is an absolute path"),
        ("docs/\x00x", "NUL"),
    ],
)
async def test_paths_out_of_the_root_are_refused(
    space: Space, builtin: str, path: str, message: str
) -> None:
    arguments: dict[str, Any] = {"path": path}
    if builtin == "write_file":
        arguments["content"] = "x"
    if builtin == "edit_file":
        arguments |= {"old_text": "the", "new_text": "a"}
    await refused(space.tool(builtin), arguments, message)
    assert (space.outside / "secret.txt").read_text() == "the secret\n"


async def test_an_absolute_path_to_inside_the_root_is_refused_too(space: Space) -> None:
    path = str(space.root / "docs" / "notes.md")
    await refused(space.tool("read_file"), {"path": path}, "is an absolute path")


async def test_a_link_to_a_file_outside_is_refused(space: Space) -> None:
    (space.root / "leak.txt").symlink_to(space.outside / "secret.txt")
    await refused(space.tool("read_file"), {"path": "leak.txt"}, "leads outside the workspace")
    await refused(
        space.tool("edit_file"),
        {"path": "leak.txt", "old_text": "secret", "new_text": "gone"},
        "leads outside the workspace",
    )
    await refused(space.tool("write_file"), {"path": "leak.txt", "content": "x"}, "leads outside")
    assert (space.outside / "secret.txt").read_text() == "the secret\n"


async def test_a_linked_folder_outside_is_refused_for_reading_and_writing(space: Space) -> None:
    (space.root / "elsewhere").symlink_to(space.outside, target_is_directory=True)
    await refused(
        space.tool("read_file"), {"path": "elsewhere/secret.txt"}, "leads outside the workspace"
    )
    await refused(space.tool("list_files"), {"path": "elsewhere"}, "leads outside")
    await refused(
        space.tool("write_file"),
        {"path": "elsewhere/planted.txt", "content": "x"},
        "leads outside the workspace",
    )
    await refused(
        space.tool("write_file"),
        {"path": "elsewhere/new/deeper.txt", "content": "x"},
        "leads outside the workspace",
    )
    assert sorted(os.listdir(space.outside)) == ["secret.txt"]


async def test_a_dangling_link_pointing_out_is_not_written_through(space: Space) -> None:
    (space.root / "trap.txt").symlink_to(space.outside / "created.txt")
    await refused(space.tool("write_file"), {"path": "trap.txt", "content": "x"}, "outside")
    assert not (space.outside / "created.txt").exists()


async def test_links_inside_the_root_are_followed(space: Space) -> None:
    (space.root / "notes.md").symlink_to(space.root / "docs" / "notes.md")
    (space.root / "d").symlink_to(space.root / "docs", target_is_directory=True)
    read = await space.tool("read_file").run({"path": "notes.md"})
    assert read["content"] == "alpha\nbeta\ngamma\n"
    assert read["path"] == "notes.md"
    listed = await space.tool("list_files").run({"path": "d"})
    assert [entry["name"] for entry in listed["entries"]] == ["notes.md"]
    await space.tool("write_file").run({"path": "d/new.md", "content": "new\n"})
    assert (space.root / "docs" / "new.md").read_text() == "new\n"
    await space.tool("edit_file").run({"path": "notes.md", "old_text": "beta", "new_text": "B"})
    assert (space.root / "docs" / "notes.md").read_text() == "alpha\nB\ngamma\n"
    assert (space.root / "notes.md").is_symlink()  # the link is still there


async def test_a_link_swapped_in_after_the_check_is_caught(
    space: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path is checked, then a folder on it becomes a link out (a race): opening it
    one folder at a time with O_NOFOLLOW refuses the link instead of following it."""
    (space.root / "docs" / "notes.md").unlink()
    (space.root / "docs").rmdir()
    (space.root / "docs").symlink_to(space.outside, target_is_directory=True)
    # the check saw the folder as it was (realpath of a path without links is itself)
    monkeypatch.setattr(workspace_module.os.path, "realpath", os.path.abspath)
    await refused(space.tool("read_file"), {"path": "docs/secret.txt"}, "a symbolic link appeared")
    await refused(
        space.tool("write_file"),
        {"path": "docs/planted.txt", "content": "x"},
        "a symbolic link appeared",
    )
    await refused(space.tool("list_files"), {"path": "docs"}, "a symbolic link appeared")
    await refused(space.tool("grep"), {"pattern": "secret", "path": "docs"}, "symbolic link")
    assert sorted(os.listdir(space.outside)) == ["secret.txt"]


async def test_the_final_file_swapped_for_a_link_is_caught(
    space: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    (space.root / "docs" / "notes.md").unlink()
    (space.root / "docs" / "notes.md").symlink_to(space.outside / "secret.txt")
    monkeypatch.setattr(workspace_module.os.path, "realpath", os.path.abspath)
    await refused(space.tool("read_file"), {"path": "docs/notes.md"}, "a symbolic link appeared")
    await refused(
        space.tool("write_file"),
        {"path": "docs/notes.md", "content": "mine\n"},
        "a symbolic link appeared",
    )
    assert (space.outside / "secret.txt").read_text() == "the secret\n"


# ------------------------------------------------------------------ the root


async def test_without_a_root_every_call_is_refused(space: Space) -> None:
    component = ToolComponent(name="read_file", kind="builtin", builtin="read_file")
    tool = build_tool(component, ToolEnvironment())
    await refused(tool, {"path": "docs/notes.md"}, "AGIO_WORKSPACE_ROOT")


async def test_a_missing_root_is_a_tool_error(tmp_path: Path) -> None:
    component = ToolComponent(name="list_files", kind="builtin", builtin="list_files")
    tool = build_tool(component, ToolEnvironment(workspace_root=tmp_path / "nowhere"))
    await refused(tool, {}, "the workspace folder does not exist")


async def test_the_root_option_confines_to_a_sub_folder(space: Space) -> None:
    reader = space.tool("read_file", root="docs")
    assert (await reader.run({"path": "notes.md"}))["content"].startswith("alpha")
    await refused(reader, {"path": "../docs/notes.md"}, "'..' is not allowed")
    writer = space.tool("write_file", root="agents/one")  # made on the first write
    await writer.run({"path": "a.txt", "content": "A"})
    assert (space.root / "agents" / "one" / "a.txt").read_text() == "A"


async def test_a_root_option_that_links_out_is_refused(space: Space) -> None:
    (space.root / "away").symlink_to(space.outside, target_is_directory=True)
    await refused(space.tool("read_file", root="away"), {"path": "secret.txt"}, "leads outside")


@pytest.mark.parametrize("root", ["../x", "/etc", "a/../../b"])
def test_a_bad_root_option_is_a_load_error(space: Space, root: str) -> None:
    with pytest.raises(ToolLoadError, match="root"):
        space.tool("read_file", root=root)


def test_unknown_options_are_load_errors(space: Space) -> None:
    with pytest.raises(ToolLoadError, match="follow_links: Extra inputs"):
        space.tool("grep", follow_links=True)
    with pytest.raises(ToolLoadError, match="max_bytes"):
        space.tool("read_file", max_bytes=0)


# ------------------------------------------------------------------ read, write, edit


async def test_a_huge_file_is_read_in_parts_with_a_note(space: Space) -> None:
    lines = [f"line {n:05d}\n" for n in range(1, 20_001)]  # 11 bytes each
    (space.root / "big.txt").write_text("".join(lines))
    reader = space.tool("read_file", max_bytes=1000)
    first = await reader.run({"path": "big.txt"})
    assert first["truncated"] is True
    assert first["content"] == "".join(lines[:90])  # whole lines only
    assert (first["start_line"], first["end_line"], first["size"]) == (1, 90, 220_000)
    assert "offset=91" in first["note"]
    nxt = await reader.run({"path": "big.txt", "offset": 91, "limit": 2})
    assert nxt["content"] == "line 00091\nline 00092\n"
    assert "offset=93" in nxt["note"]
    last = await reader.run({"path": "big.txt", "offset": 20_000})
    assert (last["content"], last["truncated"]) == ("line 20000\n", False)
    past = await reader.run({"path": "big.txt", "offset": 20_002})
    assert past["content"] == ""
    assert "fewer than 20002 lines" in past["note"]


async def test_one_huge_line_is_cut_with_a_note(space: Space) -> None:
    (space.root / "long.txt").write_text("é" * 5000)  # 2 bytes each
    result = await space.tool("read_file", max_bytes=1001).run({"path": "long.txt"})
    assert result["content"] == "é" * 500  # the character cut in two is left out
    assert result["truncated"] is True
    assert "inside line 1" in result["note"]


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\x89PNG\r\n\x1a\n\x00\x00", "is a binary file"), (b"caf\xe9\n", "is not UTF-8 text")],
)
async def test_binary_files_are_refused(space: Space, data: bytes, message: str) -> None:
    (space.root / "file.bin").write_bytes(data)
    await refused(space.tool("read_file"), {"path": "file.bin"}, message)
    await refused(
        space.tool("edit_file"),
        {"path": "file.bin", "old_text": "caf", "new_text": "x"},
        message,
    )


async def test_only_regular_files_are_read(space: Space) -> None:
    os.mkfifo(space.root / "pipe")
    await refused(space.tool("read_file"), {"path": "pipe"}, "not a regular file")
    await refused(space.tool("read_file"), {"path": "docs"}, "is a folder, not a file")
    await refused(space.tool("read_file"), {"path": "."}, "not a file")
    await refused(space.tool("read_file"), {"path": "nothing.md"}, "'nothing.md' does not exist")
    await refused(space.tool("write_file"), {"path": "docs", "content": "x"}, "is a folder")


async def test_write_creates_folders_and_replaces_files(space: Space) -> None:
    writer = space.tool("write_file")
    created = await writer.run({"path": "a/b/c.txt", "content": "one\n"})
    assert created == {"path": "a/b/c.txt", "bytes": 4, "created": True}
    (space.root / "a" / "b" / "c.txt").chmod(0o600)
    replaced = await writer.run({"path": "./a/b/c.txt", "content": "two, ünïcode\n"})
    assert replaced == {"path": "a/b/c.txt", "bytes": 15, "created": False}
    target = space.root / "a" / "b" / "c.txt"
    assert target.read_text() == "two, ünïcode\n"
    assert target.stat().st_mode & 0o777 == 0o600  # permissions kept
    assert sorted(os.listdir(target.parent)) == ["c.txt"]  # no temporary file left


async def test_writes_over_the_size_limit_are_refused(space: Space) -> None:
    await refused(
        space.tool("write_file", max_bytes=10),
        {"path": "x.txt", "content": "x" * 11},
        "would be 11 bytes; this tool writes at most 10 bytes",
    )
    assert not (space.root / "x.txt").exists()
    (space.root / "big.txt").write_text("y" * 100)
    await refused(
        space.tool("edit_file", max_bytes=50),
        {"path": "big.txt", "old_text": "y", "new_text": "z", "replace_all": True},
        "is 100 bytes; this tool edits files of at most 50 bytes",
    )


async def test_edit_replaces_exactly_one_occurrence(space: Space) -> None:
    (space.root / "code.py").write_text("x = 1\ny = 1\nx = 1\n")
    editor = space.tool("edit_file")
    await refused(
        editor, {"path": "code.py", "old_text": "x = 1", "new_text": "x = 2"}, "occurs 2 times"
    )
    await refused(
        editor, {"path": "code.py", "old_text": "z = 1", "new_text": "z = 2"}, "was not found"
    )
    await refused(editor, {"path": "code.py", "old_text": "y", "new_text": "y"}, "the same")
    await refused(editor, {"path": "code.py", "old_text": "", "new_text": "y"}, "old_text")
    assert (space.root / "code.py").read_text() == "x = 1\ny = 1\nx = 1\n"
    one = await editor.run({"path": "code.py", "old_text": "y = 1\n", "new_text": ""})
    assert one == {"path": "code.py", "replacements": 1, "bytes": 12}
    every = await editor.run(
        {"path": "code.py", "old_text": "x = 1", "new_text": "x = 3", "replace_all": True}
    )
    assert every["replacements"] == 2
    assert (space.root / "code.py").read_text() == "x = 3\nx = 3\n"


# ------------------------------------------------------------------ list, glob, grep


async def test_list_files_shows_kinds_and_stops_at_its_limit(space: Space) -> None:
    (space.root / "a.txt").write_text("aaa")
    (space.root / "out").symlink_to(space.outside, target_is_directory=True)
    listed = await space.tool("list_files").run({})
    assert listed["entries"] == [
        {"name": "a.txt", "type": "file", "size": 3},
        {"name": "docs", "type": "folder"},
        {"name": "out", "type": "link"},
    ]
    limited = await space.tool("list_files", max_entries=2).run({"path": "."})
    assert len(limited["entries"]) == 2
    assert limited["truncated"] is True
    assert limited["note"] == "showing the first 2 of 3 entries"


async def test_glob_matches_across_folders_without_leaving_the_root(space: Space) -> None:
    for path in ("src/a.py", "src/pkg/b.py", "src/pkg/c.txt", "top.py", ".git/x.py"):
        (space.root / path).parent.mkdir(parents=True, exist_ok=True)
        (space.root / path).write_text("pass\n")
    (space.root / "linked").symlink_to(space.outside, target_is_directory=True)
    (space.outside / "evil.py").write_text("x")
    finder = space.tool("glob")
    assert (await finder.run({"pattern": "**/*.py"}))["matches"] == [
        "src/a.py",
        "src/pkg/b.py",
        "top.py",
    ]
    assert (await finder.run({"pattern": "*.py"}))["matches"] == ["top.py"]
    assert (await finder.run({"pattern": "src/*"}))["matches"] == ["src/a.py", "src/pkg/"]
    assert (await finder.run({"pattern": "*.py", "path": "src"}))["matches"] == ["src/a.py"]
    assert (await finder.run({"pattern": "linked/*"}))["matches"] == []  # links not entered
    await refused(finder, {"pattern": "../*"}, "'..' is not allowed")
    await refused(finder, {"pattern": "/etc/*"}, "absolute path")
    limited = await space.tool("glob", max_results=2).run({"pattern": "**/*"})
    assert len(limited["matches"]) == 2
    assert limited["truncated"] is True
    assert "showing the first 2" in limited["note"]


async def test_grep_finds_lines_within_its_limits(space: Space) -> None:
    (space.root / "docs" / "long.md").write_text("beta " + "z" * 1000 + "\n")
    (space.root / "docs" / "image.bin").write_bytes(b"beta\x00\x01")
    (space.root / "huge.md").write_text("beta\n" * 1000)
    (space.root / "leak.md").symlink_to(space.outside / "secret.txt")
    (space.outside / "secret.txt").write_text("beta secret\n")
    found = await space.tool("grep", max_file_bytes=4000).run({"pattern": "^be+ta"})
    assert [(m["path"], m["line"]) for m in found["matches"]] == [
        ("docs/long.md", 1),
        ("docs/notes.md", 2),
    ]
    long_line = found["matches"][0]["text"]
    assert len(long_line) == 501
    assert long_line.endswith("…")
    assert found["skipped"] == {"binary": 1, "too_large": 1, "link": 1, "unreadable": 0}
    assert found["truncated"] is False

    limited = await space.tool("grep", max_matches=3).run({"pattern": "beta", "path": "."})
    assert len(limited["matches"]) == 3
    assert limited["truncated"] is True
    assert "more than 3 lines match" in limited["note"]

    only_md = await space.tool("grep").run(
        {"pattern": "GAMMA", "ignore_case": True, "glob": "*.md", "path": "docs"}
    )
    assert only_md["matches"] == [{"path": "docs/notes.md", "line": 3, "text": "gamma"}]


async def test_grep_refuses_bad_patterns_and_runs_ruinous_ones_in_linear_time(
    space: Space,
) -> None:
    grep = space.tool("grep")
    await refused(grep, {"pattern": "(?<=a)b"}, "invalid regular expression")
    await refused(grep, {"pattern": "("}, "invalid regular expression")
    (space.root / "a.txt").write_text("a" * 50_000 + "!\n")
    # catastrophic backtracking for a backtracking engine; RE2 answers at once
    result = await grep.run({"pattern": "^(a+)+$"})
    assert result["matches"] == []
