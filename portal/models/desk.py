"""The staff desk: internal notes, ownership checks and assisted recoveries, each tied to a ticket number.

Assignment and status history live on the ticket itself (models.support).

Tickets are referred to by their unique number rather than a foreign key, so the desk does not depend on
how the ticket aggregate stores itself; accounts are foreign keys that survive erasure (SET NULL).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from portal.models.accounts import Account


class Evidence(StrEnum):
    FULL_NAME = "full_name"
    REGISTERED_ADDRESS = "registered_address"
    PHONE_ON_FILE = "phone_on_file"
    PERSONAL_ACCOUNT_NUMBER = "personal_account_number"
    DOCUMENTS_SEEN = "documents_seen"


class VerificationOutcome(StrEnum):
    VERIFIED = "verified"
    NOT_VERIFIED = "not_verified"


class RecoveryKind(StrEnum):
    RESET_LINK = "reset_link"  # a reset link to the account's own e-mail
    EMAIL_CHANGE = "email_change"  # a new e-mail from the ticket, effective when its reset link is used
    SECOND_FACTOR = "second_factor"  # removing a lost second factor (TOTP, recovery codes), on approval


class RecoveryStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    SENT = "sent"
    COMPLETED = "completed"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class TicketNote(Model):
    # An internal note on a ticket: written by staff for staff, never shown to the resident.
    id = fields.BigIntField(primary_key=True)
    ticket_number = fields.CharField(max_length=32, db_index=True)
    author: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="desk_notes_written", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    body = fields.TextField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "desk_notes"


class OwnershipVerification(Model):
    # A staff member's record of which evidence tied a ticket's author to an account, and the outcome.
    id = fields.BigIntField(primary_key=True)
    ticket_number = fields.CharField(max_length=32, db_index=True)
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="ownership_verifications", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    staff: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="ownership_verifications_made", null=True, on_delete=fields.SET_NULL,
        db_index=True,
    )
    evidence: list[str] = fields.JSONField(default=list)  # Evidence values that matched
    documents = fields.CharField(max_length=300, null=True)  # which documents were seen; never copies of them
    comment = fields.TextField(null=True)
    outcome = fields.CharEnumField(VerificationOutcome, max_length=16)
    created_at = fields.DatetimeField()

    class Meta:
        table = "desk_verifications"


class RecoveryRequest(Model):
    # Assisted recovery on a verified ticket. An e-mail change waits for an admin's approval, then for the
    # new address to use its reset link; only then does the account's e-mail change.
    id = fields.UUIDField(primary_key=True)
    ticket_number = fields.CharField(max_length=32, db_index=True)
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="recovery_requests", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    kind = fields.CharEnumField(RecoveryKind, max_length=16)
    status = fields.CharEnumField(RecoveryStatus, max_length=20)
    new_email = fields.CharField(max_length=254, null=True)
    old_email = fields.CharField(max_length=254, null=True)
    requested_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="recoveries_requested", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    decided_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="recoveries_decided", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    reset_token_ref = fields.CharField(max_length=64, null=True, db_index=True)  # the reset token it is bound to
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "desk_recoveries"


# PostgreSQL-only extras that the generated migration cannot express, applied by `portal migrate` (api.db)
# after the migrations, idempotently: trigram indexes so the staff queue's substring search over names and
# identifiers stays an index lookup as tickets pile up. The expressions match what Tortoise emits for
# `icontains` (UPPER(CAST(col AS VARCHAR)) LIKE UPPER(...)). Without the extension the search still works,
# only by a sequential scan.
POSTGRES_EXTRAS = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS desk_tickets_full_name_trgm ON support_tickets "
    "USING gin ((UPPER(CAST(full_name AS VARCHAR))) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS desk_tickets_identifier_trgm ON support_tickets "
    "USING gin ((UPPER(CAST(account_identifier AS VARCHAR))) gin_trgm_ops)",
    # A many-to-many table's second column gets no index from Tortoise: an account's flats (the desk's page).
    "CREATE INDEX IF NOT EXISTS personal_account_holders_account ON personal_account_holders (account_id)",
)
