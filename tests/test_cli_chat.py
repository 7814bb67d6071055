"""Where `agio chat` and the other HTTP commands find a key by themselves, and that tests
never see the developer's own data dir (`./.agio`, which `./scripts/serve` fills)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.conftest as conftest
from agio.cli._common import local_admin_key
from agio.config.settings import Settings
from tests.conftest import ROOT, UserDataDirTouched


def test_tests_have_a_data_dir_of_their_own(tmp_path: Path) -> None:
    data_dir = Settings().data_dir
    assert data_dir.resolve().is_relative_to(tmp_path)
    assert not data_dir.resolve().is_relative_to(ROOT)


def test_the_users_data_dir_is_out_of_reach() -> None:
    for path in (ROOT / ".agio" / "admin.key", Path(".agio") / "agio.db"):
        with pytest.raises(UserDataDirTouched, match="user's data dir"):
            path.read_text()
    with pytest.raises(UserDataDirTouched):
        (ROOT / ".agio").mkdir(exist_ok=True)
    # what the guard noted would fail this test when it ends; it was provoked on purpose
    assert len(conftest._user_data_dir_touched) == 3
    conftest._user_data_dir_touched.clear()


def test_the_local_admin_key_follows_the_data_dir_and_stays_on_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "server-data"
    data_dir.mkdir()
    (data_dir / "admin.key").write_text("agio_0123456789ab_local\n")
    assert local_admin_key("http://127.0.0.1:8000") is None  # not in this test's data dir
    monkeypatch.setenv("AGIO_DATA_DIR", str(data_dir))
    for url in ("http://127.0.0.1:8000", "http://localhost:9000", "http://[::1]:8000"):
        assert local_admin_key(url) == "agio_0123456789ab_local"
    for url in ("https://agio.example.com", "http://10.0.0.5:8000", "http://127.0.0.1.nip.io"):
        assert local_admin_key(url) is None  # never sent to another machine
