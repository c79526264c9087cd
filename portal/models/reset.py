"""Password-reset tokens, stored only as keyed hashes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from portal.models.accounts import Account


class PasswordResetToken(Model):
    # One mailed reset link. Live while used_at and voided_at are null and expires_at is ahead;
    # spending it is one conditional UPDATE. Rows with no account are decoys written for unknown
    # identifiers (born voided) so that every request does the same database work.
    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="reset_tokens", on_delete=fields.CASCADE, null=True, db_index=True
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)
    voided_at = fields.DatetimeField(null=True)
    client_address = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "password_reset_tokens"
