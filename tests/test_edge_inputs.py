"""docs/security.md #59: every value a stranger sends is checked at the edge; no input yields INTERNAL_ERROR.

Generated from the built schema: every String, ID and Int argument of every root Query and Mutation field
(and every such field of an input object) gets its boundary values (empty, one past its limit, huge
numbers, lone surrogates, control characters, an over-long ticket number, cursors beyond 64 bits) while
the other arguments keep plausible values, as an anonymous caller, a resident, staff and an admin.
Every answer must be typed (a payload, or errors that each carry a code), never a 5xx or INTERNAL_ERROR,
and nothing may be logged at ERROR.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
)

from portal.models.accounts import Role
from portal.schema import build_schema
from portal.schema.edge import DEFAULT_LIMIT, LIMITS
from portal.support.paging import encode_cursor
from tests.helpers import PUBLIC_URL, new_address, plausible_value, sign_in

SCHEMA = build_schema()._schema
STRING_EDGES = ["", "\x00", "a\x1fb", "\u202e\u0000", "2026-000000000001", "9" * 40, "\ud800", "x\udfffy"]
INT_EDGES = [0, -1, 2**31 - 1, -(2**31), 2**31, 2**63, 10**30]
CURSORS = [encode_cursor(kind, value) for kind in ("ticket", "audit") for value in (2**63, 2**64, 10**30)]


def edges(name: str, gtype: Any) -> list[Any]:
    named = get_named_type(gtype)
    if not isinstance(named, GraphQLScalarType):
        return []
    if named.name == "Int":
        return INT_EDGES
    if named.name not in ("String", "ID"):
        return []
    limit = LIMITS.get(name, DEFAULT_LIMIT)
    values = [*STRING_EDGES, "x" * (limit + 1), "ж" * (limit + 1)]
    return values + CURSORS if name == "after" else values


def selection(gtype: Any) -> str:
    named = get_named_type(gtype)
    if isinstance(named, GraphQLUnionType | GraphQLInterfaceType):
        return " { __typename ... on Error { message } }"
    if isinstance(named, GraphQLObjectType):
        return " { __typename }"
    return ""


def cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(id, document, variables) for every boundary value of every argument of every root field."""
    found = []
    for operation, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            found.extend(_field_cases(operation, name, field))
    return found


def _field_cases(operation: str, name: str, field: GraphQLField) -> list[tuple[str, str, dict[str, Any]]]:
    if not field.args:
        return []
    declared = ", ".join(f"${a}: {arg.type}" for a, arg in field.args.items())
    passed = ", ".join(f"{a}: ${a}" for a in field.args)
    document = f"{operation}({declared}) {{ {name}({passed}){selection(field.type)} }}"
    base = {a: plausible_value(arg.type) for a, arg in field.args.items()}
    found = []
    for arg_name, arg in field.args.items():
        named = get_named_type(arg.type)
        if isinstance(named, GraphQLInputObjectType):
            for input_name, input_field in named.fields.items():
                for i, value in enumerate(edges(input_name, input_field.type)):
                    variables = {**base, arg_name: {**base[arg_name], input_name: value}}
                    found.append((f"{name}.{arg_name}.{input_name}#{i}", document, variables))
            continue
        for i, value in enumerate(edges(arg_name, arg.type)):
            wrapped = [value] if isinstance(get_named_type(arg.type), GraphQLList) else value
            found.append((f"{name}.{arg_name}#{i}", document, {**base, arg_name: wrapped}))
    return found


CASES = cases()


def test_the_generated_cases_cover_the_known_doors():
    names = {case_id.split(".")[0] for case_id, _, _ in CASES}
    assert {"login", "supportTicket", "supportTickets", "auditEvents", "submitSupportTicket", "resetPassword"} <= names
    assert len(CASES) > 300


def assert_typed(response: httpx.Response, case_id: str) -> None:
    assert response.status_code < 500, (case_id, response.status_code, response.text[:500])
    assert "INTERNAL_ERROR" not in response.text, (case_id, response.text[:500])
    body = response.json()
    for error in body.get("errors") or []:
        assert (error.get("extensions") or {}).get("code"), (case_id, error)
    if response.status_code == 200 and not body.get("errors"):
        assert body["data"] is not None, case_id


@pytest.mark.parametrize(
    "role", [None, Role.RESIDENT, Role.STAFF, Role.ADMIN], ids=["anonymous", "resident", "staff", "admin"]
)
async def test_every_argument_gets_a_typed_answer_at_its_boundaries(app, gql, make_account, caplog, role):
    headers = {"Accept-Language": "en"}
    if role is not None:
        account = await make_account(role=role)
        headers["Authorization"] = f"Bearer {(await sign_in(gql, account.email))['accessToken']}"
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app, client=(new_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, headers=headers) as c:
        for case_id, document, variables in CASES:
            # ensure_ascii: lone surrogates travel as JSON escapes; the raw-byte form is sent below.
            body = json.dumps({"query": document, "variables": variables}).encode()
            response = await c.post("/graphql", content=body, headers={"Content-Type": "application/json"})
            assert_typed(response, case_id)
        # Raw lone-surrogate bytes (ED A0 80) inside a JSON string: refused before any resolver.
        raw = b'{"query": "mutation { login(identifier: \\"a\xed\xa0\x80b\\", password: \\"x\\") { __typename } }"}'
        refused = await c.post("/graphql", content=raw, headers={"Content-Type": "application/json"})
        assert refused.status_code == 400 and refused.json()["errors"][0]["extensions"]["code"] == "INVALID_JSON"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors[:5]]


async def test_several_unnamed_operations_get_the_specs_error_and_run_nothing(client):
    document = "query A { me { id } } mutation B { logout { __typename } }"
    response = await client.post("/graphql", json={"query": document})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "OPERATION_NAME_REQUIRED" and "operation name" in error["message"]
    named = await client.post("/graphql", json={"query": document, "operationName": "A"})
    assert named.status_code == 200 and named.json()["data"] == {"me": None}


async def test_an_over_long_ticket_number_and_a_huge_cursor_are_typed_answers(client, gql, make_account):
    lookup = await client.post(
        "/graphql",
        json={
            "query": 'query($n: String!) { supportTicket(number: $n, accessKey: "k") { number } }',
            "variables": {"n": "2026-000000000001"},
        },
    )
    assert lookup.status_code == 200 and lookup.json()["data"]["supportTicket"] is None
    admin = await make_account(role=Role.ADMIN)
    token = (await sign_in(gql, admin.email))["accessToken"]
    query = """query($a: String) { auditEvents(after: $a) { __typename ... on ValidationError { fields { field code } } } }"""
    answer = await gql(query, {"a": encode_cursor("audit", 2**64)}, headers={"Authorization": f"Bearer {token}"})
    assert answer["auditEvents"] == {
        "__typename": "ValidationError",
        "fields": [{"field": "after", "code": "INVALID_CURSOR"}],
    }
