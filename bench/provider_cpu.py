"""CPU of the `openai` provider alone, per streamed model call: `OpenAIModel.stream` in
this process against `bench/fake_openai.py` in another (a 20-chunk answer with usage,
one pooled client), calls one after another; the fake server's CPU is not counted.

    .venv/bin/python bench/provider_cpu.py            # --calls 1000 --rounds 3
    .venv/bin/python bench/provider_cpu.py --loop uvloop   # the loop `agio serve` runs on
    .venv/bin/python bench/provider_cpu.py --transport httpx   # httpx's own transport
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
from load import free_port, wait_ready

from agio.config.components import ModelComponent
from agio.domain.messages import Message
from agio.models.base import ModelRequest
from agio.models.openai_provider import POOL_LIMITS, OpenAIModel

ROOT = Path(__file__).resolve().parents[1]
REQUEST = ModelRequest(
    messages=[Message.system("You are a helpful assistant."), Message.user("Say something.")]
)


async def drain(model: OpenAIModel) -> None:
    """One streamed call, read to its end."""
    async for _event in model.stream(REQUEST):
        continue


def client_for(transport: str, component: ModelComponent) -> httpx.AsyncClient | None:
    """None: the client the model builds (`AsyncioTransport`); "httpx": one on httpx's own
    transport, configured as the model's, passed in."""
    if transport == "asyncio":
        return None
    timeout = httpx.Timeout(component.timeout)
    return httpx.AsyncClient(timeout=timeout, limits=POOL_LIMITS, follow_redirects=True)


async def main(calls: int, rounds: int, transport: str) -> None:
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fake_openai.py"), "--port", str(port)]
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(f"{base_url}/models", fake)
        component = ModelComponent.model_validate(
            {"name": "bench", "provider": "openai", "model": "bench", "base_url": base_url}
        )
        client = client_for(transport, component)
        model = OpenAIModel(component, client=client)
        try:
            for _ in range(50):  # warm-up: connections, imports, caches
                await drain(model)
            for _ in range(rounds):
                started, cpu = time.perf_counter(), time.process_time()
                for _ in range(calls):
                    await drain(model)
                spent = (time.process_time() - cpu) / calls * 1000
                wall = (time.perf_counter() - started) / calls * 1000
                print(f"{spent:.3f} ms CPU per call ({wall:.3f} ms wall)")
        finally:
            await model.aclose()
            if client is not None:
                await client.aclose()
    finally:
        fake.terminate()
        fake.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--transport", choices=["asyncio", "httpx"], default="asyncio")
    args = parser.parse_args()
    run = main(args.calls, args.rounds, args.transport)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(run)
    else:
        asyncio.run(run)
