"""Statements in the docs that can be checked against the code are checked here."""

from __future__ import annotations

import re
from pathlib import Path

from agio.config.settings import Settings
from agio.domain.security import ROLE_PERMISSIONS, Permission, Role
from tests.conftest import ROOT


def _table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of each row of the Markdown table that starts with `header`."""
    lines = text[text.index(header) :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_role_table_in_security_md_is_the_code_s() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    documented: dict[Role, set[Permission]] = {role: set() for role in Role}
    named: set[Permission] = set()
    for permission_cell, *marks in _table_rows(text, "| permission | viewer | user | admin |"):
        permissions = {Permission(p) for p in re.findall(r"`([a-z]+:[a-z]+)`", permission_cell)}
        named |= permissions
        for role, mark in zip((Role.VIEWER, Role.USER, Role.ADMIN), marks, strict=True):
            if mark == "✓":
                documented[role] |= permissions
    assert named == set(Permission)  # every permission is in the table
    assert documented == {role: set(ROLE_PERMISSIONS[role]) for role in Role}


def test_every_setting_is_in_configuration_md_with_its_default() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = {row[0]: row[1] for row in _table_rows(text, "| variable | default | meaning |")}
    for name, field in Settings.model_fields.items():
        variable = f"`AGIO_{name.upper()}`"
        assert variable in rows, variable
        default = field.get_default(call_default_factory=True)
        if isinstance(default, bool):
            assert rows[variable] == f"`{str(default).lower()}`", variable
        elif isinstance(default, int | float):
            assert rows[variable].strip("`") in (str(default), f"{default:g}"), variable
        elif isinstance(default, str):
            assert rows[variable] == f"`{default}`", variable
        elif isinstance(default, Path):
            assert rows[variable] == f"`./{default}`", variable
        elif default in (None, []):
            assert rows[variable] in ("unset", "empty") or " " in rows[variable], variable
    assert len(rows) == len(Settings.model_fields)
