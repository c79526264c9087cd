"""TOTP (RFC 6238: 30 s, 6 digits, ±1 step) and recovery codes: the resident's second factor (issue 16).

The secret is sealed with AES-GCM under a key derived from the portal secret (bound to the account), so
a database dump holds no usable secret. Each code works once: the newest accepted time step is kept and
a code is refused unless its step is newer (one conditional UPDATE, so two concurrent uses succeed once).
Ten recovery codes are shown once and stored as keyed hashes, each single use. Every change needs a
proof of the last 10 minutes (identity.reauth) and sends the resident a letter.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from uuid import UUID

import pyotp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.identity.proofs import ProofOutcome, Proved, ReauthNeeded, mark_proved, prove
from portal.identity.reauth import is_recent
from portal.identity.reset import letter_language
from portal.identity.signin import BadCredentials
from portal.mail.outbox import enqueue
from portal.models.accounts import Account, Session
from portal.models.audit import record
from portal.models.security import RecoveryCode, TotpCredential

SEAL_PURPOSE = "totp-secret"
ISSUER = "Личный кабинет жителя"
RECOVERY_CODES = 10
RECOVERY_PURPOSE = "recovery-code"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed from paper
_CODE_RE = re.compile(r"[0-9]{6}")  # ASCII digits only (\d would take other scripts), used with fullmatch
# Wrong codes while enrolling or proving again, per account.
WRONG_CODES_PER_ACCOUNT = Limit("totp.wrong.account", 10, 900)


@dataclass(frozen=True)
class EnrollmentStarted:
    secret: str  # base32
    otpauth_uri: str


@dataclass(frozen=True)
class RecoveryCodes:
    codes: list[str]


@dataclass(frozen=True)
class TotpOff:
    """TOTP and its recovery codes are gone."""


@dataclass(frozen=True)
class NotEnabled:
    """The account has no TOTP to change."""


def _seal(rt: Runtime, account_id: UUID, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(rt.tokens.key(SEAL_PURPOSE)).encrypt(nonce, secret.encode(), account_id.bytes)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def _unseal(rt: Runtime, account_id: UUID, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed.encode())
    return AESGCM(rt.tokens.key(SEAL_PURPOSE)).decrypt(raw[:12], raw[12:], account_id.bytes).decode()


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (now, one before or one after) whose code is `code`, compared in constant time."""
    totp = pyotp.TOTP(secret)
    current = int(now // totp.interval)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * totp.interval).encode(), code.encode()):
            return step
    return None


def _recovery_hash(rt: Runtime, code: str) -> str:
    return rt.tokens.digest(RECOVERY_PURPOSE, re.sub(r"[\s-]", "", code).lower())


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))  # about 49 bits
    return f"{raw[:5]}-{raw[5:]}"


async def _letter(rt: Runtime, account: Account, change: str, client: ClientInfo) -> None:
    """"Your second factor changed" (enabled, disabled, new recovery codes), in the caller's transaction."""
    if account.email:
        await enqueue(
            rt, template="second_factor_changed", to=account.email, lang=letter_language(account, client),
            context={"full_name": account.full_name, "change": change, "changed_at": rt.clock.now(),
                     "client_address": client.address},
        )


async def is_enabled(account_id: UUID) -> bool:
    return await TotpCredential.filter(account_id=account_id, confirmed_at__isnull=False).exists()


async def start_enrollment(rt: Runtime, session: Session) -> EnrollmentStarted | ReauthNeeded:
    """A new secret waiting for its first code (a second call replaces it; TOTP in use stays until then)."""
    if not is_recent(rt, session):
        return ReauthNeeded()
    account = session.account
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    sealed = _seal(rt, account.id, secret)
    row = await TotpCredential.filter(account_id=account.id).first()
    if row is None:
        await TotpCredential.create(account_id=account.id, pending_sealed=sealed, created_at=rt.clock.now())
    else:
        await TotpCredential.filter(id=row.id).update(pending_sealed=sealed)
    return _enrollment(account, secret)


def _enrollment(account: Account, secret: str) -> EnrollmentStarted:
    """The secret and its `otpauth://` URI, labelled with the account's own identifier."""
    name = account.email or account.login or account.phone or str(account.id)
    return EnrollmentStarted(secret, pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER))


async def _issue_recovery_codes(rt: Runtime, account_id: UUID) -> list[str]:
    """Ten fresh codes replace every earlier one (in the caller's transaction)."""
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    now = rt.clock.now()
    await RecoveryCode.filter(account_id=account_id).delete()
    await RecoveryCode.bulk_create(
        [RecoveryCode(account_id=account_id, code_hash=_recovery_hash(rt, c), created_at=now) for c in codes]
    )
    return codes


async def confirm_enrollment(
    rt: Runtime, session: Session, code: str, client: ClientInfo
) -> RecoveryCodes | ReauthNeeded | Invalid | TooMany:
    """The first code from the app turns TOTP on; the answer carries ten recovery codes, shown once."""
    if not is_recent(rt, session):
        return ReauthNeeded()
    account = session.account
    row = await TotpCredential.filter(account_id=account.id).first()
    code = (code or "").replace(" ", "")
    if row is None or row.pending_sealed is None:
        return Invalid.of(FieldProblem("code", FieldCode.NO_ENROLLMENT))
    if (limited := await rt.throttle.check(WRONG_CODES_PER_ACCOUNT, str(account.id))) is not None:
        return limited
    step = _matching_step(_unseal(rt, account.id, row.pending_sealed), code, rt.clock.now().timestamp()) \
        if _CODE_RE.fullmatch(code) else None
    if step is None:
        await rt.throttle.hit(WRONG_CODES_PER_ACCOUNT, str(account.id))
        return Invalid.of(FieldProblem("code", FieldCode.INVALID_CODE))
    now = rt.clock.now()
    async with in_transaction():
        await TotpCredential.filter(id=row.id).update(
            secret_sealed=row.pending_sealed, pending_sealed=None, confirmed_at=now, last_step=step
        )
        codes = await _issue_recovery_codes(rt, account.id)
        await _letter(rt, account, "enabled", client)
        await record(rt, "totp.enabled", actor_id=account.id, subject_id=account.id, client=client)
    return RecoveryCodes(codes)


async def _may_change(rt: Runtime, session: Session) -> ReauthNeeded | NotEnabled | None:
    """None when TOTP is on and the session holds a recent proof."""
    if not is_recent(rt, session):
        return ReauthNeeded()
    return None if await is_enabled(session.account.id) else NotEnabled()


async def regenerate_recovery_codes(
    rt: Runtime, session: Session, client: ClientInfo
) -> RecoveryCodes | ReauthNeeded | NotEnabled:
    if (refused := await _may_change(rt, session)) is not None:
        return refused
    account = session.account
    async with in_transaction():
        codes = await _issue_recovery_codes(rt, account.id)
        await _letter(rt, account, "codes", client)
        await record(rt, "totp.recovery_codes", actor_id=account.id, subject_id=account.id, client=client)
    return RecoveryCodes(codes)


async def disable(rt: Runtime, session: Session, client: ClientInfo) -> TotpOff | ReauthNeeded | NotEnabled:
    """The owner's own act after re-authenticating (a password reset never does this)."""
    if (refused := await _may_change(rt, session)) is not None:
        return refused
    account = session.account
    async with in_transaction():
        await TotpCredential.filter(account_id=account.id).delete()
        await RecoveryCode.filter(account_id=account.id).delete()
        await _letter(rt, account, "disabled", client)
        await record(rt, "totp.disabled", actor_id=account.id, subject_id=account.id, client=client)
    return TotpOff()


async def remove_on_staff_decision(rt: Runtime, account: Account, ticket_number: str) -> None:
    """A lost second factor removed on a verified ticket by two staff (support.desk), in their transaction."""
    await TotpCredential.filter(account_id=account.id).delete()
    await RecoveryCode.filter(account_id=account.id).delete()
    if account.email:
        await enqueue(
            rt, template="second_factor_changed", to=account.email, lang=account.preferred_language or "ru",
            context={"full_name": account.full_name, "change": "removed_by_staff", "number": ticket_number,
                     "changed_at": rt.clock.now(), "client_address": None},
        )


async def check_code(rt: Runtime, account_id: UUID, code: str) -> str | None:
    """Spends a TOTP code ("TOTP") or a recovery code ("RECOVERY_CODE") of the account; None when neither."""
    code = (code or "").strip()
    if len(code) > 64:
        return None
    compact = code.replace(" ", "")
    if _CODE_RE.fullmatch(compact):
        row = await TotpCredential.filter(account_id=account_id, confirmed_at__isnull=False).first()
        if row is None or row.secret_sealed is None:
            return None
        step = _matching_step(_unseal(rt, account_id, row.secret_sealed), compact, rt.clock.now().timestamp())
        if step is None:
            return None
        # Single use: only a step newer than the last accepted one, in one conditional UPDATE.
        spent = await TotpCredential.filter(Q(last_step__isnull=True) | Q(last_step__lt=step), id=row.id).update(
            last_step=step
        )
        return "TOTP" if spent else None
    spent = await RecoveryCode.filter(
        account_id=account_id, code_hash=_recovery_hash(rt, code), used_at__isnull=True
    ).update(used_at=rt.clock.now())
    return "RECOVERY_CODE" if spent else None


async def prove_with_code(
    rt: Runtime, session: Session, code: str, client: ClientInfo
) -> Proved | BadCredentials | TooMany:
    """Re-authentication by a second-factor code (for the reauth page and `reauthenticate`)."""
    account_id = session.account.id
    if (limited := await rt.throttle.check(WRONG_CODES_PER_ACCOUNT, str(account_id))) is not None:
        return limited
    if await check_code(rt, account_id, code) is None:
        await rt.throttle.hit(WRONG_CODES_PER_ACCOUNT, str(account_id))
        await record(rt, "reauth.failure", actor_id=account_id, subject_id=account_id, client=client)
        return BadCredentials()
    await mark_proved(rt, session)
    return Proved()


async def prove_again(
    rt: Runtime, session: Session, password: str | None, code: str | None, client: ClientInfo
) -> ProofOutcome | Invalid:
    """Re-authentication as the reauth page and `reauthenticate` take it: by the second-factor code when one is
    given, else by the password; with neither, the password is missing."""
    if code:
        return await prove_with_code(rt, session, code, client)
    if password:
        return await prove(rt, session, password, client)
    return Invalid.of(FieldProblem("password", FieldCode.REQUIRED))


async def recovery_codes_left(account_id: UUID) -> int:
    return await RecoveryCode.filter(account_id=account_id, used_at__isnull=True).count()


async def pending_enrollment(rt: Runtime, account: Account) -> EnrollmentStarted | None:
    """The secret waiting for its first code (to show the QR code again after a wrong code)."""
    row = await TotpCredential.filter(account_id=account.id).first()
    if row is None or row.pending_sealed is None:
        return None
    return _enrollment(account, _unseal(rt, account.id, row.pending_sealed))
