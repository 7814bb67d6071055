"""Approvals of tool calls (SPEC §11): the record of one call that waits for, or got, a
person's decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

#: who decides an approval that expired
EXPIRY_DECIDER = "system"
EXPIRED_REASON = "expired"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class Approval:
    id: str
    run_id: str
    call_id: str
    agent_id: str
    user_id: str | None
    tool: str
    #: the model's arguments
    args: dict[str, Any]
    requested_at: datetime
    expires_at: datetime
    decision: Decision | None = None
    #: the arguments the call runs with, when the decider changed them
    decided_args: dict[str, Any] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None

    @property
    def status(self) -> str:
        """pending, approved, rejected or expired."""
        if self.decision is None:
            return "pending"
        if self.decision is Decision.APPROVE:
            return "approved"
        return "expired" if self.decided_by == EXPIRY_DECIDER else "rejected"

    @property
    def arguments(self) -> dict[str, Any]:
        """What an approved call runs with."""
        return self.decided_args if self.decided_args is not None else self.args

    def rejection(self) -> str:
        """The tool result a rejected call gives the model."""
        reason = f": {self.reason}" if self.reason else ""
        return f"rejected by {self.decided_by}{reason}"
