"""The layer contract (`.importlinter`) holds: domain and config import nothing of ours,
storage not the bus, runtime, services or API, the API not storage, models and tools not
each other, and no sibling modules import each other in a cycle."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_the_layer_contract_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True) == 0
