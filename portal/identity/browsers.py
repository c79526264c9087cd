"""The letter on a sign-in from a browser the account has not used before (issue 16).

Each browser keeps a random id in a long-lived HttpOnly cookie; the account remembers the keyed hashes
of the ids it signed in from. A sign-in through the pages from an id it does not know (or from a browser
without one) sends the account's address a letter with the time, address and kind of device, so a
stolen password used elsewhere does not go unnoticed. Apps over GraphQL carry no such cookie and are
not told about here.
"""

from __future__ import annotations

import re

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from portal.identity.reset import letter_language
from portal.mail.outbox import enqueue
from portal.models.accounts import Account
from portal.models.security import KnownBrowser

PURPOSE = "known-browser"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


async def note_browser(rt: Runtime, account: Account, browser_id: str | None, client: ClientInfo) -> str:
    """Records this browser for the account; a new one gets a letter. Returns the id the cookie must hold."""
    if not browser_id or not _ID_RE.match(browser_id):
        browser_id = new_token()
    digest = rt.tokens.digest(PURPOSE, browser_id)
    now = rt.clock.now()
    if await KnownBrowser.filter(account_id=account.id, browser_hash=digest).update(last_seen_at=now):
        return browser_id
    first_ever = not await KnownBrowser.filter(account_id=account.id).exists()
    async with in_transaction():
        await KnownBrowser.bulk_create(
            [KnownBrowser(account_id=account.id, browser_hash=digest, first_seen_at=now, last_seen_at=now)],
            ignore_conflicts=True,
        )
        if account.email and not first_ever:  # the very first browser is where the account began
            await enqueue(
                rt, template="new_browser_signin", to=account.email, lang=letter_language(account, client),
                context={"full_name": account.full_name, "signed_in_at": now, "client_address": client.address,
                         "user_agent": (client.user_agent or "")[:120] or None},
            )
    return browser_id
