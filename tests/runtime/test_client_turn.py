"""A client's results for the calls handed back to it (`turn_messages`) and its thread's
session id (`thread_session_id`)."""

from __future__ import annotations

import re

import pytest

from agio.domain.errors import ValidationFailed
from agio.domain.messages import Message, ToolCall
from agio.runtime.client_turn import UNANSWERED, thread_session_id, turn_messages


def _history() -> list[Message]:
    calls = [
        ToolCall(id="c1", name="calculator", arguments={"expression": "1+1"}),
        ToolCall(id="c2", name="get_weather", arguments={"city": "Oslo"}),
        ToolCall(id="c3", name="confirm", arguments={}),
    ]
    return [
        Message.user("hi"),
        Message.assistant("both", calls),
        Message.tool(calls[0], "2"),  # the server's own call, answered by the run
    ]


def _result(call_id: str, content: str) -> Message:
    return Message(role="tool", content=content, tool_call_id=call_id)


def test_results_follow_the_model_s_order_and_take_the_tool_s_name() -> None:
    added = turn_messages(_history(), [_result("c3", "yes"), _result("c2", "snow")], "")
    assert [(m.tool_call_id, m.name, m.content) for m in added] == [
        ("c2", "get_weather", "snow"),
        ("c3", "confirm", "yes"),
    ]


def test_an_unanswered_call_gets_an_error_and_the_message_comes_last() -> None:
    added = turn_messages(_history(), [_result("c2", "snow")], "and now?")
    assert [(m.role, m.tool_call_id, m.content) for m in added] == [
        ("tool", "c2", "snow"),
        ("tool", "c3", UNANSWERED),
        ("user", None, "and now?"),
    ]


@pytest.mark.parametrize(
    "results",
    [
        [_result("c1", "again")],  # answered already, by the server
        [_result("nope", "x")],  # no such call
        [_result("c2", "a"), _result("c2", "b")],  # twice
    ],
)
def test_a_result_for_a_call_that_does_not_wait_is_refused(results: list[Message]) -> None:
    with pytest.raises(ValidationFailed):
        turn_messages(_history(), results, "")


def test_a_conversation_without_pending_calls_only_gets_the_message() -> None:
    history = [Message.user("hi"), Message.assistant("hello")]
    assert turn_messages(history, [], "more") == [Message.user("more")]
    with pytest.raises(ValidationFailed):
        turn_messages(history, [_result("c1", "x")], "")


def test_a_thread_s_session_is_its_own_per_caller_and_agent() -> None:
    one = thread_session_id("thread-1", "agt_a", "usr_a")
    assert re.fullmatch(r"ses_[0-9a-hjkmnp-tv-z]{26}", one)
    assert one == thread_session_id("thread-1", "agt_a", "usr_a")
    others = {
        thread_session_id("thread-2", "agt_a", "usr_a"),
        thread_session_id("thread-1", "agt_b", "usr_a"),
        thread_session_id("thread-1", "agt_a", "usr_b"),
        thread_session_id("thread-1", "agt_a", None),
    }
    assert one not in others
    assert len(others) == 4
