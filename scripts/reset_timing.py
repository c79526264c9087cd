"""How long `requestPasswordReset` takes for each kind of identifier: the medians must not tell them apart.

Not a test (timings on a shared CI machine are noise-prone); run it by hand and read the numbers:

    .venv/bin/python scripts/reset_timing.py [--samples 300] [--database-url postgres://…]

Every call goes through the whole stack (HTTP → GraphQL → service → database) from its own client address;
the kinds are interleaved in a shuffled order so drift hits them alike, and every "known" sample uses an
account of its own so the per-account letter cap never switches it to the capped path.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from portal.api import db
from portal.api.app import create_app
from portal.core.runtime import Runtime
from portal.core.settings import Settings
from portal.identity.accounts import NewAccount, create_account
from portal.models.accounts import Account, AccountStatus

QUERY = "mutation($i: String!) { requestPasswordReset(identifier: $i) { __typename } }"
PASSWORD = "timing benchmark passphrase"


async def main(samples: int, database_url: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="reset-timing-"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=folder,
        database_url=database_url or f"sqlite://{folder}/portal.sqlite3",
        secret_key="timing-" + "x" * 40,
        deliver_mail_in_process=False,
        argon2_memory_kib=19456,
    )
    await db.migrate(settings)
    await db.connect(settings)
    rt = Runtime(settings)
    run = secrets.token_hex(3)

    async def make(n: int, **fields: object) -> list[str]:
        made = []
        for i in range(n):
            email = f"t{run}-{fields.get('tag', 'x')}-{i}@example.ru"
            new = NewAccount(full_name="Тест", email=email, password=fields.get("password", PASSWORD))  # type: ignore[arg-type]
            account = await create_account(rt, new)
            assert isinstance(account, Account), account
            if fields.get("disabled"):
                await Account.filter(id=account.id).update(status=AccountStatus.DISABLED)
            made.append(email)
        return made

    kinds: dict[str, list[str]] = {
        "known (local password)": await make(samples, tag="local"),
        "unknown e-mail": [f"nobody{run}-{i}@example.ru" for i in range(samples)],
        "federated-only (no password)": await make(samples, tag="fed", password=None),
        "disabled": await make(samples, tag="dis", disabled=True),
    }
    order = [(kind, i) for kind in kinds for i in range(samples)]
    random.shuffle(order)  # noqa: S311 - an order for a benchmark, not a secret
    app = create_app(runtime=rt, manage_database=False)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for n, (kind, i) in enumerate(order):
        transport = httpx.ASGITransport(app=app, client=(f"10.9.{n // 250}.{n % 250}", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            started = time.perf_counter()
            response = await client.post("/graphql", json={"query": QUERY, "variables": {"i": kinds[kind][i]}})
            elapsed = time.perf_counter() - started
        assert response.json()["data"]["requestPasswordReset"]["__typename"] == "PasswordResetRequested"
        times[kind].append(elapsed * 1000)
    await db.disconnect()

    base = statistics.median(times["unknown e-mail"])
    print(f"database: {settings.database_url.split('://')[0]}, {samples} calls per kind, interleaved")
    print(f"{'kind':32} {'median ms':>10} {'p10':>8} {'p90':>8} {'Δ median vs unknown':>22}")
    for kind, values in times.items():
        values.sort()
        med = statistics.median(values)
        p10, p90 = values[len(values) // 10], values[len(values) * 9 // 10]
        print(f"{kind:32} {med:10.3f} {p10:8.3f} {p90:8.3f} {med - base:+18.3f} ms ({(med - base) / base:+.1%})")
    unknown = times["unknown e-mail"]
    resampled = [statistics.median(random.choices(unknown, k=len(unknown))) for _ in range(300)]  # noqa: S311
    print(f"standard error of a median (bootstrap over the unknown samples): {statistics.stdev(resampled):.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.samples, args.database_url))
