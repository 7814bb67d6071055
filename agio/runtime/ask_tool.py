"""`ask_<agent>`: the tool an agent gets for each agent it lists in `agents` (SPEC §20).
It only describes the call to the model: the tool step hands a call of it to the run's
`ChildCaller` (`agio.runtime.children`), which answers it with a child run."""

from __future__ import annotations

from typing import Any

ASK_PREFIX = "ask_"


def ask_tool_name(agent: str) -> str:
    return f"{ASK_PREFIX}{agent}"


class AskTool:
    """The description of `ask_<agent>`; never run itself (`run` refuses)."""

    timeout = 0.0  # unused: a child run takes as long as it takes (its own limits apply)

    def __init__(self, agent: str, description: str = "") -> None:
        self.agent = agent
        self.name = ask_tool_name(agent)
        about = f": {description}" if description else ""
        self.description = (
            f"Ask the agent '{agent}'{about}. It answers the message on its own (a run of "
            "its own) and its final answer is this tool's result."
        )
        self.parameters: dict[str, Any] = {
            "type": "object",
            "properties": {"message": {"type": "string", "description": f"What to ask '{agent}'."}},
            "required": ["message"],
            "additionalProperties": False,
        }

    async def run(self, arguments: dict[str, Any]) -> Any:
        raise RuntimeError("ask tools are answered by child runs, never run directly")
