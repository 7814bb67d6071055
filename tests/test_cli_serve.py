"""`agio serve`'s first-start banner names the address it listens on, and the scripts'
dependency installation shows its progress (on a terminal and in a log alike)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agio.cli import main
from agio.cli.server import base_url
from tests.conftest import ROOT
from tests.test_readme_commands import free_port, running, server_env, wait_for_health


@pytest.mark.slow
def test_the_first_start_banner_shows_the_port_it_listens_on(tmp_path: Path) -> None:
    port = free_port()
    assert port != 8000
    command = [str(ROOT / ".venv" / "bin" / "agio"), "serve", "--port", str(port)]
    log = tmp_path / "server.log"
    with running(command, server_env(tmp_path), log) as process:
        wait_for_health(port, process, log, 10)
    output = log.read_text()
    key_file = tmp_path / "data" / "admin.key"
    assert f'curl -H "X-API-Key: $(cat {key_file})" http://127.0.0.1:{port}/api/agents' in output
    assert f"Sign in to the web console at http://127.0.0.1:{port}/ with it" in output
    assert ":8000" not in output


def test_the_url_to_show_for_an_address() -> None:
    assert base_url("127.0.0.1", 9000) == "http://127.0.0.1:9000"
    assert base_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert base_url("::", 9000) == "http://[::1]:9000"
    assert base_url("::1", 80) == "http://[::1]:80"
    assert base_url("agio.internal", 8080) == "http://agio.internal:8080"


def test_invalid_settings_are_named_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGIO_MAX_BODY_BYTES", "my-secret-value")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "invalid settings: max_body_bytes: Input should be a valid integer" in result.output
    assert "my-secret-value" not in result.output


# --------------------------------------------------------------------- scripts/_venv.sh

FAKE_PIP_OUTPUT = """\
Obtaining file:///agio
Collecting alpha==1.0
  Downloading alpha-1.0-py3-none-any.whl (10 kB)
Collecting beta==2.0
Requirement already satisfied: gamma==3.0 in ./lib
Installing collected packages: alpha, beta
Successfully installed alpha-1.0 beta-2.0
"""


@pytest.fixture
def fake_venv(tmp_path: Path) -> Path:
    """A virtual environment whose `python -m pip` prints what pip prints (and fails when
    FAKE_PIP_FAILS is set); everything else is the real interpreter."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (tmp_path / "pip-output.txt").write_text(FAKE_PIP_OUTPUT)
    python = venv / "bin" / "python"
    python.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = -m ] && [ "$2" = pip ]; then\n'
        f'  echo "${{*:3}}" >>"{tmp_path / "pip-calls.txt"}"\n'
        f'  cat "{tmp_path / "pip-output.txt"}"\n'
        '  if [ -n "${FAKE_PIP_FAILS:-}" ]; then echo "ERROR: no matching distribution" >&2; '
        "exit 1; fi\n"
        "  exit 0\n"
        "fi\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    return venv


def _ensure_venv(venv: Path, *, fails: bool = False, tty: bool = False) -> tuple[int, str]:
    """Run `ensure_venv run` as scripts/serve does: (exit status, what it wrote on stderr)."""
    env = {**os.environ, "AGIO_VENV": str(venv)}
    if fails:
        env["FAKE_PIP_FAILS"] = "1"
    command = ["bash", "-c", f'source "{ROOT / "scripts" / "_venv.sh"}" && ensure_venv run']
    if not tty:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stderr
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=terminal)
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end closed: the script is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        return process.wait(60), b"".join(chunks).decode()
    finally:
        os.close(controller)


@pytest.mark.slow
def test_an_install_reports_each_stage_and_keeps_pips_output_in_a_log(fake_venv: Path) -> None:
    status, err = _ensure_venv(fake_venv)
    assert status == 0, err
    lines = err.splitlines()
    assert lines == [
        f"agio: installing the pinned dependencies (run) into {fake_venv}; "
        f"pip's output: {fake_venv / 'install.log'}",
        "agio: [2/3] updating pip",
        "  resolving and downloading packages ...",
        "  installing 2 packages ...",
        "  installed 2 packages",
        "agio: [3/3] installing Agio and its dependencies (the first time takes a minute)",
        "  resolving and downloading packages ...",
        "  installing 2 packages ...",
        "  installed 2 packages",
        lines[-1],
    ]
    assert lines[-1].startswith("agio: dependencies ready in ")
    assert (fake_venv / "install.log").read_text() == FAKE_PIP_OUTPUT * 2
    calls = (fake_venv.parent / "pip-calls.txt").read_text().splitlines()
    assert calls == [  # options after the command they belong to
        "--disable-pip-version-check install --progress-bar off --upgrade pip",
        f"--disable-pip-version-check install --progress-bar off -c {ROOT}/requirements.lock "
        f"-e {ROOT}",
    ]
    # up to date: nothing to do, nothing said
    assert _ensure_venv(fake_venv) == (0, "")


@pytest.mark.slow
def test_on_a_terminal_the_install_names_each_package_as_it_goes(fake_venv: Path) -> None:
    status, err = _ensure_venv(fake_venv, tty=True)
    assert status == 0, err
    assert "\r\x1b[K  resolving packages: 1 (alpha==1.0)" in err
    assert "\r\x1b[K  resolving packages: 3 (gamma==3.0)" in err
    assert "  installed 2 packages" in err


@pytest.mark.slow
def test_a_failed_install_shows_the_log(fake_venv: Path) -> None:
    status, err = _ensure_venv(fake_venv, fails=True)
    assert status == 1
    assert "agio: dependency installation failed; the log follows" in err
    assert "ERROR: no matching distribution" in err
    assert "Downloading alpha-1.0" in err  # the whole log, not only the progress lines
    assert not (fake_venv / ".agio-run.stamp").exists()
