"""schema/inputs.py: input objects built with the per-type work done once must be what Strawberry builds.

Each value is converted twice: through the prepared hook, and by Strawberry's own `convert_argument` with the
hook taken off the type. An upgrade of Strawberry that changes what it builds fails here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import strawberry
from graphql import GraphQLInputObjectType, GraphQLNonNull, coerce_input_value
from strawberry.relay import GlobalID
from strawberry.types.arguments import convert_argument
from strawberry.types.unset import UNSET

from portal.schema import build_schema
from portal.schema.inputs import prepare_inputs
from tests.helpers import plausible_value


@contextmanager
def strawberry_own(cls: type) -> Iterator[None]:
    """The type without the prepared hook, for the time of the block."""
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    hook, definition.from_input = definition.from_input, None
    try:
        yield
    finally:
        definition.from_input = hook


def both_ways(schema: strawberry.Schema, cls: type, value: dict[str, Any]) -> tuple[Any, Any]:
    registry, config = schema.schema_converter.scalar_registry, schema.config
    prepared = convert_argument(dict(value), cls, registry, config)
    with strawberry_own(cls):
        own = convert_argument(dict(value), cls, registry, config)
    return prepared, own


def variants(input_type: GraphQLInputObjectType) -> list[dict[str, Any]]:
    """Every field; only the required ones; the optional ones as explicit nulls (as graphql-core coerces them)."""
    full = coerce_input_value(plausible_value(input_type, every_field=True), input_type)
    required = {n: v for n, v in full.items() if isinstance(input_type.fields[n].type, GraphQLNonNull)}
    nulls = {**required, **{n: None for n in full if n not in required}}
    return [full, required, nulls]


def test_every_input_type_of_the_schema_is_prepared_and_built_as_strawberry_builds_it() -> None:
    schema = build_schema()
    inputs = [
        (name, t) for name, t in schema._schema.type_map.items()
        if isinstance(t, GraphQLInputObjectType) and not name.startswith("__")
    ]
    assert {name for name, _ in inputs} >= {"SupportTicketInput", "ActivateAccountInput"}
    for name, input_type in inputs:
        cls = schema.get_type_by_name(name).origin  # type: ignore[union-attr]
        assert cls.__strawberry_definition__.from_input is not None, name
        for value in variants(input_type):
            prepared, own = both_ways(schema, cls, value)
            assert prepared == own, (name, value)
            assert type(prepared) is cls


class Kind(enum.Enum):
    FIRST = "first"
    SECOND = "second"


@strawberry.input
class Inner:
    count: int
    label: str | None = None


@strawberry.input
class Outer:
    """Every kind of field the hook meets: leaves it passes through, and what it hands back to Strawberry."""

    name: str
    kind: Kind = Kind.FIRST
    note: str | None = strawberry.UNSET
    inner: Inner | None = None
    items: list[Inner] = strawberry.field(default_factory=list)
    tags: list[str] | None = None
    node: GlobalID | None = None
    where: str | None = strawberry.field(default=None, name="placeName")
    remark: str | None  # no default: None when omitted


@strawberry.input
class WithMaybe:
    text: strawberry.Maybe[str]


@strawberry.type
class Query:
    @strawberry.field
    def outer(self, value: Outer) -> str:
        return value.name

    @strawberry.field
    def maybe(self, value: WithMaybe) -> str:
        return "ok"


@pytest.fixture(scope="module")
def own_schema() -> strawberry.Schema:
    schema = strawberry.Schema(query=Query)
    prepare_inputs(schema)
    return schema


@pytest.mark.parametrize(
    "value",
    [
        {"name": "a"},
        {"name": "a", "kind": Kind.SECOND, "note": None, "placeName": "двор"},
        {"name": "a", "note": "n", "inner": {"count": 1}, "items": [{"count": 2, "label": "x"}, {"count": 3}]},
        {"name": "a", "inner": None, "tags": ["x", "y"], "node": str(GlobalID("Outer", "5"))},
        {"name": "a", "tags": None, "node": None, "note": UNSET},
    ],
)
def test_nested_inputs_lists_and_global_ids_are_left_to_strawberry(own_schema: strawberry.Schema, value: Any) -> None:
    prepared, own = both_ways(own_schema, Outer, value)
    assert prepared == own
    if value.get("node"):
        assert prepared.node == GlobalID("Outer", "5")


def test_a_type_with_a_maybe_field_keeps_strawberrys_conversion_and_its_null_check(
    own_schema: strawberry.Schema,
) -> None:
    assert WithMaybe.__strawberry_definition__.from_input is None  # type: ignore[attr-defined]
    result = own_schema.execute_sync("{ maybe(value: {text: null}) }")
    assert result.errors and "null" in result.errors[0].message
