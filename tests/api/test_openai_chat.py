"""`/v1/models` and `/v1/chat/completions` with the official `openai` SDK (sync and
async) against a live Agio, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.api.openai_live import LiveAgio, live  # noqa: F401
from tests.conftest import add_user, start_client
from tests.fakes.fixtures import fake_openai  # noqa: F401
from tests.fakes.openai_server import ErrorResponse, FakeToolCall, StreamText, StreamToolCalls


def tool_then_answer(live: LiveAgio, answer: list[str]) -> None:  # noqa: F811
    live.fake.enqueue(
        StreamToolCalls(
            calls=[FakeToolCall("call_1", "calculator", json.dumps({"expression": "6*7"}))],
            usage=(20, 9),
        ),
        StreamText(answer, usage=(40, 6)),
    )


def test_models_are_the_agents(live: LiveAgio) -> None:  # noqa: F811
    client = live.sdk()
    ids = [model.id for model in client.models.list()]
    assert {"fake_agent", "slow_agent", "assistant", "customer_support"} <= set(ids)
    model = client.models.retrieve("fake_agent")
    assert (model.id, model.object, model.owned_by) == ("fake_agent", "model", "agio")
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no_such_agent")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_a_completion_runs_the_agents_tools(live: LiveAgio) -> None:  # noqa: F811
    tool_then_answer(live, ["Six times seven ", "is 42."])
    raw = live.sdk().chat.completions.with_raw_response.create(
        model="fake_agent",
        messages=[
            {"role": "system", "content": "Answer in English."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "What is 6*7?"},
        ],
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == "fake_agent"
    assert completion.choices[0].message.content == "Six times seven is 42."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (60, 15)
    run_id = raw.headers["X-Agio-Run-ID"]
    assert completion.id == "chatcmpl-" + run_id.removeprefix("run_")
    # the model saw the agent's prompt, then the request's history, then the input
    first = live.fake.completions[0].body["messages"]
    assert [(m["role"], m.get("content")) for m in first] == [
        ("system", "Be exact."),
        ("system", "Answer in English."),
        ("user", "Hi"),
        ("assistant", "Hello! How can I help?"),
        ("user", "What is 6*7?"),
    ]
    # Agio ran the tool itself: the second call got its result
    second = live.fake.completions[1].body["messages"]
    assert second[-1]["role"] == "tool"
    assert json.loads(second[-1]["content"])["result"] == 42
    # the completion is an Agio run like any other, its tool activity in its log
    with live.api() as api:
        run = api.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "completed"
        assert run["agent_name"] == "fake_agent"
        events = api.get(f"/api/runs/{run_id}/events").json()["events"]
        assert "tool_call_completed" in [e["type"] for e in events]


def test_a_streamed_completion_ends_with_usage_and_done(live: LiveAgio) -> None:  # noqa: F811
    tool_then_answer(live, ["The answer ", "is ", "42."])
    stream = live.sdk().chat.completions.create(
        model="fake_agent",
        messages=[{"role": "user", "content": "What is 6*7?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The answer is 42."  # the answer only: no tool activity
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop"
    assert set(finish[:-1]) == {None}
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 75
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_the_raw_stream_ends_with_done(live: LiveAgio) -> None:  # noqa: F811
    live.fake.enqueue(StreamText(["Hello"]))
    with live.api() as api, api.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "fake_agent", "messages": [{"role": "user", "content": "hi"}],
              "stream": True},
    ) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["X-Agio-Run-ID"].startswith("run_")
        data = [line for line in response.iter_lines() if line.startswith("data:")]
    assert data[-1] == "data: [DONE]"
    last = json.loads(data[-2].removeprefix("data: "))
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"] is None


async def test_a_session_header_uses_the_servers_history(live: LiveAgio) -> None:  # noqa: F811
    live.fake.enqueue(StreamText(["Nice to meet you, Ada."]), StreamText(["You are Ada."]))
    client = live.async_sdk()
    first = await client.chat.completions.with_raw_response.create(
        model="fake_agent", messages=[{"role": "user", "content": "I am Ada."}]
    )
    session = first.headers["X-Agio-Session-ID"]
    second = await client.chat.completions.with_raw_response.create(
        model="fake_agent",
        # earlier messages in the request are not used when the session is named
        messages=[
            {"role": "user", "content": "ignored"},
            {"role": "user", "content": "Who am I?"},
        ],
        extra_headers={"X-Agio-Session-ID": session},
    )
    assert second.headers["X-Agio-Session-ID"] == session
    assert second.parse().choices[0].message.content == "You are Ada."
    sent = live.fake.completions[1].body["messages"]
    assert [(m["role"], m.get("content")) for m in sent] == [
        ("system", "Be exact."),
        ("user", "I am Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "Who am I?"),
    ]


async def test_async_streaming_with_a_scripted_tool_agent(live: LiveAgio) -> None:  # noqa: F811
    client = live.async_sdk()
    stream = await client.chat.completions.create(
        model="slow_agent", messages=[{"role": "user", "content": "6*7?"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "The answer is forty-two, as the calculator says."


def test_errors_have_openais_shape(live: LiveAgio) -> None:  # noqa: F811
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError) as not_found:
        live.sdk().chat.completions.create(model="no_such_agent", messages=messages)  # type: ignore[arg-type]
    assert not_found.value.body == {
        "message": "Agent 'no_such_agent' not found",
        "type": "invalid_request_error",
        "code": "model_not_found",
        "param": "model",
    }
    with pytest.raises(openai.AuthenticationError) as bad_key:
        live.sdk("agio_not_a_key").chat.completions.create(model="fake_agent", messages=messages)  # type: ignore[arg-type]
    assert bad_key.value.body["type"] == "authentication_error"  # type: ignore[index]
    assert bad_key.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError) as bad_body:
        live.sdk().chat.completions.create(model="fake_agent", messages=[])
    assert bad_body.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert bad_body.value.body["param"] == "messages"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError) as not_user:
        live.sdk().chat.completions.create(
            model="fake_agent", messages=[{"role": "assistant", "content": "hi"}]
        )
    assert not_user.value.body["param"] == "messages.0.role"  # type: ignore[index]
    with live.api() as api:
        json_type = {"Content-Type": "application/json"}
        for response in (
            api.get("/v1/nothing_here"),
            api.post("/v1/chat/completions", content=b"{not json", headers=json_type),
            api.get("/v1/models", headers={"X-API-Key": "", "Authorization": "Bearer nope"}),
        ):
            body = response.json()
            assert set(body) == {"error"}, body
            assert set(body["error"]) == {"message", "type", "code", "param"}, body


async def test_the_chat_rate_limit_applies(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_chat": "1/minute"}))
    client, lifespan = await start_client(app)
    try:
        body = {"model": "assistant", "messages": [{"role": "user", "content": "What is 2+2?"}]}
        first = await client.post("/v1/chat/completions", json=body)
        assert first.status_code == 200, first.text
        second = await client.post("/v1/chat/completions", json=body)
        assert second.status_code == 429
        assert second.json()["error"]["type"] == "rate_limit_error"
        assert second.json()["error"]["code"] == "rate_limit_exceeded"
        assert "Retry-After" in second.headers
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_a_viewer_may_list_models_but_not_run_them(client: httpx.AsyncClient) -> None:
    _, viewer = await add_user(client, "viewer")
    assert (await client.get("/v1/models", headers=viewer)).status_code == 200
    body = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}
    refused = await client.post("/v1/chat/completions", json=body, headers=viewer)
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "permission_error"


def test_a_failed_run_is_an_error_the_sdk_does_not_retry(live: LiveAgio) -> None:  # noqa: F811
    live.fake.enqueue(ErrorResponse(400, "the model refused", type="invalid_request_error"))
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=live.key, max_retries=2)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(
            model="fake_agent", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.body["type"] == "server_error"  # type: ignore[index]
    assert caught.value.status_code == 502  # the model failed: the server upstream
    assert caught.value.response.headers["x-should-retry"] == "false"
    run_id = caught.value.response.headers["X-Agio-Run-ID"]
    assert len(live.fake.completions) == 1  # one run, one model call: no retry
    with live.api() as api:
        assert api.get(f"/api/runs/{run_id}").json()["status"] == "failed"
    # streamed, the failure ends the stream with an error the SDK raises
    live.fake.enqueue(ErrorResponse(400, "the model refused", type="invalid_request_error"))
    stream = client.chat.completions.create(
        model="fake_agent", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)


def test_a_failed_response_says_so(live: LiveAgio) -> None:  # noqa: F811
    live.fake.enqueue(ErrorResponse(400, "the model refused", type="invalid_request_error"))
    response = live.sdk().responses.create(model="fake_agent", input="hi")
    assert response.status == "failed"
    assert response.error is not None
    assert response.error.code == "server_error"
    events = list(live.sdk().responses.retrieve(response.id, stream=True))
    assert events[-1].type == "response.failed"


def test_workflows_are_models_too(live: LiveAgio) -> None:  # noqa: F811
    """SPEC §20: a workflow is listed and run like an agent (the bundled `triage`)."""
    client = live.sdk()
    assert "triage" in {model.id for model in client.models.list()}
    assert client.models.retrieve("triage").id == "triage"
    raw = client.chat.completions.with_raw_response.create(
        model="triage", messages=[{"role": "user", "content": "What is 6*7?"}]
    )
    completion = raw.parse()
    assert "6*7 = 42" in (completion.choices[0].message.content or "")
    run = httpx.get(
        f"{live.url}/api/runs/{raw.headers['X-Agio-Run-ID']}",
        headers={"X-API-Key": live.key},
    ).json()
    assert run["agent_name"] == "triage"
    assert [c["agent_name"] for c in run["children"]] == ["assistant"]
