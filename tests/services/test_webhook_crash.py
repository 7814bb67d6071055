"""A real `agio serve` killed with SIGKILL while it sends a webhook delivery: after it
starts again, the delivery is sent again and delivered (at least once), its first attempt
marked interrupted, and the receiver sees the same `webhook-id` both times."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

from agio.storage.webhooks import INTERRUPTED
from tests.conftest import BUNDLED_CONFIGS
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.runtime.test_crash_recovery import start_server
from tests.test_readme_commands import free_port, wait_for_health

pytestmark = pytest.mark.slow

WEBHOOK_SETTINGS = {
    "AGIO_WEBHOOK_ALLOW_PRIVATE": "true",
    "AGIO_WEBHOOK_TIMEOUT_SECONDS": "5",
    "AGIO_WEBHOOK_LEASE_SECONDS": "6",  # the killed attempt is due again after this
    "AGIO_WEBHOOK_POLL_SECONDS": "0.2",
    "AGIO_WEBHOOK_RETRY_SCHEDULE": "0.1",
}


def test_sigkill_during_a_delivery_then_restart(tmp_path: Path) -> None:
    shutil.copytree(BUNDLED_CONFIGS, tmp_path / "configs")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with WebhookReceiver() as receiver:
        receiver.hold()  # the first attempt hangs: the server dies while it waits
        first, log = start_server(tmp_path, port, "first.log", **WEBHOOK_SETTINGS)
        try:
            wait_for_health(port, first, log, 20)
            created = httpx.post(
                f"{base}/api/webhooks",
                json={"url": receiver.url, "events": ["run.completed"]},
                timeout=10,
            )
            assert created.status_code == 201, created.text
            hook_id = created.json()["id"]
            chat = httpx.post(
                f"{base}/api/chat",
                json={"agent_id": "customer_support", "message": "hello", "stream": False},
                timeout=30,
            )
            assert chat.status_code == 200, chat.text
            run_id = chat.json()["run_id"]
            assert receiver.waiting.wait(20), log.read_text()[-3000:]
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(10)
        assert first.returncode == -signal.SIGKILL
        receiver.release()  # answers 200 from now on (the killed one's went nowhere)

        second, log2 = start_server(tmp_path, port, "second.log", **WEBHOOK_SETTINGS)
        try:
            wait_for_health(port, second, log2, 20)
            deadline = time.monotonic() + 30
            while True:
                items = httpx.get(f"{base}/api/webhooks/{hook_id}/deliveries", timeout=10).json()[
                    "items"
                ]
                if items and items[0]["status"] == "delivered":
                    break
                assert time.monotonic() < deadline, (items, log2.read_text()[-3000:])
                time.sleep(0.1)
            [delivery] = items
            detail = httpx.get(
                f"{base}/api/webhooks/{hook_id}/deliveries/{delivery['id']}", timeout=10
            ).json()
        finally:
            second.terminate()
            second.wait(15)
    assert delivery["run_id"] == run_id
    assert delivery["attempts"] == 2
    assert [a["error"] for a in detail["attempt_log"]] == [INTERRUPTED, None]
    assert [a["response_code"] for a in detail["attempt_log"]] == [None, 200]
    # the same delivery twice at the receiver: it de-duplicates by webhook-id
    assert [r.webhook_id for r in receiver.received] == [delivery["id"]] * 2
    assert {r.json["data"]["run_id"] for r in receiver.received} == {run_id}
