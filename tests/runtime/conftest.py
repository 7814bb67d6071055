"""Helpers for runtime tests: components written into the test's configs folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

RUNTIME_COMPONENTS: list[dict[str, Any]] = [
    {
        "type": "model",
        "name": "spec_script",
        "provider": "scripted",
        "model": "scripted",
        "responses": [
            {
                "content": "Let me look that up.",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}],
            },
            {"content": "The answer is 42."},
        ],
        "chunk_size": 8,
    },
    {"type": "agent", "name": "spec_agent", "model": "spec_script", "tools": ["calculator"]},
    {
        "type": "tool",
        "name": "explode",
        "kind": "python",
        "import_path": "tests.runtime.sample_tools:explode",
        "description": "Always fails.",
    },
    {
        "type": "tool",
        "name": "slow",
        "kind": "python",
        "import_path": "tests.runtime.sample_tools:slow",
        "timeout": 0.2,
    },
    {
        "type": "tool",
        "name": "record",
        "kind": "python",
        "import_path": "tests.runtime.sample_tools:record",
    },
]


@pytest.fixture
def configs_dir(configs_dir: Path) -> Path:
    (configs_dir / "runtime.yaml").write_text(yaml.safe_dump(RUNTIME_COMPONENTS))
    return configs_dir
