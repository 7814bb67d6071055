"""The vocabulary of dependencies that routers use (`Annotated[..., Depends(...)]`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from agio.api.container import Container
from agio.services.components import ComponentService

IDENTIFIER_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"


def get_container(request: Request) -> Container:
    container: Container = request.app.state.agio
    return container


def get_components(request: Request) -> ComponentService:
    return get_container(request).components


def get_actor() -> str:
    """Who makes a change, for the history. Authentication will supply the principal."""
    return "api"


ContainerDep = Annotated[Container, Depends(get_container)]
ComponentsDep = Annotated[ComponentService, Depends(get_components)]
ActorDep = Annotated[str, Depends(get_actor)]

Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
AgentKey = Annotated[
    str,
    Path(pattern=IDENTIFIER_PATTERN, description="The agent's id (`agt_…`) or its name."),
]
ComponentName = Annotated[
    str, Path(pattern=IDENTIFIER_PATTERN, description="The component's name.")
]
RunIdPath = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="The run's id.")]
