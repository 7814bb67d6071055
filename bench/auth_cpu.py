"""CPU per authentication, in-process on a fresh SQLite database: `AuthService.from_key`
(an API key) and `from_token` (a JWT), the same credential again and again after a
warm-up, as a client's repeated requests send it.

    .venv/bin/python bench/auth_cpu.py            # --calls 3000 --rounds 3
    .venv/bin/python bench/auth_cpu.py --cache-seconds 0   # the database on every call
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agio.config.settings import Settings
from agio.domain.security import Principal, Role
from agio.services.auth import AuthService
from agio.storage import migrate
from agio.storage.database import Database
from agio.storage.users import UserRepository

SECRET = "a-benchmark-jwt-secret-that-is-long-enough-0123456789"


async def main(calls: int, rounds: int, cache_seconds: float | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        values: dict[str, object] = {"data_dir": Path(tmp), "environment": "test"}
        if cache_seconds is not None:
            values["auth_cache_seconds"] = cache_seconds
        settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
        db = Database(settings.resolved_database_url)
        try:
            await migrate.upgrade(db)
            auth = AuthService(UserRepository(db), settings, jwt_secret=SECRET)
            user = await auth.users.create("bench", Role.USER, None)
            assert user is not None
            key = (await auth.create_key(user.id, "bench")).secret
            token = auth.issue_token(user).access_token
            checks: dict[str, Callable[[], Awaitable[Principal]]] = {
                "api key": lambda: auth.from_key(key),
                "jwt": lambda: auth.from_token(token),
            }
            for _ in range(rounds):
                for label, check in checks.items():
                    for _ in range(200):  # warm-up
                        await check()
                    started = time.process_time()
                    for _ in range(calls):
                        await check()
                    spent = (time.process_time() - started) / calls * 1e6
                    print(f"{label}: {spent:.0f} µs CPU per authentication")
        finally:
            await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cache-seconds", type=float, default=None, help="AGIO_AUTH_CACHE_SECONDS (default: its)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds, args.cache_seconds))
