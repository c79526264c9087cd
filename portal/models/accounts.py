"""Accounts and their sessions.

Model classes carry `#` comments, not docstrings: Tortoise copies a docstring into the table's SQL comment.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"
    ADMIN = "admin"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Account(Model):
    id = fields.UUIDField(primary_key=True)
    full_name = fields.CharField(max_length=200)
    # Identifiers are stored normalised (see identity.identifiers); each is optional, one is required.
    email = fields.CharField(max_length=254, null=True, unique=True)
    email_verified = fields.BooleanField(default=False)
    phone = fields.CharField(max_length=20, null=True, unique=True)
    login = fields.CharField(max_length=64, null=True, unique=True)
    role = fields.CharEnumField(Role, max_length=16, default=Role.RESIDENT)
    password_hash = fields.CharField(max_length=255, null=True)  # None: signs in only through a provider
    status = fields.CharEnumField(AccountStatus, max_length=16, default=AccountStatus.ACTIVE)
    preferred_language = fields.CharField(max_length=8, default="ru")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    password_changed_at = fields.DatetimeField(null=True)
    # Set when personal data was erased (152-FZ): the row stays as a tombstone.
    erased_at = fields.DatetimeField(null=True)
    # Not columns: what `identity.accounts.find_account` reads in the same statement as the row, so a sign-in
    # or a reset request asks once: a confirmed authenticator app? which identity providers (their ids)?
    # None when the row was read another way.
    has_confirmed_totp: bool | None = None
    provider_ids: tuple[str, ...] | None = None

    class Meta:
        table = "accounts"

    @property
    def is_active(self) -> bool:
        return self.status == AccountStatus.ACTIVE


class Session(Model):
    # A signed-in device. Tokens are stored only as keyed hashes: revoking the row ends them at once.

    id = fields.UUIDField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="sessions", on_delete=fields.CASCADE, db_index=True
    )
    access_hash = fields.CharField(max_length=64, unique=True)
    # The browser's session cookie (identity.sessions.open_browser_session); null for a bearer-only client.
    cookie_hash = fields.CharField(max_length=64, unique=True, null=True)
    access_expires_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()  # absolute limit: no refresh goes beyond it
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True, db_index=True)
    auth_method = fields.CharField(max_length=8, default="pwd")  # pwd | fed
    authenticated_at = fields.DatetimeField(null=True)  # the last proof of the resident (password, second factor, passkey)
    client_address = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=300, null=True)

    class Meta:
        table = "sessions"


class RefreshToken(Model):
    # One row per refresh token ever issued. A spent one replayed revokes its session (the family).

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[Session] = fields.ForeignKeyField(
        "models.Session", related_name="refresh_tokens", on_delete=fields.CASCADE, db_index=True
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"
