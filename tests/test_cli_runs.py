"""`agio runs list|show|follow|cancel` against a real server, and Ctrl-C in `agio chat`:
the run goes on, and the CLI says which run it is and how to get back to it."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agio.api.app import create_app
from agio.cli import main
from agio.config.settings import Settings
from tests.conftest import ROOT
from tests.live import serve

# a model that streams for minutes unless cancelled: the run is surely still going when
# the test looks at it
ENDLESS = {
    "type": "model",
    "name": "endless_script",
    "provider": "scripted",
    "model": "scripted",
    "responses": [{"content": "word " * 200}],
    "chunk_size": 5,
    "chunk_delay": 1.0,
}


@pytest.fixture
def server(
    make_settings: Callable[..., Settings],
    configs_dir: Path,
    add_components: Callable[[str, list[dict[str, Any]]], None],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A server with authentication on; the CLI finds its admin key in AGIO_DATA_DIR."""
    add_components(
        "endless.yaml",
        [ENDLESS, {"type": "agent", "name": "endless_agent", "model": "endless_script"}],
    )
    settings = make_settings(configs_dir=configs_dir)
    monkeypatch.setenv("AGIO_DATA_DIR", str(settings.data_dir))
    with serve(create_app(settings)) as url:
        yield url


def test_list_show_and_follow_a_finished_run(server: str) -> None:
    runner = CliRunner()
    chat = runner.invoke(
        main, ["chat", "customer_support", "What is (2 + 3) * 4?", "--url", server]
    )
    assert chat.exit_code == 0, chat.output
    run_id = chat.output.split("— ")[1].split(" ")[0]
    assert run_id.startswith("run_")

    listed = runner.invoke(main, ["runs", "list", "--url", server])
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.stdout.splitlines() if line.startswith(run_id))
    assert line.split()[1:3] == ["completed", "customer_support"]
    assert "What is (2 + 3) * 4?" in line
    assert "1-1 of 1" in listed.stderr
    none = runner.invoke(main, ["runs", "list", "--status", "failed", "--url", server])
    assert run_id not in none.stdout
    as_json = runner.invoke(main, ["runs", "list", "--json", "--url", server])
    assert '"total": 1' in as_json.stdout

    shown = runner.invoke(main, ["runs", "show", run_id, "--url", server])
    assert shown.exit_code == 0, shown.output
    assert "status:    completed" in shown.output
    assert "= 20" in shown.output  # the answer
    assert "1 tool calls" in shown.output

    followed = runner.invoke(main, ["runs", "follow", run_id, "--url", server])
    assert followed.exit_code == 0, followed.output
    assert "→ calculator" in followed.output
    assert "= 20" in followed.output
    assert f"— {run_id} · session ses_" in followed.output

    cancel_ended = runner.invoke(main, ["runs", "cancel", run_id, "--url", server])
    assert cancel_ended.exit_code == 1
    assert "409" in cancel_ended.output
    missing = runner.invoke(main, ["runs", "show", "run_missing", "--url", server])
    assert missing.exit_code == 1
    assert "404 RunNotFound" in missing.output


def test_without_a_key_the_server_says_401(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGIO_DATA_DIR", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(main, ["runs", "list", "--url", server])
    assert result.exit_code == 1
    assert "401" in result.output


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # an ignored signal is inherited
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # and so is a blocked one


def _interrupted_chat(server: str) -> tuple[str, str, int]:
    """`agio chat` in its own process, interrupted (SIGINT, as Ctrl-C sends) once the
    answer has begun: (stdout so far, stderr, exit status)."""
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "agio"), "chat", "endless_agent", "hi", "--url", server],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        # as from a terminal: SIGINT not ignored, whatever this process inherited (an
        # ignored SIGINT is inherited, and Python then never raises KeyboardInterrupt)
        preexec_fn=_default_sigint,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.read(4)  # the first streamed text
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return (first + rest).decode(), err.decode(), process.returncode


@pytest.mark.slow
def test_ctrl_c_in_chat_leaves_the_run_going_and_says_how_to_reach_it(server: str) -> None:
    out, err, status = _interrupted_chat(server)
    assert out.startswith("word")
    assert status == 130
    assert "interrupted: run run_" in err
    run_id = err.split("interrupted: run ")[1].split()[0]
    assert f"agio runs follow {run_id} --url {server}" in err
    assert f"agio runs cancel {run_id} --url {server}" in err
    assert "Traceback" not in err

    runner = CliRunner()
    shown = runner.invoke(main, ["runs", "show", run_id, "--url", server])
    assert "status:    running" in shown.output  # the server did not stop it

    cancelled = runner.invoke(main, ["runs", "cancel", run_id, "--url", server])
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.output.startswith(f"{run_id}: cancel")
    followed = runner.invoke(main, ["runs", "follow", run_id, "--url", server])
    assert followed.exit_code == 1
    assert followed.output.startswith("word")  # what was streamed before the cancel
    assert f"run {run_id} ended: Cancelled" in followed.output
    shown = runner.invoke(main, ["runs", "show", run_id, "--url", server])
    assert "status:    cancelled" in shown.output
