"""YAML loading: substitution, validation problems with file and field, references."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from agio.cli import main
from agio.config.components import MASK, ModelComponent, dump_component, parse_component
from agio.config.loader import (
    MissingVariable,
    check_directory,
    component_digest,
    load_directory,
    substitute,
)
from tests.conftest import BUNDLED_CONFIGS


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_substitution() -> None:
    env = {"KEY": "sk-1", "EMPTY": ""}
    assert substitute("${KEY}", env) == "sk-1"
    assert substitute("a-${KEY}-b", env) == "a-sk-1-b"
    assert substitute("${MISSING:-fallback}", env) == "fallback"
    assert substitute("${EMPTY:-fallback}", env) == ""
    assert substitute("$${KEY}", env) == "${KEY}"
    assert substitute({"a": ["${KEY}", 3, None]}, env) == {"a": ["sk-1", 3, None]}
    with pytest.raises(MissingVariable, match="MISSING"):
        substitute("${MISSING}", env)


def test_environment_values_cannot_change_structure(tmp_path: Path) -> None:
    write(tmp_path, "m.yaml", "type: model\nname: m\nprovider: demo\nmodel: ${NAME}\n")
    result = load_directory(tmp_path, {"NAME": "x\nprovider: openai\napi_key: injected"})
    assert not result.problems
    component = result.components[0].component
    assert isinstance(component, ModelComponent)
    assert component.provider == "demo"
    assert component.model.startswith("x\n")


def test_bundled_configs_are_valid() -> None:
    result = check_directory(BUNDLED_CONFIGS, {})
    assert result.problems == []
    names = {c.component.name for c in result.components}
    assert {"demo", "openai", "calculator", "customer_support"} <= names


def test_broken_file_is_reported_with_path_and_field_and_others_load(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", "type: model\nname: good\nprovider: demo\nmodel: demo\n")
    write(
        tmp_path,
        "bad_field.yaml",
        "type: model\nname: bad\nprovider: demo\nmodel: demo\ntemperature: 9\n",
    )
    write(tmp_path, "sub/bad_yaml.yml", "type: model\nname: [unclosed\n")
    write(tmp_path, "unknown.yaml", "type: model\nname: u\nprovider: demo\nmodel: d\nfoo: 1\n")
    write(tmp_path, "notype.yaml", "name: n\n")
    write(tmp_path, "scalar.yaml", "just a string\n")
    write(
        tmp_path,
        "needs_env.yaml",
        "type: model\nname: e\nprovider: openai\nmodel: m\napi_key: ${NOT_SET_ANYWHERE}\n",
    )
    write(tmp_path, ".hidden/ignored.yaml", "garbage: [")
    write(tmp_path, "notes.txt", "not yaml at all: [")
    result = load_directory(tmp_path, {})
    assert [c.component.name for c in result.components] == ["good"]
    by_file = {(Path(p.path).name, p.field): p.message for p in result.problems}
    assert ("bad_field.yaml", "temperature") in by_file
    assert "less than or equal to 2" in by_file[("bad_field.yaml", "temperature")]
    assert any(f == "bad_yaml.yml" and "line" in m for (f, _), m in by_file.items())
    assert ("unknown.yaml", "foo") in by_file
    assert ("notype.yaml", "type") in by_file
    assert ("scalar.yaml", None) in by_file
    assert "NOT_SET_ANYWHERE" in by_file[("needs_env.yaml", None)]
    assert result.files == 7  # the hidden folder and the .txt file are not read


def test_multiple_components_per_file_and_duplicates(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        ("type: model\nname: one\nprovider: demo\nmodel: d\n---\ntype: memory\nname: two\n"),
    )
    write(
        tmp_path,
        "b.yaml",
        (
            "- {type: tool, name: three, kind: builtin, builtin: calculator}\n"
            "- {type: memory, name: one}\n"
        ),
    )
    result = load_directory(tmp_path, {})
    assert sorted(c.component.name for c in result.components) == ["one", "three", "two"]
    assert len(result.problems) == 1
    assert result.problems[0].field == "name"
    assert "already defined" in result.problems[0].message
    assert result.problems[0].path.endswith("b.yaml[1]")


def test_reference_problems_name_the_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "agent.yaml",
        ("type: agent\nname: bot\nmodel: ghost\ntools: [calc, missing_tool]\nmemory: calc\n"),
    )
    write(tmp_path, "calc.yaml", "type: tool\nname: calc\nkind: builtin\nbuiltin: calculator\n")
    result = check_directory(tmp_path, {})
    fields = {p.field: p.message for p in result.problems}
    assert "ghost" in fields["model"]
    assert "missing_tool" in fields["tools.1"]
    assert "not a memory component" in fields["memory"]
    assert [c.component.name for c in result.components] == ["calc"]


def test_secret_masking_and_digest() -> None:
    model = parse_component(
        {"type": "model", "name": "m", "provider": "openai", "model": "x", "api_key": "sk-secret"}
    )
    assert "sk-secret" not in repr(model)
    assert dump_component(model)["api_key"] == MASK
    assert dump_component(model, reveal_secrets=True)["api_key"] == "sk-secret"
    other = parse_component(
        {"type": "model", "name": "m", "provider": "openai", "model": "x", "api_key": "sk-other"}
    )
    assert component_digest(model) != component_digest(other)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"type": "model", "name": "m", "provider": "scripted", "model": "s"}, "responses"),
        (
            {"type": "model", "name": "m", "provider": "demo", "model": "d", "responses": []},
            "only for provider",
        ),
        (
            {
                "type": "model",
                "name": "m",
                "provider": "openai",
                "model": "d",
                "base_url": "ftp://x",
            },
            "http",
        ),
        ({"type": "tool", "name": "t", "kind": "python"}, "import_path"),
        (
            {
                "type": "tool",
                "name": "t",
                "kind": "builtin",
                "builtin": "calculator",
                "url": "http://x",
            },
            "only for kind",
        ),
        ({"type": "tool", "name": "t", "kind": "builtin", "builtin": "teleport"}, "builtin"),
        (
            {"type": "knowledge", "name": "k", "chunk_size": 200, "chunk_overlap": 300},
            "chunk_overlap",
        ),
        ({"type": "agent", "name": "Bad Name", "model": "m"}, "name"),
        ({"type": "agent", "name": "a", "model": "m", "system_prompt": "x\x00"}, "NUL"),
    ],
)
def test_component_validation(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        parse_component(data)


def test_cli_config_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["config", "validate", str(BUNDLED_CONFIGS)])
    assert ok.exit_code == 0, ok.output
    assert "0 problem(s)" in ok.output

    write(tmp_path, "good.yaml", "type: memory\nname: mem\n")
    write(tmp_path, "bad.yaml", "type: memory\nname: bad\nmax_messages: -1\n")
    bad = runner.invoke(main, ["config", "validate", str(tmp_path)])
    assert bad.exit_code == 1
    assert f"{tmp_path / 'bad.yaml'}: max_messages:" in bad.output
    assert "1 valid component(s), 1 problem(s)" in bad.output
