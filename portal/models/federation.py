"""Federated sign-in: linked provider identities, started flows and one-time mobile login codes."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from portal.models.accounts import Account


class FederatedIdentity(Model):
    # An account's identity at an OpenID Provider, keyed by (issuer, subject): never by e-mail.
    id = fields.UUIDField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="federated_identities", on_delete=fields.CASCADE, db_index=True
    )
    provider = fields.CharField(max_length=32)  # the configured provider id it was linked through
    issuer = fields.CharField(max_length=255)
    subject = fields.CharField(max_length=255)
    email = fields.CharField(max_length=254, null=True)  # as the provider last said, for display only
    linked_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "federated_identities"
        unique_together = (("issuer", "subject"),)


class FederationFlow(Model):
    # A started federated sign-in: single use, short-lived, bound to the browser that started it
    # (binding_hash: keyed hash of a cookie value) unless it returns to a mobile app with a login code.
    id = fields.UUIDField(primary_key=True)
    state_hash = fields.CharField(max_length=64, unique=True)
    binding_hash = fields.CharField(max_length=64, null=True)
    provider = fields.CharField(max_length=32)
    nonce = fields.CharField(max_length=128)
    code_verifier = fields.CharField(max_length=128)
    return_to = fields.CharField(max_length=2048)
    mobile = fields.BooleanField(default=False)
    link_account_id = fields.UUIDField(null=True)  # set when a signed-in resident links a provider
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "federation_flows"


class LoginCode(Model):
    # The one-time code a mobile app trades for a session: stored as a keyed hash, lives <= 60 s, used once.
    # For a link started from the app, the identity to link rides along and is linked at the exchange.
    id = fields.BigIntField(primary_key=True)
    code_hash = fields.CharField(max_length=64, unique=True)
    account_id = fields.UUIDField()
    link_provider = fields.CharField(max_length=32, null=True)
    link_issuer = fields.CharField(max_length=255, null=True)
    link_subject = fields.CharField(max_length=255, null=True)
    link_email = fields.CharField(max_length=254, null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "federation_login_codes"
