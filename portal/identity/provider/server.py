"""Authlib's authorization server wired to our storage.

Authlib's storage hooks are synchronous and Tortoise is async, so the bridge is deliberate: the async
caller (identity.provider.flow) loads everything a grant can ask for into a `Loaded` bound to the
current task, runs Authlib, and then persists what Authlib asked to save (`Loaded.pending_*`) in one
transaction, spending codes and refresh tokens there with a single conditional UPDATE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet

from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from portal.identity.provider.keys import KeyRing
from portal.models.accounts import Account
from portal.models.provider import AuthorizationCode, OidcClient, PartnerGrant, PartnerRefreshToken

SCOPES = ("openid", "profile", "email", "phone", "offline_access")
OFFLINE = "offline_access"  # OIDC Core 11: a refresh token, so the partner keeps access while the resident is away
CODE_TTL_SECONDS = 60
ID_TOKEN_TTL_SECONDS = 300
CLIENT_SECRET = "oidc-client-secret"
CODE = "oidc-code"
ACCESS = "oidc-access"
REFRESH = "oidc-refresh"
SUB = "oidc-sub"
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def known_scopes(scope: str | None) -> str:
    """The scope values this provider serves, in the order asked, each once; unknown ones are dropped
    (OIDC Core 3.1.2.1: ignored, and left out of the grant)."""
    return " ".join(dict.fromkeys(s for s in (scope or "").split() if s in SCOPES))


def gets_refresh_token(client: OidcClient, scope: str | None) -> bool:
    """Refresh tokens only when `offline_access` was asked for (and granted); the operator's first-party
    clients always get one (their residents expect to stay signed in, as in the portal's own apps)."""
    return client.first_party or OFFLINE in (scope or "").split()


def pairwise_sub(rt: Runtime, client_id: str, account_id: object) -> str:
    """`sub` is pairwise per client: stable for one partner, unlinkable across partners."""
    digest = hmac.new(rt.tokens.key(SUB), f"{client_id}:{account_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def claims_for(rt: Runtime, account: Account, client_id: str, scope: str) -> dict[str, Any]:
    """The standard claims a scope allows: profile (name), email, phone."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": pairwise_sub(rt, client_id, account.id)}
    if "profile" in scopes:
        claims["name"] = account.full_name
    if "email" in scopes and account.email:
        claims["email"] = account.email
        claims["email_verified"] = bool(account.email_verified)
    if "phone" in scopes and account.phone:
        claims["phone_number"] = account.phone
        claims["phone_number_verified"] = bool(getattr(account, "phone_verified", False))
    return claims


@dataclass
class PlainRequest:
    """An HTTP request as plain data, so the provider never sees a web framework's objects."""

    method: str
    uri: str  # PORTAL_PUBLIC_URL + path + query: never built from the Host header
    headers: dict[str, str]
    args: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class PortalRequest(OAuth2Request):  # type: ignore[misc]
    """Supplies `args`, `form` and the payload Authlib reads (client authentication reads `form`)."""

    def __init__(self, plain: PlainRequest) -> None:
        super().__init__(plain.method, plain.uri, headers=plain.headers)
        self._args = dict(plain.args)
        self._form = dict(plain.form)
        self.payload = _Payload([*plain.args, *plain.form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Reply:
    """What Authlib answers: status, body, headers; `location` is rewritable (RFC 9207 adds `iss`)."""

    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"] + [("Location", value)]


@dataclass
class Loaded:
    """Everything the sync hooks may read, loaded beforehand; and what they asked to write."""

    rt: Runtime
    keys: KeyRing
    clients: dict[str, OidcClient] = field(default_factory=dict)
    client_id: str = ""
    code: AuthorizationCode | None = None
    refresh: PartnerRefreshToken | None = None
    grant_by_access: PartnerGrant | None = None
    published: KeySet | None = None
    auth_time: int | None = None
    auth_method: str = "pwd"
    pending_code: dict[str, Any] | None = None
    pending_token: dict[str, Any] | None = None
    spend_code: AuthorizationCode | None = None
    spend_refresh: PartnerRefreshToken | None = None
    revoke: PartnerGrant | PartnerRefreshToken | None = None
    end_session: Any = None


_current: ContextVar[Loaded] = ContextVar("oidc_loaded")


@contextmanager
def bound(loaded: Loaded) -> Iterator[Loaded]:
    token = _current.set(loaded)
    try:
        yield loaded
    finally:
        _current.reset(token)


def current() -> Loaded:
    return _current.get()


class ClientView(ClientMixin):  # type: ignore[misc]
    """A registered client as Authlib sees it: exact redirect URIs, code flow only, hashed secret."""

    def __init__(self, row: OidcClient) -> None:
        self.row = row
        self.id_token_signed_response_alg = row.id_token_alg
        self.client_metadata = {"post_logout_redirect_uris": list(row.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.row.id

    def get_default_redirect_uri(self) -> None:
        return None  # redirect_uri is always required

    def get_allowed_scope(self, scope: str | None) -> str:
        return known_scopes(scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # the registered string, exactly

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.secret_hash is None:
            return False
        rt = current().rt
        return rt.tokens.equal(rt.tokens.digest(CLIENT_SECRET, client_secret), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class CodeView:
    """A stored authorization code as Authlib and its OIDC extension read it."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return [self.row.auth_method]


class TokenView:
    """A refresh token (or, for revocation, an access token's grant) as Authlib reads it."""

    def __init__(self, row: PartnerRefreshToken | PartnerGrant, grant: PartnerGrant) -> None:
        self.row = row
        self.grant = grant

    def check_client(self, client: ClientView) -> bool:
        return bool(self.grant.client_id == client.row.id)  # type: ignore[attr-defined]

    def get_scope(self) -> str:
        return self.grant.scope

    @property
    def is_refresh(self) -> bool:
        return isinstance(self.row, PartnerRefreshToken)

    def expires_at(self) -> Any:
        return self.row.expires_at if isinstance(self.row, PartnerRefreshToken) else self.grant.access_expires_at

    def is_expired(self) -> bool:
        return bool(self.expires_at() <= current().rt.clock.now())

    def is_revoked(self) -> bool:
        spent = isinstance(self.row, PartnerRefreshToken) and self.row.used_at is not None
        return spent or self.grant.revoked_at is not None or not self.grant.account.is_active


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only: no challenge, `plain`, or a verifier without a challenge is refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with method S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only the S256 'code_challenge_method' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def generate_authorization_code(self) -> str:
        return new_token()

    def save_authorization_code(self, code: str, request: PortalRequest) -> None:
        loaded = current()
        data = request.payload.data
        loaded.pending_code = {
            "code": code,
            "client_id": request.client.get_client_id(),
            "account": request.user,
            "redirect_uri": data["redirect_uri"],
            "scope": request.scope,
            "nonce": data.get("nonce"),
            "code_challenge": data["code_challenge"],
            "auth_time": loaded.auth_time,
            "auth_method": loaded.auth_method,
        }

    def query_authorization_code(self, code: str, client: ClientView) -> CodeView | None:
        loaded = current()
        row = loaded.code
        rt = loaded.rt
        if (
            row is None
            or not rt.tokens.equal(row.code_hash, rt.tokens.digest(CODE, code))
            or row.client_id != client.row.id  # type: ignore[attr-defined]
            or row.used_at is not None
            or row.expires_at <= rt.clock.now()
            or not row.account.is_active  # disabled or erased since the code was issued
        ):
            return None
        return CodeView(row)

    def delete_authorization_code(self, authorization_code: CodeView) -> None:
        current().spend_code = authorization_code.row

    def authenticate_user(self, authorization_code: CodeView) -> Account:
        return authorization_code.row.account


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation on every use

    def authenticate_refresh_token(self, refresh_token: str) -> TokenView | None:
        loaded = current()
        row = loaded.refresh
        rt = loaded.rt
        now = rt.clock.now()
        if row is None or not rt.tokens.equal(row.token_hash, rt.tokens.digest(REFRESH, refresh_token)):
            return None
        grant = row.grant
        if row.used_at is not None or row.expires_at <= now or grant.revoked_at is not None or grant.expires_at <= now:
            return None
        if not grant.account.is_active:
            return None
        return TokenView(row, grant)

    def authenticate_user(self, refresh_token: TokenView) -> Account:
        return refresh_token.grant.account

    def revoke_old_credential(self, refresh_token: TokenView) -> None:
        current().spend_refresh = refresh_token.row  # type: ignore[assignment]


class IdToken(OpenIDCode):  # type: ignore[misc]
    """ID tokens signed with the already imported key; `iss`, `aud`, `iat`, `exp` from our clock."""

    def resolve_client_private_key(self, client: ClientView) -> Any:
        return current().keys.signing_key(client.row.id_token_alg).key

    def get_encode_header(self, client: ClientView) -> dict[str, str]:
        key = current().keys.signing_key(client.row.id_token_alg)
        return {"alg": key.alg, "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client: ClientView) -> dict[str, Any]:
        loaded = current()
        now = int(loaded.rt.clock.now().timestamp())
        return {
            "iss": loaded.rt.settings.public_url,
            "aud": client.row.id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL_SECONDS,
        }

    def exists_nonce(self, nonce: str, request: PortalRequest) -> bool:
        return False  # codes are single use, so a nonce cannot be replayed through them

    def generate_user_info(self, user: Account, scope: str) -> UserInfo:
        loaded = current()
        return UserInfo(claims_for(loaded.rt, user, loaded.client_id, scope))


def _query_token(token_string: str) -> TokenView | None:
    """The refresh token or the access token's grant loaded beforehand, if `token_string` is one of them."""
    loaded = current()
    rt = loaded.rt
    refresh = loaded.refresh
    if refresh is not None and rt.tokens.equal(refresh.token_hash, rt.tokens.digest(REFRESH, token_string)):
        return TokenView(refresh, refresh.grant)
    grant = loaded.grant_by_access
    if grant is not None and rt.tokens.equal(grant.access_hash, rt.tokens.digest(ACCESS, token_string)):
        return TokenView(grant, grant)
    return None


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenView | None:
        return _query_token(token_string)

    def revoke_token(self, token: TokenView, request: PortalRequest) -> None:
        current().revoke = token.row


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 for a partner's own API: confidential clients only, and only for tokens issued to them."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenView | None:
        return _query_token(token_string)

    def check_permission(self, token: TokenView, client: ClientView, request: PortalRequest) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: TokenView) -> dict[str, Any]:
        loaded = current()
        grant = token.grant
        client_id = grant.client_id  # type: ignore[attr-defined]
        return {
            "active": True,
            "client_id": client_id,
            "token_type": "refresh_token" if token.is_refresh else "Bearer",
            "scope": grant.scope,
            "sub": pairwise_sub(loaded.rt, client_id, grant.account_id),  # type: ignore[attr-defined]
            "aud": client_id,
            "iss": loaded.rt.settings.public_url,
            "exp": int(token.expires_at().timestamp()),
            "iat": int(grant.created_at.timestamp()),
            "auth_time": int(grant.auth_time.timestamp()),
        }


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    def get_server_jwks(self) -> KeySet:
        published = current().published
        assert published is not None
        return published

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def end_session(self, end_session_request: Any) -> None:
        current().end_session = end_session_request


class Server(AuthorizationServer):  # type: ignore[misc]
    """The portal's authorization server: code flow + PKCE S256, refresh rotation, RFC 7009, 7662 and 9207."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.rt = rt
        self.register_token_generator("default", self._generate_token)
        self.register_grant(CodeGrant, [S256Only(required=True), IdToken(require_nonce=False)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_endpoint(EndSession)
        self.register_extension(_Issuer(rt.settings.public_url))

    def validate_requested_scope(self, scope: str | None) -> None:
        """Unknown scope values are ignored, not refused (flow drops them before Authlib sees the request)."""

    def query_client(self, client_id: str) -> ClientView | None:
        row = current().clients.get(client_id)
        return ClientView(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: PortalRequest) -> None:
        current().pending_token = token

    def create_oauth2_request(self, request: Any) -> PortalRequest:
        return request if isinstance(request, PortalRequest) else PortalRequest(request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Reply:
        return Reply(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def _generate_token(
        self,
        grant_type: str,
        client: ClientView,
        user: Account | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": new_token(),
            "expires_in": expires_in or self.rt.settings.access_token_ttl,
            "scope": scope or "",
        }
        if include_refresh_token and gets_refresh_token(client.row, scope):
            token["refresh_token"] = new_token()
        return token


class _Issuer(IssuerParameter):  # type: ignore[misc]
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer

    def __call__(self, authorization_server: Any) -> _Issuer:
        super().__call__(authorization_server)
        return self
