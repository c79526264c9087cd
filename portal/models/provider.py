"""The OpenID Provider for partner systems: clients, signing keys, codes, token families, consents.

Model classes carry `#` comments, not docstrings: Tortoise copies a docstring into the table's SQL comment.
Every secret here (client secrets, codes, access and refresh tokens) is stored only as a keyed hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from portal.models.accounts import Account


class OidcClient(Model):
    # A partner system registered by an operator (`portal oidc-clients add`).

    id = fields.CharField(max_length=64, primary_key=True)  # the client_id
    name = fields.CharField(max_length=200)
    secret_hash = fields.CharField(max_length=64, null=True)  # None: a public client (PKCE only)
    redirect_uris: list[str] = fields.JSONField(default=list)
    post_logout_redirect_uris: list[str] = fields.JSONField(default=list)
    backchannel_logout_uri = fields.CharField(max_length=2000, null=True)
    # Browser origins of a public (SPA) client beyond its redirect URIs' own: CORS on the token endpoints.
    allowed_origins: list[str] = fields.JSONField(default=list)
    first_party = fields.BooleanField(default=False)  # skips the consent page
    id_token_alg = fields.CharField(max_length=8, default="RS256")
    created_at = fields.DatetimeField()

    class Meta:
        table = "oidc_clients"

    @property
    def public(self) -> bool:
        return self.secret_hash is None


class SigningKey(Model):
    # An ID-token signing key. The private part is AES-GCM encrypted under a key derived from the secret.

    kid = fields.CharField(max_length=64, primary_key=True)
    alg = fields.CharField(max_length=8)  # RS256 | ES256
    public_jwk: dict[str, str] = fields.JSONField()
    private_encrypted = fields.TextField()  # base64(nonce || ciphertext), additional data: the kid
    created_at = fields.DatetimeField()
    retired_at = fields.DatetimeField(null=True)  # no longer signs; still published until publish_until
    publish_until = fields.DatetimeField(null=True)

    class Meta:
        table = "oidc_signing_keys"


class AuthorizationCode(Model):
    # One authorization code: at most 60 seconds, spent once; a second use revokes the grant it produced.

    id = fields.BigIntField(primary_key=True)
    code_hash = fields.CharField(max_length=64, unique=True)
    client: fields.ForeignKeyRelation[OidcClient] = fields.ForeignKeyField(
        "models.OidcClient", related_name="codes", on_delete=fields.CASCADE, db_index=True
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="oidc_codes", on_delete=fields.CASCADE, db_index=True
    )
    redirect_uri = fields.CharField(max_length=2000)
    scope = fields.CharField(max_length=500)
    nonce = fields.CharField(max_length=500, null=True)
    code_challenge = fields.CharField(max_length=128)
    code_challenge_method = fields.CharField(max_length=8, default="S256")
    auth_time = fields.DatetimeField()
    auth_method = fields.CharField(max_length=8, default="pwd")
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "oidc_codes"


class PartnerGrant(Model):
    # A token family: born from one code; holds the current access token; its refresh tokens rotate.

    id = fields.UUIDField(primary_key=True)
    client: fields.ForeignKeyRelation[OidcClient] = fields.ForeignKeyField(
        "models.OidcClient", related_name="grants", on_delete=fields.CASCADE, db_index=True
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="partner_grants", on_delete=fields.CASCADE, db_index=True
    )
    code_hash = fields.CharField(max_length=64, db_index=True)  # the code it came from
    scope = fields.CharField(max_length=500)
    access_hash = fields.CharField(max_length=64, unique=True)
    access_expires_at = fields.DatetimeField()
    auth_time = fields.DatetimeField()
    auth_method = fields.CharField(max_length=8, default="pwd")
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()  # absolute: no refresh goes beyond it
    revoked_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "oidc_grants"


class PartnerRefreshToken(Model):
    # One row per refresh token ever issued to a partner; a spent one replayed revokes the family.

    id = fields.BigIntField(primary_key=True)
    grant: fields.ForeignKeyRelation[PartnerGrant] = fields.ForeignKeyField(
        "models.PartnerGrant", related_name="refresh_tokens", on_delete=fields.CASCADE, db_index=True
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "oidc_refresh_tokens"


class Consent(Model):
    # What a resident allowed a partner to know (space-separated scopes); revocable from /account.

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="oidc_consents", on_delete=fields.CASCADE
    )
    client: fields.ForeignKeyRelation[OidcClient] = fields.ForeignKeyField(
        "models.OidcClient", related_name="consents", on_delete=fields.CASCADE, db_index=True
    )
    scope = fields.CharField(max_length=500)
    granted_at = fields.DatetimeField()

    class Meta:
        table = "oidc_consents"
        unique_together = (("account", "client"),)


class PartnerNotice(Model):
    # A back-channel logout owed to a partner: written in the transaction that revoked its tokens, sent
    # after commit by the worker loop (identity/provider/notices.py), retried with backoff, then given up.

    id = fields.BigIntField(primary_key=True)
    client: fields.ForeignKeyRelation[OidcClient] = fields.ForeignKeyField(
        "models.OidcClient", related_name="notices", on_delete=fields.CASCADE, db_index=True
    )
    client_id: str
    subject = fields.CharField(max_length=128)  # the partner's pairwise `sub` of the resident
    created_at = fields.DatetimeField()
    next_attempt_at = fields.DatetimeField(db_index=True)
    attempts = fields.IntField(default=0)
    claimed_until = fields.DatetimeField(null=True)
    claim_token = fields.CharField(max_length=32, null=True, db_index=True)
    sent_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "oidc_partner_notices"
