"""Starting the run of a `/v1` request: as `POST /api/chat` does, for the caller."""

from __future__ import annotations

from typing import Any

from agio.api.container import Container
from agio.bus.base import Subscription
from agio.domain.messages import Message
from agio.domain.runs import MultitaskStrategy, Run
from agio.domain.security import Principal


async def start_run(
    container: Container,
    who: Principal,
    agent: str,
    message: str,
    *,
    session_id: str | None,
    history: list[Message] | None,
    instructions: str | None = None,
    stream: bool,
    options: dict[str, Any] | None = None,
) -> tuple[Run, Subscription | None]:
    """Start a run as `POST /api/chat` does, for the caller (its quotas and the message
    limit first); with `stream`, its subscription, made before the run can publish.
    `options`: stored as the run's `response_options` with its creation."""
    runs = container.run_service
    subscriptions: list[Subscription] = []

    def before_launch(run: Run) -> None:
        if options is not None:
            container.run_manager.annotate(run.id, response_options=options)
        if stream:
            subscriptions.append(runs.subscribe(run.id))

    runs.check_message(message)
    await runs.check_run_quota(who.user_id)
    try:
        run = await container.run_manager.start_chat(
            agent,
            message,
            session_id=session_id,
            user_id=who.user_id,
            session_visible_to=None if who.is_admin else who.user_id,
            before_launch=before_launch,
            strategy=MultitaskStrategy(container.settings.multitask_strategy),
            history=history,
            instructions=instructions,
        )
    except BaseException:
        for subscription in subscriptions:
            subscription.close()
        raise
    return run, subscriptions[0] if subscriptions else None
