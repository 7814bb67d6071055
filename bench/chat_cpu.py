"""CPU per non-streaming chat in-process (the app behind httpx's ASGI transport, the `demo`
model), with an API key and with the development switch (no credentials): what
authentication costs per request.

    .venv/bin/python bench/chat_cpu.py            # --chats 200 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from agio.api.app import create_app
from agio.config.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


async def main(chats: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(tmp),
            configs_dir=ROOT / "configs",
            watch_configs=False,
            log_level="WARNING",
            rate_limit_read="",
            rate_limit_write="",
            rate_limit_chat="",
            auth_disabled=True,  # loopback client below: requests without a key act as admin
            max_active_runs_per_user=100_000,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            key = (Path(tmp) / "admin.key").read_text().strip()
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
            body = {"agent_id": "assistant", "message": "hello", "stream": False}
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                for _ in range(rounds):
                    for label, headers in (("api key", {"X-API-Key": key}), ("no auth", {})):
                        for _ in range(20):  # warm-up
                            await c.post("/api/chat", json=body, headers=headers)
                        started = time.process_time()
                        for _ in range(chats):
                            await c.post("/api/chat", json=body, headers=headers)
                        spent = (time.process_time() - started) / chats * 1000
                        print(f"{label}: {spent:.2f} ms CPU per chat (client included)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.chats, args.rounds))
