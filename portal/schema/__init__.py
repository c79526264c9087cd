"""The GraphQL schema: one module per domain, merged into Query and Mutation here."""

from __future__ import annotations

import logging

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import AddValidationRules, MaskErrors, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.tools import merge_types

from portal.schema.errors import ERROR_TYPES, Error
from portal.schema.federation import FederationMutation, FederationQuery
from portal.schema.identity import IdentityMutation, IdentityQuery
from portal.schema.limits import CACHE_SIZE, MAX_TOKENS, validation_rules
from portal.schema.passkeys import PasskeyMutation
from portal.schema.reset import ResetMutation
from portal.schema.security import SecondFactorMutation, SecurityMutation
from portal.schema.staff import StaffMutation, StaffQuery
from portal.schema.support import SupportMutation, SupportQuery

log = logging.getLogger("portal.graphql")

QUERIES: tuple[type, ...] = (IdentityQuery, FederationQuery, SupportQuery, StaffQuery)
MUTATIONS: tuple[type, ...] = (
    IdentityMutation, ResetMutation, SecurityMutation, SecondFactorMutation, PasskeyMutation,
    FederationMutation, SupportMutation, StaffMutation,
)


class MaskUnexpectedErrors(MaskErrors):
    """Expected failures are payload types; any exception here is a bug: log it, tell the caller little."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Internal error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", None)
        log.error("unexpected error in %s (request %s)", error.path, request_id, exc_info=error.original_error)
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_ERROR", "requestId": request_id}
        return masked


def _is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def build_schema(*, production: bool = False) -> strawberry.Schema:
    """`production` adds the no-introspection rule (the HTTP layer also drops GraphiQL and suggestions)."""
    rules = list(validation_rules(production))  # built once: the validation cache is keyed by these classes
    return strawberry.Schema(
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
        ],
    )
