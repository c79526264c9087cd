"""Runs one GraphQL operation: Strawberry's pipeline with what it does per request done once per document.

Why: for a small document Strawberry's `Schema.execute` cost three to four times the execution itself (`me`:
~160 µs against ~46 µs for graphql-core's `execute` of the same parsed document, measured in one process):
six extension instances built per request, and their hooks entered and left around parsing, validation and
execution. Here the same steps run in the same order with the same outcomes:

1. parse, at most `MAX_TOKENS` tokens (Strawberry's MaxTokensLimiter), and validate with the specification's
   rules, Strawberry's own and ours (`validation_rules`): both cached by the document's text, errors included;
2. the operation picked as Strawberry picks it (`CannotGetOperationTypeError`, `InvalidOperationTypeError`);
3. several operations and no `operationName`: refused (`EdgeGuard.on_execute`);
4. an operation of one root field with plain fields below it (`me`, every form's mutation) runs its prepared
   plan (schema/plans.py); any other operation runs on graphql-core with Strawberry's resolve info, `edge.guard`
   wrapped around each root field: on graphql-core's plain `Executor`, not the `IncrementalExecutor`
   Strawberry's class extends, since the schema has no `@defer` or `@stream` (~5 µs of `me`'s ~40 in one
   process);
5. errors logged by `PortalSchema.process_errors`, then unexpected ones masked (`MaskUnexpectedErrors`).

Strawberry's own `schema.execute` with the extensions `build_schema` lists remains the reference:
`tests/test_graphql_runner.py` runs a corpus of documents through both and fails on any difference, so a
Strawberry or graphql-core upgrade that changes either side is caught. The few names used from outside
Strawberry's public API (`_schema`, `validate_document`, `DEFAULT_ALLOWED_OPERATION_TYPES`,
`StrawberryGraphQLCoreExecutionContext.build_resolve_info`) are all in this module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLError, default_field_resolver, execute, parse
from graphql.execution import Executor
from graphql.validation import specified_rules
from strawberry.exceptions import MissingQueryError
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import (
    DEFAULT_ALLOWED_OPERATION_TYPES,
    StrawberryGraphQLCoreExecutionContext,
    validate_document,
)
from strawberry.types import ExecutionResult
from strawberry.utils.await_maybe import await_maybe
from strawberry.utils.operation import get_operation_type

from portal.schema.edge import guard, operation_name_required, several_operations_without_a_name
from portal.schema.limits import CACHE_SIZE, MAX_TOKENS
from portal.schema.plans import Plan, plan_for, run_plan

Mask = Callable[[list[GraphQLError], str | None], list[GraphQLError]]


class Runner:
    def __init__(self, schema: strawberry.Schema, rules: tuple[Any, ...], mask: Mask) -> None:
        self.schema = schema
        self._core = schema._schema
        self._rules = (*specified_rules, *rules)
        self._mask = mask  # the errors as the caller may see them, given the request's id
        self._is_awaitable: Any = optimized_is_awaitable  # typed as a plain bool predicate; Strawberry passes it too
        # The document's text -> the parsed document and its validation errors; a document that does not
        # parse raises and is not kept (lru_cache keeps no exception).
        self.prepared = lru_cache(maxsize=CACHE_SIZE)(self._prepare)
        # (text, operation name) of a valid document -> its plan, or None for graphql-core (schema/plans.py).
        self.planned = lru_cache(maxsize=CACHE_SIZE)(self._plan)
        # The edge checks belong to root fields only: wrapped into their resolvers once, here, instead of a
        # graphql-core middleware that wraps every field of every request. The schema is this runner's own
        # (`build_runner` builds it), so Strawberry's reference path keeps its untouched copy.
        for root in (self._core.query_type, self._core.mutation_type):
            for field in root.fields.values() if root else ():
                field.resolve = _guarded(field.resolve or default_field_resolver)

    async def execute(
        self, query: str, variables: dict[str, Any] | None, context: Any, operation_name: str | None
    ) -> ExecutionResult:
        if not query:
            raise MissingQueryError
        try:
            document, problems = self.prepared(query)
        except GraphQLError as error:  # syntax, or more than MAX_TOKENS tokens
            return self._answer(None, [error], context)
        try:
            operation_type = get_operation_type(document, operation_name)
        except RuntimeError as error:
            raise CannotGetOperationTypeError(operation_name) from error
        if operation_type not in DEFAULT_ALLOWED_OPERATION_TYPES:  # a subscription then fails validation
            raise InvalidOperationTypeError(operation_type)
        if problems:
            return self._answer(None, problems, context)
        if operation_name is None and several_operations_without_a_name(document):
            return self._answer(None, [operation_name_required()], context)
        plan = self.planned(query, operation_name)
        if plan is not None:
            planned = await run_plan(plan, self._core, context, variables, self._is_awaitable)
            if planned is not None:
                return self._answer(planned.data, planned.errors, context)
        result = await await_maybe(
            execute(
                self._core, document, context_value=context, variable_values=variables, operation_name=operation_name,
                is_awaitable=self._is_awaitable, executor_class=_Executor,
            )
        )
        return self._answer(result.data, result.errors, context)

    def _prepare(self, query: str) -> tuple[DocumentNode, list[GraphQLError]]:
        document = parse(query, max_tokens=MAX_TOKENS)
        return document, validate_document(self._core, document, self._rules)

    def _plan(self, query: str, operation_name: str | None) -> Plan | None:
        return plan_for(self._core, self.prepared(query)[0], operation_name)

    def _answer(self, data: Any, errors: list[GraphQLError] | None, context: Any) -> ExecutionResult:
        if errors:
            self.schema.process_errors(errors, _Logged(context))  # type: ignore[arg-type]  # it reads `.context`
            errors = self._mask(errors, getattr(context, "request_id", None))
        return ExecutionResult(data=data, errors=errors or None)


def _guarded(resolve: Callable[..., Any]) -> Callable[..., Any]:
    def resolver(root: Any, info: Any, **kwargs: Any) -> Any:
        return guard(resolve, root, info, **kwargs)

    return resolver


class _Executor(Executor):  # type: ignore[type-arg]
    """graphql-core's executor without incremental delivery, handing resolvers Strawberry's resolve info
    (the plain dict of variables, the operation's extensions) as Strawberry's own class does."""

    operation_extensions = None
    build_resolve_info = StrawberryGraphQLCoreExecutionContext.build_resolve_info


class _Logged:
    """What `PortalSchema.process_errors` reads of Strawberry's execution context: the request's context."""

    def __init__(self, context: Any) -> None:
        self.context = context
