"""A fake OpenAI-compatible Chat Completions server for benchmarks: zero latency, a
20-chunk streamed answer, and one tool call when tools are offered and the conversation
does not end with a tool result yet.

    python bench/fake_openai.py --port 9100
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

ANSWER = [f"word{i} " for i in range(20)]


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "bench"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _usage(body: dict[str, Any]) -> bytes:
    payload = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "bench"),
        "choices": [],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"].endswith("/models"):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"object":"list","data":[]}'})
        return
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    body = json.loads(raw or b"{}")
    messages = body.get("messages", [])
    wants_tool = bool(body.get("tools")) and (not messages or messages[-1].get("role") != "tool")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    if wants_tool:
        name = body["tools"][0]["function"]["name"]
        parts = [
            _chunk(
                body,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_bench",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ],
                },
            ),
            _chunk(
                body,
                {
                    "tool_calls": [
                        {"index": 0, "function": {"arguments": json.dumps({"expression": "6*7"})}}
                    ]
                },
            ),
            _chunk(body, {}, "tool_calls"),
        ]
    else:
        parts = [_chunk(body, {"role": "assistant", "content": ""})]
        parts += [_chunk(body, {"content": word}) for word in ANSWER]
        parts.append(_chunk(body, {}, "stop"))
    parts.append(_usage(body))
    parts.append(b"data: [DONE]\n\n")
    for part in parts:
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
