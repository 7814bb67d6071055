"""`/v1/responses` with the official `openai` SDK (sync and async) against a live Agio,
on SQLite and PostgreSQL: background responses, streams resumed by `sequence_number`
(on the same server and on another one sharing the database), cancel, and
`previous_response_id`."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.api.openai_live import LiveAgio, live  # noqa: F401
from tests.fakes.fixtures import fake_openai  # noqa: F401
from tests.fakes.openai_server import StreamText
from tests.live import serve

SLOW_ANSWER = "The answer is forty-two, as the calculator says."


def wait_until_ended(client: openai.OpenAI, rid: str) -> Any:
    for _ in range(600):
        response = client.responses.retrieve(rid)
        if response.status not in ("queued", "in_progress"):
            return response
        time.sleep(0.05)
    raise AssertionError(f"{rid} did not end")


def dumped(events: list[Any]) -> list[dict[str, Any]]:
    return [event.model_dump(mode="json") for event in events]


def test_a_dropped_stream_resumes_exactly(live: LiveAgio, settings: Settings) -> None:  # noqa: F811
    client = live.sdk()
    created = client.responses.create(model="slow_agent", input="What is 6*7?", background=True)
    assert created.id.startswith("resp_")
    assert created.status in ("queued", "in_progress")
    assert created.background is True
    # read a few events, then drop the stream while the run goes on
    stream = client.responses.retrieve(created.id, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta" and len(seen) >= 6:
            break
    stream.close()
    k = seen[-1].sequence_number
    resumed = list(client.responses.retrieve(created.id, stream=True, starting_after=k))
    assert resumed[0].sequence_number == k + 1
    assert resumed[-1].type == "response.completed"
    # the whole stream, read again after the end, is the first part and the rest
    full = list(client.responses.retrieve(created.id, stream=True))
    assert [e.sequence_number for e in full] == list(range(len(full)))
    assert dumped(full) == dumped(seen) + dumped(resumed)
    types = [e.type for e in full]
    assert types[:2] == ["response.created", "response.in_progress"]
    text = "".join(e.delta for e in full if e.type == "response.output_text.delta")
    assert text == SLOW_ANSWER
    done = full[-1].response  # type: ignore[union-attr]
    assert done.status == "completed"
    assert done.output_text == SLOW_ANSWER
    assert done.usage is not None
    assert done.usage.total_tokens > 0
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.model_dump(mode="json") == done.model_dump(mode="json")
    # another server on the same database rebuilds the very same numbered events
    with serve(create_app(settings)) as other:
        replica = openai.OpenAI(base_url=f"{other}/v1", api_key=live.key, max_retries=0)
        again = list(replica.responses.retrieve(created.id, stream=True, starting_after=k))
        assert dumped(again) == dumped(resumed)


def test_a_resumed_stream_on_another_server_while_the_run_goes_on(
    live: LiveAgio,  # noqa: F811
    settings: Settings,
) -> None:
    client = live.sdk()
    created = client.responses.create(model="slow_agent", input="What is 6*7?", background=True)
    with client.responses.retrieve(created.id, stream=True) as stream:
        seen = []
        for event in stream:
            seen.append(event)
            if event.type == "response.output_text.delta":
                break
    k = seen[-1].sequence_number
    with serve(create_app(settings)) as other:
        replica = openai.OpenAI(base_url=f"{other}/v1", api_key=live.key, max_retries=0)
        resumed = list(replica.responses.retrieve(created.id, stream=True, starting_after=k))
    assert resumed[0].sequence_number == k + 1
    assert resumed[-1].type == "response.completed"
    full = list(client.responses.retrieve(created.id, stream=True))
    assert dumped(full) == dumped(seen) + dumped(resumed)


async def test_a_streamed_and_a_waited_response(live: LiveAgio) -> None:  # noqa: F811
    client = live.async_sdk()
    stream = await client.responses.create(model="slow_agent", input="6*7?", stream=True)
    events = [event async for event in stream]
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    waited = await client.responses.create(model="slow_agent", input="6*7?")
    assert waited.status == "completed"
    assert waited.output_text == SLOW_ANSWER
    assert waited.background is False


def test_cancel(live: LiveAgio) -> None:  # noqa: F811
    client = live.sdk()
    created = client.responses.create(model="slow_agent", input="6*7?", background=True)
    cancelled = client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert wait_until_ended(client, created.id).status == "cancelled"
    events = list(client.responses.retrieve(created.id, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.status == "cancelled"  # type: ignore[union-attr]
    with live.api() as api:  # the run is cancelled, like any other
        run = api.get("/api/runs/run_" + created.id.removeprefix("resp_")).json()
        assert run["status"] == "cancelled"
    with pytest.raises(openai.ConflictError) as again:
        client.responses.cancel(created.id)
    assert again.value.body["type"] == "invalid_request_error"  # type: ignore[index]


async def test_previous_response_id_continues_the_conversation(live: LiveAgio) -> None:  # noqa: F811
    live.fake.enqueue(StreamText(["Hello Ada."]), StreamText(["Your name is Ada."]))
    client = live.async_sdk()
    first = await client.responses.create(
        model="fake_agent", input="My name is Ada.", instructions="Be brief."
    )
    assert first.output_text == "Hello Ada."
    assert first.instructions == "Be brief."
    second = await client.responses.create(
        model="fake_agent", input="What is my name?", previous_response_id=first.id
    )
    assert second.output_text == "Your name is Ada."
    assert second.previous_response_id == first.id
    sent = live.fake.completions[1].body["messages"]
    # the first response's instructions were its own
    assert [(m["role"], m.get("content")) for m in sent] == [
        ("system", "Be exact."),
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
    ]


async def test_input_messages_and_store_false(live: LiveAgio) -> None:  # noqa: F811
    live.fake.enqueue(StreamText(["Blue."]))
    client = live.async_sdk()
    response = await client.responses.create(
        model="fake_agent",
        input=[
            {"role": "user", "content": "My favourite colour is blue."},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": [{"type": "input_text", "text": "Which colour?"}]},
        ],
        store=False,
    )
    assert response.output_text == "Blue."
    assert response.store is False
    sent = live.fake.completions[0].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.retrieve(response.id)
    assert caught.value.body["code"] == "response_not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(
            model="fake_agent", input="and?", previous_response_id=response.id
        )


def test_errors(live: LiveAgio) -> None:  # noqa: F811
    client = live.sdk()
    with pytest.raises(openai.NotFoundError) as bad_model:
        client.responses.create(model="no_such_agent", input="hi")
    assert bad_model.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert bad_model.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.retrieve("resp_nothing")
    assert missing.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        live.sdk("agio_wrong").responses.create(model="slow_agent", input="hi")
    with pytest.raises(openai.UnprocessableEntityError) as bad:
        client.responses.create(model="slow_agent", input="hi", background=True, store=False)
    assert bad.value.body["param"] == "store"  # type: ignore[index]
