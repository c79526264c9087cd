"""A prepared execution for the commonest documents: one root field, plain fields below it.

Why: `query { me { id fullName email role } }` is what every page of the personal account asks first, and
graphql-core's general executor spent ~25 % of its CPU on it (BENCHMARKS.md, issue 21): per request it
looks the operation up, collects the selections of every level, builds a resolve info for every field and
walks the type wrappers of each. A plan does that walk once per document and keeps what it found; a
request then calls the root field's resolver (with the real resolve info, the edge's guard included) and
reads the plain fields below it. Every form's mutation has the same shape (`login(…) { __typename
... on LoginSuccess { … } ... on Error { message } }`), so it is planned too.

Planned are documents where it is cheap to be exactly right, and nothing else (`plan_for` answers None and
graphql-core runs the document as before):
- a query or a mutation with exactly one root field (nothing to run concurrently or in order);
- at the root field: any type but a list of a union or interface; a union or interface is resolved to its
  runtime type with the root's resolve info, and the inline fragments that apply to that type are taken in
  order (graphql-core's `complete_abstract_value` and `does_fragment_condition_match`);
- below it only Strawberry's plain attribute fields (no resolver, no arguments) and `__typename`, on object
  types without `is_type_of` (no interfaces), lists of them allowed, no response key twice;
- no named fragments and no directives anywhere (so the selections never depend on the variables);
- variables only in the root field's arguments, coerced as graphql-core coerces them; when they do not
  coerce, graphql-core runs the document and reports the errors (nothing has run yet).

What graphql-core does is done the same way: errors are located at their path, nulls propagate to the
nearest nullable field, and the messages are graphql-core's. `tests/test_graphql_plans.py` runs a corpus
through the plan and through graphql-core and fails on any difference; it also fails when Strawberry stops
marking its plain fields (`_is_default`, the one name used from outside a public API) and `me` is no longer
planned.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    get_nullable_type,
    is_list_type,
    located_error,
)
from graphql.execution import default_type_resolver
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.pyutils import Path, Undefined, inspect
from graphql.type import is_abstract_type, is_leaf_type, is_non_null_type, is_object_type
from graphql.utilities import get_operation_ast
from strawberry.types import ExecutionResult

TYPENAME = "__typename"


@dataclass(frozen=True, slots=True)
class Step:
    """One field of a planned selection: what to read, what type to complete it as, what to select below."""

    key: str  # the response key: the alias, else the field's name
    node: FieldNode
    parent: GraphQLObjectType
    type: GraphQLOutputType
    resolve: Callable[..., Any] | None  # None for `__typename`
    below: tuple[Step, ...]  # the object's fields, for an object (or a list of objects)
    variants: dict[str, tuple[Step, ...]] | None = None  # the root field's union or interface: by runtime type


@dataclass(frozen=True, slots=True)
class Plan:
    operation: OperationDefinitionNode
    root_type: GraphQLObjectType
    root: Step
    definition: GraphQLField


def plan_for(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Plan | None:
    """The plan of a valid document's operation, or None when graphql-core is to run it (see above)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation == OperationType.SUBSCRIPTION or operation.directives:
        return None
    if any(isinstance(d, FragmentDefinitionNode) for d in document.definitions):
        return None
    root_type = schema.get_root_type(operation.operation)
    selections = operation.selection_set.selections
    if root_type is None or len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    node = selections[0]
    definition = root_type.fields.get(node.name.value)
    if definition is None or node.directives:  # `__schema` and `__type` are not in `fields`: never planned
        return None
    named: Any = get_named_type(definition.type)
    decided_at_run = is_abstract_type(named) or (is_object_type(named) and named.is_type_of is not None)
    if decided_at_run and is_list_type(get_nullable_type(definition.type)):  # NonNull never wraps NonNull
        return None
    if is_abstract_type(named):
        if node.selection_set is None:
            return None
        variants = {}
        for possible in schema.get_possible_types(named):
            steps = _steps(schema, possible, node.selection_set)
            if steps is None:
                return None
            variants[possible.name] = steps
        root = Step(_key(node), node, root_type, definition.type, definition.resolve, (), variants)
    else:
        below = _selection(schema, named, node, root=True)
        if below is None:
            return None
        root = Step(_key(node), node, root_type, definition.type, definition.resolve, below)
    return Plan(operation, root_type, root, definition)


def _selection(schema: GraphQLSchema, named: Any, node: FieldNode, root: bool = False) -> tuple[Step, ...] | None:
    """The steps below `node` when all of them are plain; () for a leaf; None when any is not plain."""
    if is_leaf_type(named):
        return () if node.selection_set is None else None
    if not is_object_type(named) or node.selection_set is None or (named.is_type_of is not None and not root):
        return None  # below the root: no union or interface, no `is_type_of` (both want the resolve info)
    return _steps(schema, named, node.selection_set)


def _steps(schema: GraphQLSchema, object_type: GraphQLObjectType, selection_set: Any) -> tuple[Step, ...] | None:
    fields = _fields_on(schema, object_type, selection_set)
    if fields is None:
        return None
    steps = []
    keys = set()
    for selection in fields:
        if selection.arguments:
            return None
        key = _key(selection)
        if key in keys:  # the same key twice: graphql-core merges the two; not worth planning
            return None
        keys.add(key)
        name = selection.name.value
        if name == TYPENAME:
            steps.append(Step(key, selection, object_type, GraphQLNonNull(GraphQLString), None, ()))
            continue
        field = object_type.fields.get(name)
        if field is None or field.args or not getattr(field.resolve, "_is_default", False):
            return None  # a resolver of its own: it may await, read arguments or the resolve info
        below = _selection(schema, get_named_type(field.type), selection)
        if below is None:
            return None
        steps.append(Step(key, selection, object_type, field.type, field.resolve, below))
    return tuple(steps)


def _fields_on(schema: GraphQLSchema, object_type: GraphQLObjectType, selection_set: Any) -> list[FieldNode] | None:
    """The fields a selection set selects on `object_type`, in order, inline fragments that apply to it flattened
    (graphql-core's `does_fragment_condition_match`); None for a directive or a named fragment."""
    fields: list[FieldNode] = []
    for selection in selection_set.selections:
        if selection.directives:
            return None
        if isinstance(selection, FieldNode):
            fields.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            if selection.type_condition is not None:
                condition = schema.get_type(selection.type_condition.name.value)
                applies = condition is object_type or (
                    is_abstract_type(condition) and schema.is_sub_type(condition, object_type)
                )
                if not applies:
                    continue
            inner = _fields_on(schema, object_type, selection.selection_set)
            if inner is None:
                return None
            fields.extend(inner)
        else:
            return None
    return fields


async def run_plan(
    plan: Plan, schema: GraphQLSchema, context: Any, variables: dict[str, Any] | None, is_awaitable: Callable[..., bool]
) -> ExecutionResult | None:
    """Runs a planned operation; None (before anything ran) when its variables do not coerce."""
    coerced = get_variable_values(schema, plan.operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return None  # graphql-core reports these errors its own way
    step = plan.root
    path = Path(None, step.key, plan.root_type.name)
    errors: list[GraphQLError] = []
    try:
        try:
            arguments = get_argument_values(plan.definition, step.node, coerced) if step.node.arguments else {}
            info = GraphQLResolveInfo(
                step.node.name.value, [step.node], step.type, plan.root_type, path, schema, {}, None, plan.operation,
                coerced.coerced,  # type: ignore[arg-type]  # a plain dict, as Strawberry's execution context passes
                context,
                is_awaitable,  # type: ignore[arg-type]
                None,
                None,  # type: ignore[arg-type]  # no abort signal or async helpers: nothing of ours uses them
            )
            value = step.resolve(None, info, **arguments)  # type: ignore[misc]  # a root field always has one
            if is_awaitable(value):
                value = await value
            data = {step.key: await _complete_root(step, value, path, errors, info, is_awaitable)}
        except Exception as raw:  # noqa: BLE001 - a resolver's error is the field's error, as in graphql-core
            _field_error(raw, step, step.type, path, errors)
            data = {step.key: None}
    except GraphQLError as error:  # a non-null root field failed: no data at all
        errors.append(error)
        return ExecutionResult(data=None, errors=errors)
    return ExecutionResult(data=data, errors=errors or None)


async def _complete_root(
    step: Step, value: Any, path: Path, errors: list[GraphQLError], info: Any, is_awaitable: Any
) -> Any:
    """The root field's value: as below, except that a union or interface (or an object type's `is_type_of`)
    is decided here with the root's resolve info, as graphql-core's `complete_abstract_value` decides it."""
    inner: Any = step.type.of_type if isinstance(step.type, GraphQLNonNull) else step.type
    if step.variants is None and not (is_object_type(inner) and inner.is_type_of is not None):
        return _complete(step, step.type, value, path, errors)
    if isinstance(value, Exception):
        raise value
    completed = None
    if value is not None and value is not Undefined:
        object_type = inner
        if step.variants is not None:
            runtime: Any = (inner.resolve_type or default_type_resolver)(value, info, inner)
            if is_awaitable(runtime):
                runtime = await runtime
            object_type = _runtime_type(runtime, inner, step, info.schema, value)
        if object_type.is_type_of is not None:
            matches: Any = object_type.is_type_of(value, info)
            if is_awaitable(matches):
                matches = await matches
            if not matches:
                raise GraphQLError(f"Expected value of type '{object_type}' but got: {inspect(value)}.", [step.node])
        below = step.below if step.variants is None else step.variants[object_type.name]
        completed = _object(below, value, path, errors)
    if completed is None and isinstance(step.type, GraphQLNonNull):
        raise _null_in_non_null(step)
    return completed


def _runtime_type(name: Any, abstract: Any, step: Step, schema: GraphQLSchema, value: Any) -> GraphQLObjectType:
    """graphql-core's `ensure_valid_runtime_type`, with its messages."""
    field = f"{step.parent}.{step.node.name.value}"
    if name is None:
        message = (
            f"Abstract type '{abstract}' must resolve to an Object type at runtime for field '{field}'."
            f" Either the '{abstract}' type should provide a 'resolve_type' function"
            " or each possible type should provide an 'is_type_of' function."
        )
    elif not isinstance(name, str):
        message = (
            f"Abstract type '{abstract}' must resolve to an Object type at runtime for field '{field}' with value"
            f" {inspect(value)}, received '{inspect(name)}', which is not a valid Object type name."
        )
    elif (runtime := schema.get_type(name)) is None:
        message = f"Abstract type '{abstract}' was resolved to a type '{name}' that does not exist inside the schema."
    elif not is_object_type(runtime):
        message = f"Abstract type '{abstract}' was resolved to a non-object type '{name}'."
    elif not schema.is_sub_type(abstract, runtime):
        message = f"Runtime Object type '{runtime}' is not a possible type for '{abstract}'."
    else:
        return runtime
    raise GraphQLError(message, [step.node])


def _complete(step: Step, type_: GraphQLOutputType, value: Any, path: Path, errors: list[GraphQLError]) -> Any:
    """graphql-core's `complete_value` for the planned kinds: non-null, list, leaf and plain object."""
    if isinstance(value, Exception):
        raise value
    if isinstance(type_, GraphQLNonNull):
        completed = _complete(step, type_.of_type, value, path, errors)
        if completed is None:
            raise _null_in_non_null(step)
        return completed
    if value is None or value is Undefined:
        return None
    if isinstance(type_, GraphQLList):
        return _complete_list(step, type_, value, path, errors)
    if is_leaf_type(type_):
        coerced = type_.coerce_output_value(value)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{inspect(type_)}.coerce_output_value({inspect(value)})` to return non-nullable value,"
                f" returned: {inspect(coerced)}"
            )
        return coerced
    return _object(step.below, value, path, errors)


def _complete_list(step: Step, type_: GraphQLList[Any], value: Any, path: Path, errors: list[GraphQLError]) -> Any:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | dict):
        raise GraphQLError(
            f"Expected Iterable, but did not find one for field '{step.parent}.{step.node.name.value}'."
        )
    items = []
    for index, item in enumerate(value):
        item_path = path.add_key(index)
        try:
            items.append(_complete(step, type_.of_type, item, item_path, errors))
        except Exception as raw:  # noqa: BLE001 - as graphql-core: the item's error
            _field_error(raw, step, type_.of_type, item_path, errors)
            items.append(None)
    return items


def _object(steps: tuple[Step, ...], source: Any, path: Path, errors: list[GraphQLError]) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for step in steps:
        field_path = path.add_key(step.key, step.parent.name)
        if step.resolve is None:  # __typename
            answer[step.key] = step.parent.name
            continue
        try:
            answer[step.key] = _complete(step, step.type, step.resolve(source, None), field_path, errors)
        except Exception as raw:  # noqa: BLE001 - as graphql-core: the field's error
            _field_error(raw, step, step.type, field_path, errors)
            answer[step.key] = None
    return answer


def _field_error(raw: Exception, step: Step, type_: GraphQLOutputType, path: Path, errors: list[GraphQLError]) -> None:
    """graphql-core's `handle_field_error`: the error located at the field (an error already located below keeps
    its place); in a non-null position it goes up to the parent field, which handles it the same way."""
    error = located_error(raw, [step.node], path.as_list())
    if is_non_null_type(type_):
        raise error
    errors.append(error)


def _null_in_non_null(step: Step) -> TypeError:
    return TypeError(f"Cannot return null for non-nullable field {step.parent}.{step.node.name.value}.")


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value

