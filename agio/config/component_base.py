"""What every component schema shares: slugs, secrets, strictness, the common fields.
(A module of its own so that `agio.config.workflows` and `agio.config.components` both
build on it.)"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

MASK = "********"
SLUG_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
_SLUG = re.compile(SLUG_PATTERN)

Slug = Annotated[
    str,
    Field(
        pattern=SLUG_PATTERN,
        description="Lower-case letters, digits, `_` and `-`; starts with a letter; ≤ 64 chars.",
        examples=["customer_support"],
    ),
]


def is_slug(value: str) -> bool:
    return bool(_SLUG.fullmatch(value))


def _serialise_secret(value: SecretStr, info: SerializationInfo) -> str:
    if info.context and info.context.get("reveal_secrets"):
        return value.get_secret_value()
    return MASK


SecretValue = Annotated[
    SecretStr,
    PlainSerializer(_serialise_secret, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "password",
            "description": f"Secret: always returned as `{MASK}`. Send `{MASK}` to keep it.",
        }
    ),
]


def reject_nul(value: Any, depth: int = 0) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif depth < 32 and isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, depth + 1)
            reject_nul(item, depth + 1)
    elif depth < 32 and isinstance(value, list):
        for item in value:
            reject_nul(item, depth + 1)


class Strict(BaseModel):
    """Unknown fields are errors (no mass assignment); NUL characters are refused,
    since PostgreSQL cannot store them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        reject_nul(data)
        return data


class ComponentBase(Strict):
    """Fields every component has."""

    name: Slug
    description: str = Field(default="", max_length=2000)
    enabled: bool = True
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32
    )

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))
