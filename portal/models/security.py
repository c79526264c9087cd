"""The resident's own security: mailed confirmation links, second factors, passkeys and their challenges.

Model classes carry `#` comments, not docstrings: Tortoise copies a docstring into the table's SQL comment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from portal.models.accounts import Account, Session


class EmailToken(Model):
    # A mailed single-use link about an e-mail address, stored only as a keyed hash. `purpose` says which
    # flow it belongs to (`email-change`: confirm the new address; `email-change-cancel`: the old address's
    # "this was not me"; other flows, e.g. activation, add their own). Spent by one conditional UPDATE.
    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="email_tokens", on_delete=fields.CASCADE, db_index=True
    )
    purpose = fields.CharField(max_length=32)
    token_hash = fields.CharField(max_length=64, unique=True)
    email = fields.CharField(max_length=254, null=True)  # the address the link is about (the new one)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)
    voided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "email_tokens"


class TotpCredential(Model):
    # An authenticator app (RFC 6238). The secret is sealed with AES-GCM under a key derived from the portal
    # secret; `confirmed_at` is null while enrolment waits for the first code. `last_step`: the newest time
    # step accepted, so each code works once (a code is refused unless its step is newer).
    id = fields.BigIntField(primary_key=True)
    account: fields.OneToOneRelation[Account] = fields.OneToOneField(
        "models.Account", related_name="totp", on_delete=fields.CASCADE
    )
    secret_sealed = fields.CharField(max_length=255, null=True)  # the secret in use (None until confirmed)
    pending_sealed = fields.CharField(max_length=255, null=True)  # a new secret waiting for its first code
    created_at = fields.DatetimeField()
    confirmed_at = fields.DatetimeField(null=True)
    last_step = fields.BigIntField(null=True)

    class Meta:
        table = "totp_credentials"


class RecoveryCode(Model):
    # One single-use recovery code, stored only as a keyed hash.
    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="recovery_codes", on_delete=fields.CASCADE, db_index=True
    )
    code_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recovery_codes"


class SecondFactorChallenge(Model):
    # The half-finished sign-in between a correct password and the second factor: 5 minutes, single use.
    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="second_factor_challenges", on_delete=fields.CASCADE, db_index=True
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "second_factor_challenges"


class Passkey(Model):
    # A WebAuthn credential (passkey). The public key only; the sign count and backup flags as last seen.
    id = fields.UUIDField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="passkeys", on_delete=fields.CASCADE, db_index=True
    )
    credential_id = fields.CharField(max_length=1400, unique=True)  # base64url, up to 1023 bytes
    public_key = fields.TextField()  # base64url COSE key
    name = fields.CharField(max_length=64)
    sign_count = fields.BigIntField(default=0)
    transports = fields.CharField(max_length=200, null=True)  # comma-separated hints from the browser
    backup_eligible = fields.BooleanField(default=False)
    backed_up = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "passkeys"


class WebAuthnChallenge(Model):
    # One WebAuthn ceremony's challenge: single use, 5 minutes, bound to the session (registration) or to
    # the browser or app that asked (sign-in) through `handle_hash`, the keyed hash of a handle it holds.
    id = fields.BigIntField(primary_key=True)
    purpose = fields.CharField(max_length=16)  # register | authenticate
    handle_hash = fields.CharField(max_length=64, unique=True)
    challenge = fields.CharField(max_length=128)  # base64url
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="webauthn_challenges", on_delete=fields.CASCADE, null=True, db_index=True
    )
    session: fields.ForeignKeyNullableRelation[Session] = fields.ForeignKeyField(
        "models.Session", related_name="webauthn_challenges", on_delete=fields.CASCADE, null=True, db_index=True
    )
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webauthn_challenges"


class KnownBrowser(Model):
    # A browser an account has signed in from: the keyed hash of a random id the browser keeps in a
    # long-lived HttpOnly cookie. A sign-in from a browser not listed here sends a letter.
    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="known_browsers", on_delete=fields.CASCADE
    )
    browser_hash = fields.CharField(max_length=64)
    first_seen_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()

    class Meta:
        table = "known_browsers"
        unique_together = (("account", "browser_hash"),)
