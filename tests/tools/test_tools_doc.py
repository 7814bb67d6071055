"""The component examples of docs/tools.md are valid components whose tools build."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from agio.config.components import AgentComponent, ToolComponent, parse_component
from agio.tools.environment import ToolEnvironment
from agio.tools.registry import build_tool
from tests.conftest import ROOT


def test_the_yaml_examples_are_valid_components(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "tools.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 2
    environment = ToolEnvironment(workspace_root=tmp_path)
    for block in blocks:
        components = [parse_component(item) for item in yaml.safe_load(block)]
        tools = {c.name: c for c in components if isinstance(c, ToolComponent)}
        for tool in tools.values():
            assert build_tool(tool, environment).name == tool.name
        agents = [c for c in components if isinstance(c, AgentComponent)]
        assert agents
        for agent in agents:
            assert set(agent.tools) <= set(tools)
