"""Issue 14, items 8 and 9: a ticket's work does not depend on whether its identifier matched;
every mutation that stores a row is throttled per client; request headers are bounded."""

from __future__ import annotations

import logging
import re

from tests.helpers import SUBMIT, client_at, form, unique

_VALUES = re.compile(r"('[^']*'|\$\d+|\b\d+\b|\?)")


def shapes(records: list[logging.LogRecord]) -> list[str]:
    """The SQL statements Tortoise ran, values and parameters blanked: the work's shape."""
    found = []
    for record in records:
        text = record.getMessage()
        if record.name.startswith("tortoise.db_client") and re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE)", text):
            found.append(_VALUES.sub("_", text.split(": [", 1)[0]))
    return found


async def test_a_ticket_does_the_same_work_whether_or_not_its_identifier_matched(app, make_account, caplog):
    owner = await make_account()
    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
    work = {}
    for case, identifier in (("match", owner.email), ("nobody", f"{unique('nobody')}@example.ru")):
        caplog.clear()
        async with client_at(app) as c:
            answer = await c.post(
                "/graphql", json={"query": SUBMIT, "variables": {"input": form(accountIdentifier=identifier)}}
            )
        assert answer.json()["data"]["submitSupportTicket"]["__typename"] == "SupportTicketSubmitted"
        work[case] = shapes(caplog.records)
    assert work["match"] and work["match"] == work["nobody"]


async def test_every_mutation_is_throttled_per_client(app, rt):
    """startFederatedSignIn stored a row per call, unthrottled; now every mutation field has a per-client
    limit (schema/edge.py), answered with TooManyAttempts where the result has it, else a coded error."""
    from portal.schema.edge import mutation_limit

    default_count = rt.settings.mutations_per_client_per_minute

    start = 'mutation { startFederatedSignIn(provider: "nope") { __typename ... on TooManyAttempts { retryAfterSeconds } } }'
    limit = mutation_limit("startFederatedSignIn", default_count)
    assert limit.count < default_count
    async with client_at(app) as c:
        answers = [
            (await c.post("/graphql", json={"query": start})).json()["data"]["startFederatedSignIn"]
            for _ in range(limit.count + 1)
        ]
        assert {a["__typename"] for a in answers[:-1]} == {"ValidationError"}
        assert answers[-1]["__typename"] == "TooManyAttempts" and answers[-1]["retryAfterSeconds"] >= 1
    async with client_at(app) as other:  # another client is not affected
        answer = (await other.post("/graphql", json={"query": start})).json()["data"]["startFederatedSignIn"]
        assert answer["__typename"] == "ValidationError"

    # A field whose result has no TooManyAttempts (here a staff mutation, called by a stranger).
    enable = "mutation($id: ID!) { enableAccount(accountId: $id) { __typename } }"
    variables = {"id": "00000000-0000-0000-0000-000000000000"}
    async with client_at(app) as c:
        for _ in range(default_count):
            assert (await c.post("/graphql", json={"query": enable, "variables": variables})).status_code == 200
        refused = await c.post("/graphql", json={"query": enable, "variables": variables})
    error = refused.json()["errors"][0]
    assert refused.status_code == 429 and error["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert error["extensions"]["retryAfterSeconds"] >= 1


async def test_oversized_headers_get_431(client):
    huge = await client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": "Bearer " + "a" * 1_000_000}
    )
    assert huge.status_code == 431 and huge.json()["errors"][0]["extensions"]["code"] == "HEADERS_TOO_LARGE"
    assert huge.headers["x-content-type-options"] == "nosniff"
    many = {f"X-Filler-{i}": "b" * 4000 for i in range(5)}  # each fine, 20 KB in all
    assert (await client.get("/healthz", headers=many)).status_code == 431
    assert (await client.get("/healthz", headers={"X-Fine": "c" * 7000})).status_code == 200
