"""Approvals of tool calls (SPEC §11)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from agio.domain.approvals import Approval


class ApprovalOut(BaseModel):
    run_id: str
    call_id: str
    agent_id: str
    tool: str
    args: dict[str, Any] = Field(description="The arguments the model gave.")
    status: Literal["pending", "approved", "rejected", "expired"]
    decision: Literal["approve", "reject"] | None = None
    arguments: dict[str, Any] = Field(
        description="What an approved call runs with: the decider's arguments, if given, "
        "else the model's."
    )
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    requested_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, a: Approval) -> ApprovalOut:
        return cls(
            run_id=a.run_id,
            call_id=a.call_id,
            agent_id=a.agent_id,
            tool=a.tool,
            args=a.args,
            status=a.status,
            decision=a.decision.value if a.decision else None,
            arguments=a.arguments,
            decided_by=a.decided_by,
            decided_at=a.decided_at,
            reason=a.reason,
            requested_at=a.requested_at,
            expires_at=a.expires_at,
        )


class ApprovalList(BaseModel):
    items: list[ApprovalOut]


class DecisionRequest(BaseModel):
    model_config = {"extra": "forbid"}

    decision: Literal["approve", "reject"]
    arguments: dict[str, Any] | None = Field(
        default=None,
        description="With `approve`: the arguments the call runs with instead of the "
        "model's, checked against the tool's JSON schema.",
    )
    reason: str | None = Field(default=None, max_length=2000)
