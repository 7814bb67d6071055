"""Shared shapes: the error envelope, paginated lists, and limits the settings decide."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

T = TypeVar("T")

LIMIT_FROM_SETTING = "x-agio-max-length-setting"


def max_length_from_setting(setting: str) -> dict[str, Any]:
    """`json_schema_extra` for a text field whose maximum length is the setting `setting`
    (enforced where the request is handled, from the app's settings): the app's OpenAPI
    document states that setting's value as the field's `maxLength` (agio/api/openapi.py).
    """
    return {LIMIT_FROM_SETTING: setting}


class ErrorBody(BaseModel):
    type: str = Field(description="Stable name of the kind of error, e.g. `AgentNotFound`.")
    message: str
    path: str
    request_id: str
    details: list[dict[str, Any]] | None = Field(
        default=None, description="For validation errors: one entry per problem (`loc`, `msg`)."
    )


class ErrorEnvelope(BaseModel):
    """Every error response has this shape."""

    error: ErrorBody


class Paginated(BaseModel, Generic[T]):
    total: int
    items: list[T]
    limit: int
    offset: int
    has_more: bool

    @classmethod
    def of(cls, items: list[T], total: int, limit: int, offset: int) -> Paginated[T]:
        """A page of `items` out of `total`, at `offset`."""
        return cls(
            total=total,
            items=items,
            limit=limit,
            offset=offset,
            has_more=offset + len(items) < total,
        )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries that document the error envelope for `codes`."""
    descriptions = {
        400: "Bad request",
        401: "Not authenticated",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Payload too large",
        415: "Unsupported media type",
        422: "Validation error",
        429: "Rate limited",
        500: "Internal server error",
        502: "An upstream service (a model) failed",
        503: "Service unavailable",
    }
    return {
        code: {"model": ErrorEnvelope, "description": descriptions.get(code, "Error")}
        for code in codes
    }


def json_integer(value: Any) -> Any:
    """A JSON integer as JSON Schema has it (`5`, `5.0`), never `true` or `"5"`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def json_number(value: Any) -> Any:
    """A JSON number (`1`, `0.5`), never `true` or `"0.5"`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


#: request-body numbers: what JSON Schema's `integer` and `number` admit, and no more;
#: last in the field's `Annotated[int, Field(ge=…), JSON_INT]`, so that the constraints
#: stay on the number (and in the OpenAPI document as `minimum`/`maximum`)
JSON_INT = BeforeValidator(json_integer)
JSON_NUMBER = BeforeValidator(json_number)
