"""Personal accounts (лицевые счета) from the organisation's registry, the codes printed on bills,
mailed invitations.

Model classes carry `#` comments, not docstrings: Tortoise copies a docstring into the table's SQL comment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from portal.models.accounts import Account


class PersonalAccount(Model):
    # One лицевой счёт as the registry knows it. The resident's contact data is the registry's own record
    # (used to invite and to check the import); an Account holds the flat once a resident claims it.
    id = fields.BigIntField(primary_key=True)
    number = fields.CharField(max_length=32, unique=True)
    address = fields.CharField(max_length=500)
    area = fields.CharField(max_length=16, null=True)  # square metres as the registry writes it, e.g. "54.3"
    share = fields.CharField(max_length=16, null=True)  # a share of ownership, e.g. "1/2"
    external_id = fields.CharField(max_length=64, null=True)  # the organisation's own id for the flat
    full_name = fields.CharField(max_length=200, null=True)
    email = fields.CharField(max_length=254, null=True, db_index=True)
    phone = fields.CharField(max_length=20, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    claimed_at = fields.DatetimeField(null=True, db_index=True)  # first activation by a resident
    holders: fields.ManyToManyRelation[Account] = fields.ManyToManyField(
        "models.Account", related_name="personal_accounts", through="personal_account_holders"
    )

    class Meta:
        table = "personal_accounts"


class ResidentToken(Model):
    # A one-time secret that lets a resident in: a code printed on the bill (`code`), an invitation link
    # (`invite`). Stored only as a keyed hash; spent by one conditional UPDATE; a newer one voids older ones.
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=8)  # code | invite
    personal_account: fields.ForeignKeyRelation[PersonalAccount] = fields.ForeignKeyField(
        "models.PersonalAccount", related_name="tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    email = fields.CharField(max_length=254, null=True)  # an invitation's address
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    voided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "resident_tokens"
        indexes = (("personal_account_id", "kind"),)

