"""A planned query (schema/plans.py) answers exactly as graphql-core's executor does, errors included.

Each document runs twice: through the runner (which takes the plan when the document has one) and through
Strawberry's own `Schema.execute` (graphql-core's executor). Data, error messages, locations and paths must
be the same. The corpus says which documents must be planned, so a change that silently stops planning (a
Strawberry upgrade that no longer marks plain fields) fails here too.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any

import pytest
import strawberry

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.schema import build_runner
from portal.schema.context import Context
from portal.schema.runner import Runner


@strawberry.enum
class Kind(Enum):
    FLAT = "flat"
    HOUSE = "house"


@strawberry.type
class Meter:
    serial: str
    reading: float | None


@strawberry.type
class Flat:
    number: int
    kind: Kind
    owner: str | None
    required_owner: str  # the resolver below leaves it None on purpose for some flats: a non-null violation
    meters: list[Meter]
    maybe_meters: list[Meter | None] | None


def flat(number: int, owner: str | None = "Иванов", meters: Any = None) -> Flat:
    return Flat(
        number=number,
        kind=Kind.FLAT,
        owner=owner,
        required_owner=owner,  # type: ignore[arg-type]
        meters=meters if meters is not None else [Meter(serial=f"M{number}", reading=1.5)],
        maybe_meters=[Meter(serial="A", reading=None), None],
    )


class Refused(Exception):
    pass


@strawberry.interface
class Error:
    message: str


@strawberry.type
class Problem(Error):
    code: str


Outcome = Annotated[Flat | Problem, strawberry.union("Outcome")]


def outcome(ok: bool) -> Flat | Problem:
    return flat(2) if ok else Problem(message="Не вышло", code="NOPE")


@strawberry.type
class Query:
    @strawberry.field
    def flat(self, number: int = 1) -> Flat | None:
        if number < 0:
            raise Refused("no such flat")
        return flat(number, owner=None if number == 13 else "Иванов")

    @strawberry.field
    def required_flat(self, number: int) -> Flat:
        return flat(number, owner=None if number == 13 else "Петров")

    @strawberry.field
    async def flats(self, info: strawberry.Info, first: int = 2) -> list[Flat]:
        assert info.context.request_id == "plans"
        return [flat(n) for n in range(first)]

    @strawberry.field
    def broken_meters(self) -> Flat:
        return flat(5, meters=[Meter(serial="X", reading=2.0), None])

    @strawberry.field
    def greeting(self, name: str = "мир") -> str:
        return f"Привет, {name}"

    @strawberry.field
    def outcome(self, ok: bool) -> Outcome:
        return outcome(ok)

    @strawberry.field
    async def maybe_outcome(self, ok: bool) -> Outcome | None:
        return outcome(ok)

    @strawberry.field
    def wrong_outcome(self) -> Outcome:
        return 42  # type: ignore[return-value]  # the union cannot resolve it: an error at the field

    @strawberry.field
    def problem(self, wrong: bool = False) -> Problem | None:
        return flat(1) if wrong else Problem(message="m", code="c")  # type: ignore[return-value]

    @strawberry.field
    def outcomes(self) -> list[Outcome]:
        return [outcome(True), outcome(False)]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def submit(self, number: int) -> Outcome:
        if number < 0:
            raise Refused("refused")
        return outcome(number % 2 == 0)


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)

# (document, variables, must it be planned?)
CORPUS: list[tuple[str, dict[str, Any] | None, bool]] = [
    ("{ flat { number kind owner } }", None, True),
    ("{ flat(number: 3) { __typename n: number kind meters { serial reading __typename } } }", None, True),
    ("{ flat(number: 13) { number owner } }", None, True),  # a nullable field's null
    ("{ flat(number: 13) { number requiredOwner } }", None, True),  # non-null violated: the flat becomes null
    ("{ requiredFlat(number: 13) { number requiredOwner } }", None, True),  # ... and then the whole data
    ("{ flat(number: -1) { number } }", None, True),  # the resolver raises: located at the field
    ("{ f: flat(number: -1) { number } }", None, True),  # ... at its alias
    ("{ f: flat(number: 13) { n: requiredOwner } }", None, True),
    ("query($n: Int!) { flat(number: $n) { number } }", {"n": 7}, True),
    ("query($n: Int = 8) { flat(number: $n) { number } }", {}, True),  # a default
    ("query($n: Int!) { flat(number: $n) { number } }", {"n": "seven"}, True),  # coercion fails: graphql-core's
    ("query($n: Int!) { flat(number: $n) { number } }", {}, True),  # missing: graphql-core's error
    ("{ flats(first: 3) { number meters { serial } } }", None, True),  # an async root resolver, lists
    ("{ brokenMeters { number meters { serial } } }", None, True),  # a null in a list of non-null
    ("{ flat { maybeMeters { serial reading } } }", None, True),  # nulls where allowed
    ("{ greeting }", None, True),
    ('{ greeting(name: "дом") }', None, True),
    ("{ outcome(ok: true) { __typename ... on Flat { number kind } ... on Error { message } } }", None, True),
    ("{ outcome(ok: false) { __typename ... on Flat { number } ... on Error { message } } }", None, True),
    ("{ outcome(ok: false) { ... on Problem { code message } } }", None, True),
    ("{ o: outcome(ok: true) { ... on Problem { message } } }", None, True),  # nothing selected on a Flat: {}
    ("{ maybeOutcome(ok: true) { ... on Flat { meters { serial } requiredOwner } } }", None, True),
    ("{ wrongOutcome { __typename } }", None, True),  # the union cannot place the value
    ("{ problem(wrong: true) { message } }", None, True),  # is_type_of refuses the value
    ("{ problem { ... on Error { message } code } }", None, True),
    ("mutation { submit(number: 2) { __typename ... on Flat { number meters { serial } } ... on Error { message } } }",
     None, True),
    ("mutation { submit(number: 3) { __typename ... on Error { message } } }", None, True),
    ("mutation($n: Int!) { submit(number: $n) { __typename } }", {"n": -1}, True),  # raises: no data at all
    ("{ outcomes { __typename } }", None, False),  # a list of a union
    ("{ outcome(ok: true) { ...F } } fragment F on Flat { number }", None, False),  # a named fragment
    ("mutation { a: submit(number: 1) { __typename } b: submit(number: 2) { __typename } }", None, False),
    ("{ __typename }", None, False),  # not a field of the query type
    ("{ a: flat { number } b: flat { number } }", None, False),  # two root fields
    ("{ flat { number number } }", None, False),  # the same key twice
    ("{ flat { ... on Flat { number } } }", None, True),  # an inline fragment on the type itself
    ("{ flat { number @include(if: true) } }", None, False),  # a directive
    ("query Q { flat { number } } query R { greeting }", None, True),  # one of several operations, by name
]


def answer(result: Any) -> str:
    errors = [error.formatted for error in result.errors or []]
    return json.dumps({"data": result.data, "errors": errors}, sort_keys=True, ensure_ascii=False)


async def test_a_planned_query_answers_as_graphql_core_does(rt: Runtime):
    runner = Runner(strawberry.Schema(query=Query, mutation=Mutation), (), lambda errors, _request_id: errors)
    context = Context(rt=rt, client=ClientInfo("127.0.0.9", None), request_id="plans")  # the edge's guard reads it
    kinds = set()
    for document, variables, planned in CORPUS:
        name = "Q" if "query Q" in document else None
        assert (runner.planned(document, name) is not None) == planned, document
        ours = answer(await runner.execute(document, variables, context, name))
        theirs = answer(await SCHEMA.execute(document, variable_values=variables, context_value=context, operation_name=name))
        assert ours == theirs, (document, ours, theirs)
        kinds.add(("data" if '"data": {' in ours else "null") + ("+errors" if '"errors": [{' in ours else ""))
    assert kinds == {"data", "data+errors", "null+errors"}  # the corpus reaches every kind of answer


@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
def test_the_accounts_own_query_is_planned(production: bool):
    """`me` of plain fields is what every page asks first, and a mutation's union answer is what every form gets
    back: both planned. A field with a resolver of its own below the root is not."""
    runner = build_runner(production=production)
    assert runner.planned("query Me { me { id fullName email role __typename } }", "Me") is not None
    assert runner.planned("{ me { id personalAccounts { number } } }", None) is None
    reset = 'mutation { requestPasswordReset(identifier: "x") { __typename ... on Error { message } } }'
    assert runner.planned(reset, None) is not None
