"""Input objects built from graphql-core's coerced values with the per-type work done once (issue 21).

Why: Strawberry converts an input object on every request by reflection. For each field it camel-cases the
Python name, resolves the annotation and walks the type, to find in the end that a `str` stays a `str`. For
the support form that cost ~120 µs a ticket (measured in one process), about a tenth of the event loop's
work for a whole ticket. All of that depends on the type alone, so it is done once per type here. The hook
is the one Strawberry offers to integrations that build input values their own way,
`StrawberryObjectDefinition.from_input` (`strawberry.pydantic` uses it):

- a scalar or enum field (or an optional one) takes graphql-core's coerced value as it is, which is what
  Strawberry's `convert_argument` returns for a leaf (`None` and `UNSET` included);
- any other field (a list, a nested input, a `GlobalID`) is converted by Strawberry itself
  (`InputContext.convert`), with the same path;
- a field the client left out gets `None` when it has no default, as Strawberry does.

A type with a `Maybe` field is left to Strawberry: its validation rule for `Maybe` nulls skips the types that
set the hook. `tests/test_inputs.py` holds the result equal to Strawberry's own conversion for every input
type of the schema, so an upgrade that changes what Strawberry builds is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING
from typing import Any, NamedTuple

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryMaybe, StrawberryObjectDefinition, StrawberryOptional, StrawberryType
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition


class _Field(NamedTuple):
    graphql_name: str
    python_name: str
    type: StrawberryType | type
    leaf: bool  # the coerced value is the Python value


class _Prepared(NamedTuple):
    fields: tuple[_Field, ...]
    unset: dict[str, None]  # fields without a default: None unless the client sent them


def prepare_inputs(schema: strawberry.Schema) -> None:
    """Gives every input type of `schema` without a `Maybe` field the prepared conversion (idempotent)."""
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        if (
            isinstance(definition, StrawberryObjectDefinition)
            and definition.is_input
            and definition.from_input is None
            and not any(isinstance(f.type, StrawberryMaybe) for f in definition.fields)
        ):
            definition.from_input = _from_input


_PREPARED: dict[type, _Prepared] = {}


def _from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
    prepared = _PREPARED.get(cls) or _prepare(cls, context)
    kwargs: dict[str, Any] = dict(prepared.unset)
    for field in prepared.fields:
        if field.graphql_name in value:
            given = value[field.graphql_name]
            kwargs[field.python_name] = given if field.leaf else context.convert(given, field.type, field.graphql_name)
    return cls(**kwargs)


def _prepare(cls: type, context: InputContext) -> _Prepared:
    definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    fields = []
    for field in definition.fields:
        type_ = field.resolve_type(type_definition=definition)
        name = context.config.name_converter.from_field(field)
        fields.append(_Field(name, field.python_name, type_, _is_leaf(type_, context)))
    unset = {
        f.python_name: None for f in definition.fields if f.default_value is MISSING and f.default_factory is MISSING
    }
    _PREPARED[cls] = prepared = _Prepared(tuple(fields), unset)
    return prepared


def _is_leaf(type_: StrawberryType | type, context: InputContext) -> bool:
    """A scalar or an enum, optional or not (never a `Maybe`, a list or an input): Strawberry returns its coerced
    value unchanged. A `GlobalID` is a scalar Strawberry decodes, so it is not one of these."""
    if isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
        type_ = type_.of_type
    if isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_):
        return True
    if type_ is GlobalID or isinstance(type_, StrawberryType):  # a list, a `Maybe`, a lazy or generic type
        return False
    return is_scalar(type_, context.scalar_registry)
