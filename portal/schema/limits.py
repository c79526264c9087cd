"""What a document may ask for: one sensitive field; bounded depth, aliases, tokens; no introspection in production.

The rule classes are built once per schema so the validation cache (keyed by the rule tuple) keeps hitting:
Strawberry's limiter extensions build a new rule class in every constructor, so a per-request
`lambda: QueryDepthLimiter(...)` would make every request a cache miss.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.language.visitor import SKIP
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

# Doors that take a secret or send a letter: at most one of them per request, so aliases, fragments
# and several operations in one document cannot multiply guesses. Named by field, so fields added by
# other modules are covered the moment they land.
SENSITIVE_FIELDS = frozenset(
    {"login", "refreshSession", "requestPasswordReset", "resetPassword", "submitSupportTicket", "exchangeLoginCode",
     # the resident's own security (issue 16): every door that takes a password, a code or a mailed token
     "verifySecondFactor", "finishPasskeySignIn", "changePassword", "requestEmailChange", "reauthenticate",
     "confirmEmail", "cancelEmailChange", "confirmTotpEnrollment"}
)

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000
CACHE_SIZE = 512  # parsed and validated documents kept (module-level LRU caches, shared by every request)


class OneSensitiveField(ValidationRule):
    """Refuses a document naming two or more sensitive root fields, counting aliases, fragments and operations."""

    def enter_document(self, node: DocumentNode, *_args: Any) -> Any:
        fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
        count = sum(
            _count_sensitive(d.selection_set, fragments, set())
            for d in node.definitions
            if isinstance(d, OperationDefinitionNode)
        )
        if count > 1:
            self.report_error(
                GraphQLError(
                    f"Only one of {', '.join(sorted(SENSITIVE_FIELDS))} may be sent per request ({count} found).",
                    extensions={"code": "ONE_SENSITIVE_FIELD_PER_REQUEST"},
                )
            )
        return SKIP


def _count_sensitive(
    selections: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode], seen: set[str]
) -> int:
    """Root fields only (`me { login }` is a plain field); fragments followed once, cycles harmless."""
    if selections is None:
        return 0
    count = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            count += selection.name.value in SENSITIVE_FIELDS
        elif isinstance(selection, InlineFragmentNode):
            count += _count_sensitive(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = fragments.get(selection.name.value)
            count += _count_sensitive(fragment.selection_set if fragment else None, fragments, seen)
    return count


def validation_rules(production: bool) -> tuple[type[ASTValidationRule], ...]:
    """Our rules on top of the specification's, built once (stable classes keep the validation cache warm)."""
    rules: list[type[ASTValidationRule]] = [
        OneSensitiveField,
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


_CODES = (
    (re.compile(r"exceeds maximum operation depth"), "QUERY_TOO_DEEP"),
    (re.compile(r"aliases found\. Allowed"), "TOO_MANY_ALIASES"),
    (re.compile(r"Document contains more than \d+ tokens"), "TOO_MANY_TOKENS"),
    (re.compile(r"introspection .*(disabled|not allowed)", re.IGNORECASE), "INTROSPECTION_DISABLED"),
)
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def error_code(message: str) -> str | None:
    """A stable code for the limit errors graphql-core and Strawberry report as plain messages."""
    for pattern, code in _CODES:
        if pattern.search(message):
            return code
    return None


def without_suggestions(message: str) -> str:
    """Production: "Cannot query field 'logn'. Did you mean 'login'?" loses the hint about the schema."""
    return _SUGGESTION.sub("", message)
