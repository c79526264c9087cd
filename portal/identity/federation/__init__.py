"""Federated sign-in through OpenID Connect providers, with Authlib as the protocol client.

The flow, like password sign-in and reset, is an explicit state machine: `start` writes a single-use flow
(state, nonce, PKCE verifier, where to return, whom to link) bound to the browser by a cookie value;
`complete` spends it, checks RFC 9207's `iss`, exchanges the code, validates the ID token and ends in a
session (browser) or a one-time login code (mobile app) that `exchange_login_code` trades for a session.

Authlib's Starlette client keeps state in `request.session`; we keep it server-side instead (one row per
flow, nothing on /graphql's path) and use Authlib's httpx client for PKCE, the authorization URL and the
token request, and joserfc/Authlib's `CodeIDToken` for the ID token.
"""

from portal.identity.federation.callback import complete
from portal.identity.federation.links import linked_identities, unlink
from portal.identity.federation.mobile import exchange_login_code
from portal.identity.federation.outcomes import (
    FLOW_TTL,
    CallbackOutcome,
    CodeIssued,
    CodeRefused,
    Failed,
    LastWayToSignIn,
    Link,
    NotLinked,
    SignedIn,
    Started,
    Unlinked,
)
from portal.identity.federation.return_urls import check_return_to
from portal.identity.federation.start import start

__all__ = [
    "FLOW_TTL", "CallbackOutcome", "CodeIssued", "CodeRefused", "Failed", "LastWayToSignIn", "Link", "NotLinked",
    "SignedIn", "Started", "Unlinked", "check_return_to", "complete", "exchange_login_code", "linked_identities",
    "start", "unlink",
]
