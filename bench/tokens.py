"""Issues one live password-reset token for each of the first N benchmark accounts; prints the tokens.

The rows are written as `identity.reset.request_password_reset` writes them (same keyed hash, same TTL),
without the 50 ms floor and the letter, so `resetPassword` can be driven at full speed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta


async def issue(count: int) -> list[str]:
    from portal.api import db
    from portal.core.runtime import Runtime
    from portal.core.settings import load_settings
    from portal.core.tokens import new_token
    from portal.identity.reset import TOKEN_PURPOSE
    from portal.models.accounts import Account
    from portal.models.reset import PasswordResetToken

    settings = load_settings()
    await db.connect(settings)
    try:
        rt = Runtime(settings)
        now = rt.clock.now()
        ids = (
            await Account.filter(email__startswith="bench").order_by("email").limit(count).values_list("id", flat=True)
        )
        tokens = [new_token() for _ in ids]
        await PasswordResetToken.bulk_create(
            [
                PasswordResetToken(
                    account_id=account_id,
                    token_hash=rt.tokens.digest(TOKEN_PURPOSE, token),
                    created_at=now,
                    expires_at=now + timedelta(seconds=settings.reset_token_ttl),
                    client_address="198.18.255.1",
                )
                for account_id, token in zip(ids, tokens, strict=True)
            ],
            batch_size=1000,
        )
        return tokens
    finally:
        await db.disconnect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tokens")
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)
    print("\n".join(asyncio.run(issue(args.count))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
