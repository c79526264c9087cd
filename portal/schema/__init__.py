"""The GraphQL schema: one module per domain, merged into Query and Mutation here."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import AddValidationRules, MaskErrors, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.tools import merge_types

from portal.models.availability import is_unavailable
from portal.schema.edge import EdgeGuard
from portal.schema.errors import ERROR_TYPES, Error
from portal.schema.federation import FederationMutation, FederationQuery
from portal.schema.identity import IdentityMutation, IdentityQuery
from portal.schema.inputs import prepare_inputs
from portal.schema.limits import CACHE_SIZE, MAX_TOKENS, validation_rules
from portal.schema.passkeys import PasskeyMutation
from portal.schema.reset import ResetMutation
from portal.schema.residents import ResidentsMutation
from portal.schema.runner import Runner
from portal.schema.security import SecondFactorMutation, SecurityMutation
from portal.schema.staff import StaffMutation, StaffQuery
from portal.schema.support import SupportMutation, SupportQuery

log = logging.getLogger("portal.graphql")

QUERIES: tuple[type, ...] = (IdentityQuery, FederationQuery, SupportQuery, StaffQuery)
MUTATIONS: tuple[type, ...] = (
    IdentityMutation, ResetMutation, SecurityMutation, SecondFactorMutation, PasskeyMutation,
    FederationMutation, SupportMutation, StaffMutation, ResidentsMutation,
)


class MaskUnexpectedErrors(MaskErrors):
    """Expected failures are payload types; any exception here is a bug: tell the caller little
    (`PortalSchema.process_errors` has logged it)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Internal error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return _masked(error, _request_id(self.execution_context))


def _masked(error: GraphQLError, request_id: str | None) -> GraphQLError:
    masked = GraphQLError(
        "Internal error", nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
        extensions={"code": "INTERNAL_ERROR", "requestId": request_id},
    )
    # The caller sees nothing of it, but the HTTP layer still tells a lost database (503) from a bug.
    masked.original_error = error.original_error
    return masked


def mask_unexpected(errors: list[GraphQLError], request_id: str | None) -> list[GraphQLError]:
    """What `MaskUnexpectedErrors` does to a result's errors, for `runner.Runner`."""
    return [_masked(e, request_id) if _is_unexpected(e) else e for e in errors]


def _is_unexpected(error: GraphQLError) -> bool:
    """An exception raised while a field ran. Errors without a path (syntax, validation, a variable of the
    wrong type, even when a scalar's parser raised a plain ValueError) are the client's."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError) and error.path is not None


def _request_id(execution_context: Any) -> str | None:
    return getattr(getattr(execution_context, "context", None), "request_id", None)


class PortalSchema(strawberry.Schema):
    """Strawberry's default `process_errors` logs every error at ERROR with the document's source lines
    and the variables' values, a password included. Ours: a client's mistake is one INFO line with the
    request id and nothing of the document; only a bug is an ERROR (with its traceback and request id)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        request_id = _request_id(execution_context)
        for error in errors:
            if is_unavailable(error.original_error):
                continue  # not a bug: the HTTP layer answers 503 and logs it as one line
            if _is_unexpected(error):
                log.error("unexpected error in %s (request %s)", error.path, request_id, exc_info=error.original_error)
            else:
                log.info("client error in the GraphQL request (request %s)", request_id)


def build_runner(*, production: bool = False) -> Runner:
    """The schema with the runner that serves `/graphql` (schema/runner.py)."""
    return Runner(build_schema(production=production), validation_rules(production), mask_unexpected)


def build_schema(*, production: bool = False) -> strawberry.Schema:
    """`production` adds the no-introspection rule (the HTTP layer also drops GraphiQL and suggestions).

    Its extensions are Strawberry's way of running a request; `/graphql` runs them the same way with less
    work per request (schema/runner.py), and a test holds the two to the same answers."""
    rules = list(validation_rules(production))  # built once: the validation cache is keyed by these classes
    schema = PortalSchema(
        query=merge_types("Query", QUERIES),
        mutation=merge_types("Mutation", MUTATIONS),
        types=[Error, *ERROR_TYPES],
        extensions=[
            # Factories (fresh per request, as Strawberry 0.341 wants); the caches live at module level.
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: AddValidationRules(rules),
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
            MaskUnexpectedErrors,
            EdgeGuard,  # every root field's arguments, before its resolver (schema/edge.py)
        ],
    )
    prepare_inputs(schema)  # input objects built without per-request reflection (schema/inputs.py)
    return schema
