"""Every staff field and mutation, found in the schema itself, refuses anonymous and resident callers.

The list is generated from the schema: a field defined in `schema.staff`, or any root field whose result
can be `Forbidden`, must carry a role guard, and is then called with made-up arguments by an anonymous
caller (NotAuthenticated), a resident (Forbidden) and, for admin fields, a staff member (Forbidden).
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLField,
    GraphQLUnionType,
    get_named_type,
)

from portal.models.accounts import Role
from portal.schema import build_schema
from portal.schema.permissions import guarded_roles
from tests.helpers import plausible_value, sign_in

SCHEMA = build_schema()


def _staff_fields() -> list[tuple[str, str, GraphQLField, frozenset[Role]]]:
    found = []
    roots = [("query", SCHEMA._schema.query_type), ("mutation", SCHEMA._schema.mutation_type)]
    for operation, root in roots:
        assert root is not None
        for name, field in root.fields.items():
            definition = (field.extensions or {}).get("strawberry-definition")
            origin = getattr(getattr(definition, "origin", None), "__module__", "")
            result = get_named_type(field.type)
            can_be_forbidden = isinstance(result, GraphQLUnionType) and any(t.name == "Forbidden" for t in result.types)
            roles = guarded_roles(definition)
            if origin.startswith("portal.schema.staff") or can_be_forbidden or roles is not None:
                assert roles is not None, f"{operation} {name} is a staff field without a role guard"
                assert can_be_forbidden, f"{operation} {name} must return a union with NotAuthenticated and Forbidden"
                names = {t.name for t in result.types}  # type: ignore[union-attr]
                assert {"NotAuthenticated", "Forbidden"} <= names, name
                found.append((operation, name, field, roles))
    return found


STAFF_FIELDS = _staff_fields()


def _operation(operation: str, name: str, field: GraphQLField) -> tuple[str, dict[str, Any]]:
    """The field called with every argument (required or not) filled in with a plausible value."""
    declared = ", ".join(f"${a}: {arg.type}" for a, arg in field.args.items())
    passed = ", ".join(f"{a}: ${a}" for a in field.args)
    variables = {a: plausible_value(arg.type) for a, arg in field.args.items()}
    head = f"{operation}({declared})" if declared else operation
    call = f"{name}({passed})" if passed else name
    return f"{head} {{ {call} {{ __typename ... on Error {{ message }} }} }}", variables


def test_the_staff_surface_is_not_empty():
    names = {name for _, name, _, _ in STAFF_FIELDS}
    assert {"auditEvents", "setAccountRole", "eraseAccount", "exportAccountData"} <= names


@pytest.mark.parametrize(("operation", "name", "field", "roles"), STAFF_FIELDS, ids=[f[1] for f in STAFF_FIELDS])
async def test_staff_field_refuses_strangers(gql, make_account, operation, name, field, roles):
    query, variables = _operation(operation, name, field)

    anonymous = await gql(query, variables)
    assert anonymous[name] == {"__typename": "NotAuthenticated", "message": "Нужно войти в личный кабинет."}

    callers = [Role.RESIDENT] + [r for r in (Role.STAFF,) if r not in roles]
    for role in callers:
        account = await make_account(role=role)
        session = await sign_in(gql, account.email)
        answer = await gql(query, variables, headers={"Authorization": f"Bearer {session['accessToken']}",
                                                      "Accept-Language": "en"})
        assert answer[name] == {"__typename": "Forbidden", "message": "You are not allowed to do this."}, role
