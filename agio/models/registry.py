"""Build a `Model` from a model component."""

from __future__ import annotations

from agio.config.components import ModelComponent
from agio.models.base import Model


def build_model(component: ModelComponent) -> Model:
    if component.provider == "scripted":
        from agio.models.scripted import ScriptedModel

        return ScriptedModel(component)
    if component.provider == "demo":
        from agio.models.demo import DemoModel

        return DemoModel(component)
    if component.provider == "anthropic":
        from agio.models.anthropic_provider import AnthropicModel

        return AnthropicModel(component)
    from agio.models.openai_provider import OpenAIModel

    return OpenAIModel(component)
