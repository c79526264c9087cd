"""`/graphql` runs documents through `schema/runner.py`, not Strawberry's `Schema.execute`: the two must give the
same answer for every kind of document, in development and in production. This test fails when either
side changes (a Strawberry or graphql-core upgrade, a new extension in `build_schema`, a change to the runner)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import strawberry

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.schema import build_runner, build_schema
from portal.schema.context import Context
from portal.schema.runner import Runner

DEEP = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }"
ALIASES = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(20)) + " }"
RESET = 'requestPasswordReset(identifier: "x") { __typename }'

# (document, variables, operationName): every path a document can take through the pipeline.
CORPUS: list[tuple[str, dict[str, Any] | None, str | None]] = [
    ("{ me { id fullName } }", None, None),  # runs (no session: null)
    ("query Me { me { id } }", None, "Me"),
    ("query A { me { id } } query B { identityProviders { id } }", None, None),  # several, no name: refused
    ("query A { me { id } } query B { identityProviders { id } }", None, "B"),
    ("{ me { id } }", None, "Missing"),  # no such operation: an exception, the HTTP layer's 400
    ("subscription { me { id } }", None, None),  # not in the schema: validation
    ("{ me { id ", None, None),  # syntax
    ("{ " + "me { id } " * 700 + "}", None, None),  # more than MAX_TOKENS
    ("{ me { idd } }", None, None),  # unknown field (with a suggestion)
    (DEEP, None, None),  # too deep; in production, introspection refused as well
    ("{ __schema { queryType { name } } }", None, None),  # introspection: development only
    (ALIASES, None, None),  # too many aliases
    (f"mutation {{ a: {RESET} b: {RESET} }}", None, None),  # two sensitive fields: nothing runs
    (  # an argument refused at the edge (schema/edge.py) before its resolver: a typed ValidationError
        'mutation { requestPasswordReset(identifier: "a\\u0000b") { __typename '
        "... on ValidationError { fields { field code } } } }",
        None, None,
    ),
    (  # over-long, refused at the edge before the staff check
        "query($i: String!) { staffAccountLookup(identifier: $i) { __typename } }", {"i": "x" * 401}, None,
    ),
    (  # a variable of the wrong type
        "query($i: String!) { supportTicket(number: $i, accessKey: $i) { number } }", {"i": 5}, None,
    ),
    ("query($n: String!, $k: String!) { supportTicket(number: $n, accessKey: $k) { number } }",
     {"n": "no", "k": "such"}, None),  # runs: no such ticket
    ("{ supportTickets { totalCount } }", None, None),  # staff only, called by a stranger
    ('mutation { enableAccount(accountId: "00000000-0000-0000-0000-000000000000") { __typename } }', None, None),
]


def answer(result: Any) -> str:
    errors = [error.formatted for error in result.errors or []]
    for error in errors:
        error.get("extensions", {}).pop("requestId", None)
    return json.dumps({"data": result.data, "errors": errors}, sort_keys=True, ensure_ascii=False)


async def run(execute: Any, document: str, variables: Any, name: Any, rt: Runtime) -> str:
    context = Context(rt=rt, client=ClientInfo("127.0.0.9", None), request_id="same")
    try:
        return answer(await execute(document, variables, context, name))
    except Exception as exc:  # noqa: BLE001 - an exception is an answer too (the HTTP layer maps it to a 400)
        return f"raised {type(exc).__name__}"


@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
async def test_the_runner_answers_every_document_as_strawberry_does(rt: Runtime, production: bool):
    schema, runner = build_schema(production=production), build_runner(production=production)

    async def strawberry_execute(document: str, variables: Any, context: Context, name: Any) -> Any:
        return await schema.execute(document, variable_values=variables, context_value=context, operation_name=name)

    outcomes = set()
    for document, variables, name in CORPUS:
        ours = await run(runner.execute, document, variables, name, rt)
        theirs = await run(strawberry_execute, document, variables, name, rt)
        assert ours == theirs, (document[:80], ours[:600], theirs[:600])
        outcomes.add(ours[:40])
    assert len(outcomes) >= 8  # the corpus reaches many different answers, not one answer many times



@strawberry.type
class EchoQuery:
    @strawberry.field
    def echo(self, info: strawberry.Info, word: str) -> str:
        seen = {
            "variables": dict(info.variable_values),
            "context": info.context["who"],
            "field": info.field_name,
            "path": info.path.as_list(),
            "operation": info.operation.name.value if info.operation.name else None,
        }
        return json.dumps(seen, sort_keys=True) + word


async def test_resolvers_see_strawberrys_info_through_the_runner():
    """The runner executes on graphql-core's plain executor; a resolver must still get Strawberry's info:
    the variables as a plain dict, the context, the field's name and path, as under `Schema.execute`."""
    schema = strawberry.Schema(query=EchoQuery)
    runner = Runner(strawberry.Schema(query=EchoQuery), (), lambda errors, _request_id: errors)
    document, variables = "query Echo($w: String!) { said: echo(word: $w) }", {"w": "!"}
    theirs = await schema.execute(document, variable_values=variables, context_value={"who": "resident"})
    ours = await runner.execute(document, variables, {"who": "resident"}, None)
    assert theirs.errors is None and ours.errors is None
    assert ours.data == theirs.data
    assert json.loads(ours.data["said"][:-1]) == {
        "context": "resident", "field": "echo", "operation": "Echo", "path": ["said"], "variables": {"w": "!"},
    }
