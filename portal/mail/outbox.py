"""Queueing letters: one outbox row per letter, committed together with the change that caused it.

Usage, inside the caller's own transaction (the row joins it, so the letter exists iff the change does)::

    async with in_transaction():
        ...  # the change
        await enqueue(rt, template="ticket_submitted", to=email, lang="ru",
                      context={"number": ticket.number, "status_url": url})

Templates live in `mail/templates/` as `<template>.<lang>.subject.j2`, `<template>.<lang>.txt.j2` and
`<template>.<lang>.html.j2` (`lang` is `ru` or `en`; `ru` is the fallback); see `mail/templates/README.md`.
`context` must be JSON-serialisable (datetimes become ISO-8601 strings; format them with the `when`
filter). The whole context is sealed with AES-GCM under a key derived from the portal secret, so a
database dump holds no usable link; it is erased once the letter is sent, expires or is given up.
`expires_at`: the letter is not sent after that moment (a reset link that would arrive dead).
`dedupe_key`: a second `enqueue` with the same key writes nothing (e.g. one letter per ticket).
Delivery (`mail.delivery`) renders and sends later, with retries; the request path never talks to SMTP.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.core.runtime import Runtime
from portal.models.batch import InsertRow, Statement, write_atomically, written_alone
from portal.models.mail import OutboxMessage, OutboxStatus

SEAL_PURPOSE = "mail-outbox-seal"
_SEAL_VERSION = "v1"


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"mail context values must be JSON-serialisable, got {type(value).__name__}")


def seal(rt: Runtime, context: dict[str, Any], *, to: str) -> str:
    """Encrypts a letter's context; the recipient is bound as associated data."""
    plain = json.dumps(context, default=_json_default, ensure_ascii=False, separators=(",", ":")).encode()
    nonce = os.urandom(12)
    sealed = AESGCM(rt.tokens.key(SEAL_PURPOSE)).encrypt(nonce, plain, to.encode())
    return f"{_SEAL_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(rt: Runtime, payload: str, *, to: str) -> dict[str, Any]:
    """The context back; raises `ValueError` when it was sealed under another secret or tampered with."""
    version, _, body = payload.partition(".")
    if version != _SEAL_VERSION:
        raise ValueError(f"unknown seal version {version!r}")
    raw = base64.urlsafe_b64decode(body.encode())
    try:
        plain = AESGCM(rt.tokens.key(SEAL_PURPOSE)).decrypt(raw[:12], raw[12:], to.encode())
    except Exception as exc:  # cryptography's InvalidTag carries no message
        raise ValueError("the sealed mail context cannot be opened (wrong secret or tampered)") from exc
    result = json.loads(plain)
    if not isinstance(result, dict):
        raise ValueError("the sealed mail context is not an object")
    return result


# Every column but the id: the one way an outbox row is written, alone (`enqueue`) or in a caller's batch.
_COLUMNS = ("template", "to_address", "lang", "payload", "status", "dedupe_key", "created_at", "expires_at",
            "next_attempt_at", "attempts", "claimed_until", "claim_token", "finished_at", "last_error")
_OUTBOX_ROW = InsertRow(OutboxMessage, _COLUMNS)
# With a dedupe key a duplicate neither writes nor breaks the caller's transaction (ON CONFLICT DO NOTHING).
_OUTBOX_ROW_ONCE = InsertRow(OutboxMessage, _COLUMNS, ignore_conflicts=True)


def enqueue_statement(
    rt: Runtime,
    *,
    template: str,
    to: str,
    lang: str,
    context: dict[str, Any],
    expires_at: datetime | None = None,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
) -> Statement:
    """One pending letter, as a statement for `models.batch.write_atomically` (with the caller's other writes);
    `not_before` holds it back until its turn (a spaced batch)."""
    if any(c in to for c in "\r\n\0"):
        raise ValueError("a recipient address must not contain control characters")
    now = rt.clock.now()
    return (_OUTBOX_ROW_ONCE if dedupe_key else _OUTBOX_ROW).row(
        template=template, to_address=to, lang=lang, payload=seal(rt, context, to=to), status=OutboxStatus.PENDING,
        dedupe_key=dedupe_key, created_at=now, expires_at=expires_at, next_attempt_at=not_before or now, attempts=0,
        claimed_until=None, claim_token=None, finished_at=None, last_error=None,
    )


def decoy_statement(
    rt: Runtime, *, template: str, context: dict[str, Any], dedupe_key: str | None = None
) -> Statement:
    """The same work as a letter (sealing included) for a letter nobody gets, so every answer costs alike:
    pass the `dedupe_key` the real letter would have had, and the statement is the same one too.

    The row is born `discarded` with nothing in it; delivery never looks at it and pruning removes it.
    """
    seal(rt, context, to="")
    now = rt.clock.now()
    return (_OUTBOX_ROW_ONCE if dedupe_key else _OUTBOX_ROW).row(
        template=template, to_address="", lang="", payload=None, status=OutboxStatus.DISCARDED,
        dedupe_key=dedupe_key, created_at=now, expires_at=None, next_attempt_at=now, attempts=0,
        claimed_until=None, claim_token=None, finished_at=now, last_error=None,
    )


# One outbox row (a letter, or a decoy) written at once, joining the caller's `in_transaction()` when there is one.
enqueue = written_alone(enqueue_statement)
enqueue_decoy = written_alone(decoy_statement)


async def enqueue_spaced(
    rt: Runtime,
    *,
    template: str,
    letters: list[tuple[str, str, dict[str, Any], datetime | None]],
    per_minute: int,
) -> datetime | None:
    """Queues many letters of one template (to, lang, context, expires_at) at most `per_minute` apart.

    A batch of 10,000 invitations then reaches the mail server as a steady trickle (each row's
    `next_attempt_at` is its turn), after any letters of the same template still waiting from an earlier
    batch. Written 500 rows per trip by the table's one writer, in the caller's transaction. Returns the
    last letter's turn.
    """
    now = rt.clock.now()
    step = timedelta(seconds=60 / max(1, per_minute))
    last = (
        await OutboxMessage.filter(template=template, status=OutboxStatus.PENDING)
        .order_by("-next_attempt_at")
        .first()
        .values_list("next_attempt_at", flat=True)
    )
    turn = max(now, last + step) if isinstance(last, datetime) else now
    statements: list[Statement] = []
    for to, lang, context, expires_at in letters:
        statements.append(enqueue_statement(
            rt, template=template, to=to, lang=lang, context=context, expires_at=expires_at, not_before=turn
        ))
        turn += step
    for start in range(0, len(statements), 500):  # 500 rows × 14 values stay under PostgreSQL's 32,767
        await write_atomically(statements[start:start + 500])
    return turn - step if statements else None
