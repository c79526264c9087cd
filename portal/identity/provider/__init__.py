"""The OpenID Provider for partner systems (Authlib's server side): code flow with PKCE S256 only."""

from portal.identity.provider.partners import list_consents, revoke_consent, revoke_partner_tokens

__all__ = ["list_consents", "revoke_consent", "revoke_partner_tokens"]
