"""The client classes. SSE parsing is httpx-sse's; this module adds Agio's shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse, connect_sse

TERMINAL = frozenset({"run_completed", "run_failed", "run_cancelled"})


@dataclass(frozen=True)
class RunEvent:
    """One run event as streamed: `seq` (the SSE id), `type` and its `data`."""

    seq: int
    type: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL


class AgioHTTPError(Exception):
    """An error response, with the fields of Agio's error envelope."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        request_id: str | None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {type_}: {message}")
        self.status = status
        self.type = type_
        self.message = message
        self.request_id = request_id
        self.details = details


def _error(response: httpx.Response, body: bytes) -> AgioHTTPError:
    try:
        err = json.loads(body)["error"]
        return AgioHTTPError(
            response.status_code,
            err.get("type", "HTTPError"),
            err.get("message", ""),
            err.get("request_id"),
            err.get("details"),
        )
    except (ValueError, KeyError, TypeError):
        return AgioHTTPError(
            response.status_code,
            "HTTPError",
            body[:200].decode(errors="replace"),
            response.headers.get("x-request-id"),
        )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise AgioHTTPError(
            response.status_code,
            "UnexpectedResponse",
            "expected a JSON object",
            response.headers.get("x-request-id"),
        )
    return body


def _event(sse: ServerSentEvent) -> RunEvent:
    return RunEvent(seq=int(sse.id or 0), type=sse.event, data=json.loads(sse.data or "{}"))


def _headers(api_key: str | None, token: str | None) -> dict[str, str]:
    headers = {"User-Agent": "agio-client"}
    if api_key:
        headers["X-API-Key"] = api_key
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _chat_body(
    agent: str, message: str, session_id: str | None, user_id: str | None, stream: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"agent_id": agent, "message": message, "stream": stream}
    if session_id:
        body["session_id"] = session_id
    if user_id:
        body["user_id"] = user_id
    return body


def _decision(
    decision: str, arguments: dict[str, Any] | None, reason: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"decision": decision}
    if arguments is not None:
        body["arguments"] = arguments
    if reason is not None:
        body["reason"] = reason
    return body


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class AgioClient:
    """Synchronous client."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers=_headers(api_key, token),
            timeout=httpx.Timeout(timeout, read=None),
            transport=transport,
        )

    def __enter__(self) -> AgioClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _error(response, response.content)
        return {} if response.status_code == 204 else _json_object(response)

    # resources
    def health(self) -> dict[str, Any]:
        return self._call("GET", "/api/health")

    def list_agents(
        self, *, limit: int = 20, offset: int = 0, tag: str | None = None
    ) -> dict[str, Any]:
        return self._call(
            "GET",
            "/api/agents",
            params=_clean({"limit": limit, "offset": offset, "tag": tag}),
        )

    def get_agent(self, agent: str) -> dict[str, Any]:
        return self._call("GET", f"/api/agents/{agent}")

    def create_agent(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/agents", json=spec)

    def delete_agent(self, agent: str) -> None:
        self._call("DELETE", f"/api/agents/{agent}")

    def chat(
        self, agent: str, message: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        """Run to the end and return `{run_id, session_id, status, response, metrics}`."""
        return self._call(
            "POST", "/api/chat", json=_chat_body(agent, message, session_id, user_id, False)
        )

    def stream_chat(
        self, agent: str, message: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> Iterator[RunEvent]:
        """Yield the run's events as they happen, ending with its terminal event."""
        body = _chat_body(agent, message, session_id, user_id, True)
        yield from self._stream("POST", "/api/chat", json=body)

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/runs/{run_id}")

    def list_runs(self, **filters: Any) -> dict[str, Any]:
        return self._call("GET", "/api/runs", params=_clean(filters))

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        """Cancel a run: `{run_id, status, message}` (a run that already ended is a 409)."""
        return self._call("POST", f"/api/runs/{run_id}/cancel")

    def decide(
        self,
        run_id: str,
        call_id: str,
        decision: str,
        *,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Approve or reject a tool call that waits for a decision: the approval record."""
        return self._call(
            "POST",
            f"/api/runs/{run_id}/approvals/{call_id}",
            json=_decision(decision, arguments, reason),
        )

    def events(self, run_id: str, *, offset: int = 0, limit: int = 1000) -> dict[str, Any]:
        return self._call(
            "GET",
            f"/api/runs/{run_id}/events",
            params={"offset": offset, "limit": limit},
        )

    def stream_events(self, run_id: str, *, last_event_id: int | None = None) -> Iterator[RunEvent]:
        """The run's events after `last_event_id` (all when None), then live ones."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        yield from self._stream("GET", f"/api/runs/{run_id}/events", headers=headers)

    def _stream(self, method: str, path: str, **kwargs: Any) -> Iterator[RunEvent]:
        with connect_sse(self._http, method, path, **kwargs) as source:
            if source.response.status_code >= 400:
                raise _error(source.response, source.response.read())
            for sse in source.iter_sse():
                if not sse.id:  # not a run event (a `retry:` hint, say)
                    continue
                event = _event(sse)
                yield event
                if event.terminal:
                    return


class AsyncAgioClient:
    """Asynchronous client with the same calls as `AgioClient`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=_headers(api_key, token),
            timeout=httpx.Timeout(timeout, read=None),
            transport=transport,
        )

    async def __aenter__(self) -> AsyncAgioClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _error(response, response.content)
        return {} if response.status_code == 204 else _json_object(response)

    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/api/health")

    async def list_agents(
        self, *, limit: int = 20, offset: int = 0, tag: str | None = None
    ) -> dict[str, Any]:
        return await self._call(
            "GET", "/api/agents", params=_clean({"limit": limit, "offset": offset, "tag": tag})
        )

    async def get_agent(self, agent: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/agents/{agent}")

    async def create_agent(self, spec: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/api/agents", json=spec)

    async def delete_agent(self, agent: str) -> None:
        await self._call("DELETE", f"/api/agents/{agent}")

    async def chat(
        self, agent: str, message: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        return await self._call(
            "POST", "/api/chat", json=_chat_body(agent, message, session_id, user_id, False)
        )

    async def stream_chat(
        self, agent: str, message: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> AsyncIterator[RunEvent]:
        body = _chat_body(agent, message, session_id, user_id, True)
        async for event in self._stream("POST", "/api/chat", json=body):
            yield event

    async def get_run(self, run_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/runs/{run_id}")

    async def list_runs(self, **filters: Any) -> dict[str, Any]:
        return await self._call("GET", "/api/runs", params=_clean(filters))

    async def cancel_run(self, run_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/runs/{run_id}/cancel")

    async def decide(
        self,
        run_id: str,
        call_id: str,
        decision: str,
        *,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        return await self._call(
            "POST",
            f"/api/runs/{run_id}/approvals/{call_id}",
            json=_decision(decision, arguments, reason),
        )

    async def events(self, run_id: str, *, offset: int = 0, limit: int = 1000) -> dict[str, Any]:
        return await self._call(
            "GET", f"/api/runs/{run_id}/events", params={"offset": offset, "limit": limit}
        )

    async def stream_events(
        self, run_id: str, *, last_event_id: int | None = None
    ) -> AsyncIterator[RunEvent]:
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        async for event in self._stream("GET", f"/api/runs/{run_id}/events", headers=headers):
            yield event

    async def _stream(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[RunEvent]:
        async with aconnect_sse(self._http, method, path, **kwargs) as source:
            if source.response.status_code >= 400:
                raise _error(source.response, await source.response.aread())
            async for sse in source.aiter_sse():
                if not sse.id:  # not a run event (a `retry:` hint, say)
                    continue
                event = _event(sse)
                yield event
                if event.terminal:
                    return
