"""Python client for Agio's HTTP API, sync and async, with SSE event iteration.

from agio.client import AgioClient
with AgioClient("http://127.0.0.1:8000") as agio:
    for event in agio.stream_chat("customer_support", "What is 6*7?"):
        if event.type == "content_delta":
            print(event.data["content"], end="")
"""

from agio.client.client import AgioClient, AgioHTTPError, AsyncAgioClient, RunEvent

__all__ = ["AgioClient", "AgioHTTPError", "AsyncAgioClient", "RunEvent"]
