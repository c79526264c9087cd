"""The letters a new ticket sends through the outbox: the resident's confirmation and the owner's notice."""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.mail.outbox import decoy_statement, enqueue_statement
from portal.models.accounts import Account
from portal.models.batch import Statement
from portal.models.support import TicketCategory
from portal.support.tickets.keys import status_url

# Letters per recipient: beyond these the ticket is still created, the letter is skipped.
CONFIRMATIONS_PER_ADDRESS = Limit("ticket.mail.confirmation", 10, 3600)
OWNER_NOTICES_PER_ACCOUNT = Limit("ticket.mail.owner_notice", 3, 24 * 3600)


class Owner(NamedTuple):
    """The account `accountIdentifier` names, as far as its notice needs it."""

    id: UUID
    email: str | None
    preferred_language: str | None


async def letter_statements(
    rt: Runtime,
    number: str,
    category: TicketCategory,
    reply_email: str | None,
    access_key: str,
    account: Account | None,
    owner: Owner | None,
    client: ClientInfo,
) -> list[Statement]:
    """The outbox rows of the confirmation to the resident and the notice to the owner of the named account,
    to be written in the ticket's transaction (the per-recipient throttles are counted here).

    Neither the answer nor the confirmation depends on whether `accountIdentifier` matched an account, and
    no letter repeats what the resident typed: `replyEmail` is unverified, so free text sent there would
    make the form a spam relay.
    """
    statements: list[Statement] = []
    recipient = reply_email or (account.email if account else None)
    if recipient and await rt.throttle.hit(CONFIRMATIONS_PER_ADDRESS, recipient) is None:
        statements.append(enqueue_statement(
            rt,
            template="ticket_submitted",
            to=recipient,
            lang=client.locale,
            context={"number": number, "status_url": status_url(rt, number, access_key), "category": category.value},
            dedupe_key=f"ticket_submitted:{number}",
        ))

    filed_by_owner = account is not None and owner is not None and owner.id == account.id
    notify = owner is not None and bool(owner.email) and owner.email != recipient and not filed_by_owner
    # The same statements whether or not the identifier matched: one throttle step (the owner's count, or a
    # decoy count), then one insert of the same shape (the notice, or a decoy row born discarded), so the
    # time an answer takes tells nothing either.
    capped = await rt.throttle.hit(OWNER_NOTICES_PER_ACCOUNT, str(owner.id) if notify and owner else "decoy")
    context = {"number": number, "support_url": f"{rt.settings.public_url}/support"}
    template, dedupe_key = "ticket_owner_notice", f"ticket_owner_notice:{number}"
    if notify and owner and owner.email and capped is None:
        lang = owner.preferred_language or client.locale
        statements.append(
            enqueue_statement(rt, template=template, to=owner.email, lang=lang, context=context, dedupe_key=dedupe_key)
        )
    else:
        statements.append(decoy_statement(rt, template=template, context=context, dedupe_key=dedupe_key))
    return statements
