"""Every argument of every root field is checked at the edge, before its resolver (and so any query) runs.

The services check what they mean (an e-mail's form, a password's policy, a ticket number's pattern);
this is the backstop that holds for every field, including the next one: no string carries a lone
surrogate (no hash, mail header or database takes one) or a control character other than tab and line
breaks (PostgreSQL refuses NUL in text), and none is longer than the column it reaches (`LIMITS`, by
argument or input-field name; `DEFAULT_LIMIT` for free text). A caller's mistake gets the field's own
`ValidationError` where its result type has one, else `InvalidToken` where that is the door's one answer
to a bad token, `null` where the field is nullable ("null on any mismatch"), and otherwise a GraphQL
error with the code `BAD_USER_INPUT`: never a 500.

Every mutation stores a row (a session, a token, a ticket, a federated sign-in's state, an audit event),
so every mutation field is also throttled per client address here (`MUTATION_LIMITS`, by field name,
`DEFAULT_MUTATION_COUNT` a minute for the rest, the next field included), on top of the doors' own limits (per
account, per identifier, per address). A throttled call gets `TooManyAttempts` where its result type has
it, and otherwise a GraphQL error with the code `TOO_MANY_REQUESTS` and `retryAfterSeconds`.
See docs/hostile-input.md.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLNonNull,
    GraphQLUnionType,
    OperationDefinitionNode,
    OperationType,
)
from strawberry.extensions import SchemaExtension

from portal.core.errors import FieldCode, FieldProblem, Invalid
from portal.core.throttle import Limit
from portal.schema.errors import InvalidToken, error, too_many, validation_error

# The longest value each argument (or input field) may have: the column it reaches, or what the service
# reads (an identifier is typed with spaces and punctuation before it is normalised into its column).
LIMITS: dict[str, int] = {
    "number": 16,  # Ticket.number
    "accessKey": 200,
    "token": 200,
    "refreshToken": 200,
    "code": 200,
    "provider": 64,
    "returnTo": 2000,
    "accountId": 64,
    "staffAccountId": 64,
    "recoveryId": 64,
    "after": 100,
    "search": 200,
    "documents": 300,  # OwnershipVerification.documents
    "identifier": 400,
    "newEmail": 254,
    "reason": 500,
    "responseJson": 65_536,  # a passkey's JSON response (attestation included); the body limit bounds it anyway
}
# Passwords are compared exactly as typed and only ever hashed (never stored): any character but a lone
# surrogate is theirs, and the services refuse an over-long one (PASSWORD_TOO_LONG) before any hashing.
PASSWORD_FIELDS = frozenset(
    {"password", "newPassword", "newPasswordConfirmation", "currentPassword", "passwordConfirmation"}
)
DEFAULT_LIMIT = 10_000  # free text (descriptions, messages); the services hold tighter limits where they have one
# Calls per client address: a door's own stricter limits still apply inside (sign-in, reset, tickets).
MUTATION_LIMITS: dict[str, Limit] = {
    "startFederatedSignIn": Limit("mutation.startFederatedSignIn", 20, 60),
    "exchangeLoginCode": Limit("mutation.exchangeLoginCode", 20, 60),
    "refreshSession": Limit("mutation.refreshSession", 60, 60),
}


def mutation_limit(field: str, per_minute: int) -> Limit:
    """The field's own limit, else `per_minute` (PORTAL_MUTATIONS_PER_CLIENT_PER_MINUTE, 600 by default: 10 a
    second per field and address bounds the rows a stranger writes and spares addresses shared behind NAT)."""
    return MUTATION_LIMITS.get(field) or Limit(f"mutation.{field}", per_minute, 60)


_SURROGATE = re.compile(r"[\ud800-\udfff]")
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def problems_in(name: str, value: Any) -> Iterator[FieldProblem]:
    """The problems of one argument value, input objects and lists included (fields named as in GraphQL)."""
    if isinstance(value, str):
        password = name in PASSWORD_FIELDS
        if (_SURROGATE if password else _FORBIDDEN).search(value):
            yield FieldProblem(name, FieldCode.INVALID_CHARACTERS)
        limit = LIMITS.get(name, DEFAULT_LIMIT)
        if len(value) > limit and not password:
            yield FieldProblem(name, FieldCode.TOO_LONG, max=limit)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from problems_in(key, item)
    elif isinstance(value, list):
        for item in value:
            yield from problems_in(name, item)


def several_operations_without_a_name(document: DocumentNode) -> bool:
    """GraphQL spec, GetOperation(): a request error, nothing runs (Strawberry would run the first)."""
    return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1


def operation_name_required() -> GraphQLError:
    message = "Must provide operation name if query contains multiple operations."
    return GraphQLError(message, extensions={"code": "OPERATION_NAME_REQUIRED"})


def guard(_next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
    """graphql-core field middleware: a root field's arguments (as graphql-core coerced them) checked before
    its resolver runs, and every mutation throttled per client address."""
    if info.path.prev is not None:  # only root fields take the caller's arguments
        return _next(root, info, *args, **kwargs)
    problems = [p for name, value in kwargs.items() for p in problems_in(name, value)]
    if problems:
        return _refuse(info, problems)
    if info.operation.operation == OperationType.MUTATION:
        return _throttled(_next, root, info, *args, **kwargs)
    return _next(root, info, *args, **kwargs)


class EdgeGuard(SchemaExtension):
    """`guard` on every field, and a document of several operations without `operationName` refused."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # `operation_name` falls back to the first operation's name; what the caller sent is kept privately.
        if getattr(context, "_provided_operation_name", None) is None and document is not None:
            if several_operations_without_a_name(document):
                context.result = ExecutionResult(data=None, errors=[operation_name_required()])
        yield

    def resolve(self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        return guard(_next, root, info, *args, **kwargs)


def _can_answer(info: Any, type_name: str) -> bool:
    inner = info.return_type.of_type if isinstance(info.return_type, GraphQLNonNull) else info.return_type
    return isinstance(inner, GraphQLUnionType) and any(t.name == type_name for t in inner.types)


def _refuse(info: Any, problems: list[FieldProblem]) -> Any:
    if _can_answer(info, "ValidationError"):
        return validation_error(Invalid(problems), info.context.lang)
    if _can_answer(info, "InvalidToken"):  # a door that answers every bad token alike (e.g. confirmEmail)
        return error(InvalidToken, info.context.lang)
    if not isinstance(info.return_type, GraphQLNonNull):
        return None
    first = problems[0]
    raise GraphQLError(
        f"Invalid value for `{first.field}`: {first.code}.",
        extensions={"code": "BAD_USER_INPUT", "field": first.field, "reason": first.code},
    )


async def _throttled(_next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
    context = info.context
    limit = mutation_limit(info.field_name, context.rt.settings.mutations_per_client_per_minute)
    blocked = await context.rt.throttle.hit(limit, context.client.address)
    if blocked is not None:
        answer = too_many(blocked, context.lang)
        if _can_answer(info, "TooManyAttempts"):
            return answer
        raise GraphQLError(
            answer.message,
            extensions={"code": "TOO_MANY_REQUESTS", "retryAfterSeconds": answer.retry_after_seconds},
        )
    result = _next(root, info, *args, **kwargs)
    return await result if inspect.isawaitable(result) else result
