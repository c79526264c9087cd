"""Passkeys (WebAuthn, through py_webauthn): add, name and remove them; sign in with one (issue 16).

The library checks what matters (RFC-grade parsing, signature, origin, RP ID, challenge, flags); this
module supplies the storage and the policy. The RP ID is the host of PORTAL_PUBLIC_URL and the only
accepted origin is PORTAL_PUBLIC_URL's. User verification is required, so a passkey counts as both
factors. Each ceremony's challenge is a `WebAuthnChallenge` row, 5 minutes, spent by one conditional
UPDATE: registration's is bound to the session, sign-in's to a random handle that the browser keeps in
an HttpOnly cookie (or the app in memory). Sign count and backup state are recorded at every use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import webauthn
from tortoise.transactions import in_transaction
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from portal.identity.proofs import ReauthNeeded, mark_proved
from portal.identity.reauth import is_recent
from portal.identity.reset import letter_language
from portal.identity.sessions import IssuedSession, issue_session
from portal.identity.signin import BadCredentials, client_limit
from portal.mail.outbox import enqueue
from portal.models.accounts import Account, AccountStatus, Session
from portal.models.audit import record, record_statement
from portal.models.security import Passkey, WebAuthnChallenge

CHALLENGE_TTL = 300
HANDLE_PURPOSE = "webauthn-handle"
REGISTER, AUTHENTICATE = "register", "authenticate"
NAME_MAX = 64
RESPONSE_MAX = 32 * 1024  # a WebAuthn response in JSON is a few kilobytes
RP_NAME = "Личный кабинет жителя"


@dataclass(frozen=True)
class CeremonyStarted:
    """Options for `navigator.credentials.create/get` as WebAuthn JSON, and the handle that binds the answer."""

    options_json: str
    handle: str


@dataclass(frozen=True)
class PasskeyAdded:
    passkey: Passkey


@dataclass(frozen=True)
class PasskeyRemoved:
    pass


@dataclass(frozen=True)
class PasskeyProved:
    """A passkey re-authenticated the signed-in resident."""


def rp_id(rt: Runtime) -> str:
    return urlsplit(rt.settings.public_url).hostname or "localhost"


def _origin(rt: Runtime) -> str:
    return rt.settings.public_origin


async def _new_challenge(
    rt: Runtime, purpose: str, challenge: bytes, *, account_id: UUID | None = None, session_id: UUID | None = None
) -> str:
    handle = new_token()
    now = rt.clock.now()
    await WebAuthnChallenge.create(
        purpose=purpose, handle_hash=rt.tokens.digest(HANDLE_PURPOSE, handle), challenge=bytes_to_base64url(challenge),
        account_id=account_id, session_id=session_id, created_at=now, expires_at=now + timedelta(seconds=CHALLENGE_TTL),
    )
    return handle


async def _spend_challenge(rt: Runtime, purpose: str, handle: str, session_id: UUID | None = None) -> bytes | None:
    """The challenge behind `handle`, spent now (single use); None when unknown, used, expired or not this session's."""
    if not handle or len(handle) > 128:
        return None
    now = rt.clock.now()
    query = WebAuthnChallenge.filter(
        handle_hash=rt.tokens.digest(HANDLE_PURPOSE, handle), purpose=purpose, used_at__isnull=True, expires_at__gt=now
    )
    if session_id is not None:
        query = query.filter(session_id=session_id)
    row = await query.first()
    if row is None or not await WebAuthnChallenge.filter(id=row.id, used_at__isnull=True).update(used_at=now):
        return None
    return webauthn.base64url_to_bytes(row.challenge)


def _label(account: Account) -> str:
    return account.email or account.login or account.phone or str(account.id)


async def list_passkeys(account_id: UUID) -> list[Passkey]:
    return await Passkey.filter(account_id=account_id).order_by("created_at")


async def start_registration(rt: Runtime, session: Session) -> CeremonyStarted | ReauthNeeded:
    if not is_recent(rt, session):
        return ReauthNeeded()
    account = session.account
    existing = await list_passkeys(account.id)
    options = webauthn.generate_registration_options(
        rp_id=rp_id(rt), rp_name=RP_NAME, user_id=account.id.bytes, user_name=_label(account),
        user_display_name=account.full_name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(p.credential_id)) for p in existing
        ],
    )
    handle = await _new_challenge(rt, REGISTER, options.challenge, account_id=account.id, session_id=session.id)
    return CeremonyStarted(webauthn.options_to_json(options), handle)


def _response_field(credential: dict[str, Any], name: str) -> Any:
    """`credential.response[name]` when the JSON has that shape, else None."""
    response = credential.get("response")
    return response.get(name) if isinstance(response, dict) else None


def _parse(response_json: str) -> dict[str, Any] | None:
    if not response_json or len(response_json) > RESPONSE_MAX:
        return None
    try:
        value = json.loads(response_json)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def finish_registration(
    rt: Runtime, session: Session, handle: str, response_json: str, name: str, client: ClientInfo
) -> PasskeyAdded | ReauthNeeded | Invalid:
    if not is_recent(rt, session):
        return ReauthNeeded()
    account = session.account
    name = " ".join((name or "").split())[:NAME_MAX] or "Passkey"
    credential = _parse(response_json)
    challenge = await _spend_challenge(rt, REGISTER, handle, session.id)
    if credential is None or challenge is None:
        return Invalid.of(FieldProblem("response", FieldCode.PASSKEY_REFUSED))
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id(rt),
            expected_origin=_origin(rt), require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return Invalid.of(FieldProblem("response", FieldCode.PASSKEY_REFUSED))
    credential_id = bytes_to_base64url(verified.credential_id)
    if await Passkey.filter(credential_id=credential_id).exists():
        return Invalid.of(FieldProblem("response", FieldCode.PASSKEY_REFUSED))
    transports = _response_field(credential, "transports")
    now = rt.clock.now()
    async with in_transaction():
        passkey = await Passkey.create(
            account_id=account.id, credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key), name=name, sign_count=verified.sign_count,
            transports=",".join(str(t) for t in transports)[:200] if isinstance(transports, list) else None,
            backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backed_up=verified.credential_backed_up, created_at=now,
        )
        await _letter(rt, account, "added", name, client)
        await record(rt, "passkey.added", actor_id=account.id, subject_id=account.id, client=client,
                     details={"name": name})
    return PasskeyAdded(passkey)


async def _letter(rt: Runtime, account: Account, change: str, name: str, client: ClientInfo) -> None:
    if account.email:
        await enqueue(
            rt, template="passkey_changed", to=account.email, lang=letter_language(account, client),
            context={"full_name": account.full_name, "change": change, "name": name, "changed_at": rt.clock.now(),
                     "client_address": client.address},
        )


async def rename_passkey(rt: Runtime, session: Session, passkey_id: str, name: str) -> PasskeyAdded | Invalid:
    row = await _own(session.account.id, passkey_id)
    name = " ".join((name or "").split())[:NAME_MAX]
    if row is None:
        return Invalid.of(FieldProblem("id", FieldCode.NOT_FOUND))
    if not name:
        return Invalid.of(FieldProblem("name", FieldCode.REQUIRED))
    await Passkey.filter(id=row.id).update(name=name)
    row.name = name
    return PasskeyAdded(row)


async def _own(account_id: UUID, passkey_id: str) -> Passkey | None:
    try:
        key = UUID(passkey_id)
    except (ValueError, TypeError, AttributeError):
        return None
    return await Passkey.filter(id=key, account_id=account_id).first()


async def remove_passkey(
    rt: Runtime, session: Session, passkey_id: str, client: ClientInfo
) -> PasskeyRemoved | ReauthNeeded | Invalid:
    if not is_recent(rt, session):
        return ReauthNeeded()
    account = session.account
    row = await _own(account.id, passkey_id)
    if row is None:
        return Invalid.of(FieldProblem("id", FieldCode.NOT_FOUND))
    async with in_transaction():
        await Passkey.filter(id=row.id).delete()
        await _letter(rt, account, "removed", row.name, client)
        await record(rt, "passkey.removed", actor_id=account.id, subject_id=account.id, client=client,
                     details={"name": row.name})
    return PasskeyRemoved()


async def start_authentication(rt: Runtime) -> CeremonyStarted:
    """Options for a discoverable-credential sign-in (the browser offers the resident's passkeys)."""
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(rt), user_verification=UserVerificationRequirement.REQUIRED
    )
    handle = await _new_challenge(rt, AUTHENTICATE, options.challenge)
    return CeremonyStarted(webauthn.options_to_json(options), handle)


async def _verify_assertion(rt: Runtime, handle: str, response_json: str) -> Passkey | None:
    """The passkey that answered the challenge behind `handle`, its counters updated; None on any failure."""
    credential = _parse(response_json)
    challenge = await _spend_challenge(rt, AUTHENTICATE, handle)
    if credential is None or challenge is None or not isinstance(credential.get("id"), str):
        return None
    passkey = await Passkey.filter(credential_id=credential["id"][:1400]).select_related("account").first()
    if passkey is None:
        return None
    user_handle = _response_field(credential, "userHandle")
    try:
        if user_handle and webauthn.base64url_to_bytes(user_handle) != passkey.account.id.bytes:
            return None
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id(rt),
            expected_origin=_origin(rt), credential_public_key=webauthn.base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count, require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return None
    now = rt.clock.now()
    await Passkey.filter(id=passkey.id).update(
        sign_count=verified.new_sign_count, backed_up=verified.credential_backed_up, last_used_at=now
    )
    return passkey


async def finish_authentication(
    rt: Runtime, handle: str, response_json: str, client: ClientInfo
) -> IssuedSession | BadCredentials | TooMany:
    """A passkey with user verification signs in on its own: both factors in one gesture."""
    per_client = client_limit(rt)
    if (blocked := await rt.throttle.check(per_client, client.address)) is not None:
        return blocked
    passkey = await _verify_assertion(rt, handle, response_json)
    if passkey is None or passkey.account.status != AccountStatus.ACTIVE:
        await rt.throttle.hit(per_client, client.address)
        await record(rt, "signin.passkey_failure", subject_id=passkey.account.id if passkey else None, client=client)
        return BadCredentials()
    account = passkey.account
    audit = record_statement(rt, "signin.success", actor_id=account.id, subject_id=account.id, client=client,
                             details={"passkey": passkey.name})
    return await issue_session(rt, account, client, "passkey", also=[audit])


async def prove_with_passkey(
    rt: Runtime, session: Session, handle: str, response_json: str, client: ClientInfo
) -> PasskeyProved | BadCredentials:
    """Re-authentication by one of the signed-in resident's own passkeys."""
    passkey = await _verify_assertion(rt, handle, response_json)
    if passkey is None or passkey.account.id != session.account.id:
        await record(rt, "reauth.failure", actor_id=session.account.id, subject_id=session.account.id, client=client)
        return BadCredentials()
    await mark_proved(rt, session)
    return PasskeyProved()
