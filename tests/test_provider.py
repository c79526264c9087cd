"""The OpenID Provider for partners, driven over HTTP through the ASGI app: the negative cases and the rules."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from portal.core.tokens import new_token
from portal.identity.provider import revoke_partner_tokens
from portal.identity.provider.partners import list_consents, revoke_consent
from portal.identity.provider.server import CODE
from portal.models.provider import AuthorizationCode, PartnerGrant
from tests.helpers import (
    PUBLIC_URL,
    REDIRECT,
    auth_params,
    exchange,
    get_code,
    hidden,
    partner,
    query_of,
    signed_in,
    userinfo,
)


async def test_discovery_and_jwks(client):
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == PUBLIC_URL
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    assert "implicit" not in meta["grant_types_supported"] and "password" not in meta["grant_types_supported"]
    jwks = (await client.get(urlsplit(meta["jwks_uri"]).path)).json()
    algs = {k["alg"] for k in jwks["keys"]}
    assert {"RS256", "ES256"} <= algs
    assert all("d" not in k for k in jwks["keys"])  # public halves only


async def test_code_flow_id_token_userinfo_refresh_rotation_and_replay(client, gql, make_account, rt):
    account = await signed_in(client, gql, make_account)
    client_id, secret = await partner(rt)
    verifier = new_token()
    params = auth_params(client_id, verifier)
    answer = await get_code(client, params)
    assert answer["state"] == params["state"] and answer["iss"] == PUBLIC_URL

    response = await exchange(client, client_id, secret, answer["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    keys = KeySet.import_key_set((await client.get("/oauth/jwks")).json())
    token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    claims = token.claims
    assert claims["iss"] == PUBLIC_URL and claims["aud"] == client_id
    assert claims["nonce"] == params["nonce"] and claims["amr"] == ["pwd"]
    assert claims["email"] == account.email and claims["email_verified"] is False
    assert claims["name"] == account.full_name and "at_hash" in claims and "auth_time" in claims
    assert claims["sub"] != str(account.id)  # pairwise, not the database id

    info = (await userinfo(client, tokens["access_token"])).json()
    assert info["sub"] == claims["sub"] and info["email"] == account.email

    # A second sign-in at another partner: a different, unlinkable sub.
    other_id, other_secret = await partner(rt, first_party=True)
    verifier2 = new_token()
    answer2 = await get_code(client, auth_params(other_id, verifier2))
    other = (await exchange(client, other_id, other_secret, answer2["code"], verifier2)).json()
    assert (await userinfo(client, other["access_token"])).json()["sub"] != claims["sub"]

    # Refresh rotates; the spent token replayed kills the family.
    first_refresh = tokens["refresh_token"]
    rotated = await client.post(
        "/oauth/token", data=dict(grant_type="refresh_token", refresh_token=first_refresh), auth=(client_id, secret)
    )
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()
    assert fresh["refresh_token"] != first_refresh
    assert (await userinfo(client, fresh["access_token"])).status_code == 200
    replay = await client.post(
        "/oauth/token", data=dict(grant_type="refresh_token", refresh_token=first_refresh), auth=(client_id, secret)
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert (await userinfo(client, fresh["access_token"])).status_code == 401
    again = await client.post(
        "/oauth/token",
        data=dict(grant_type="refresh_token", refresh_token=fresh["refresh_token"]),
        auth=(client_id, secret),
    )
    assert again.status_code == 400
    # The other partner's tokens are untouched.
    assert (await userinfo(client, other["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "variant",
    [
        REDIRECT + "/",
        "https://Partner.example.com/callback",
        REDIRECT + "?x=1",
        "https://partner.example.com/other/../callback",
        "https://evil.partner.example.com/callback",
        "http://partner.example.com/callback",
        "https://partner.example.com/callback#frag",
        "",
    ],
)
async def test_redirect_uri_must_match_exactly_and_is_refused_on_a_page(client, gql, make_account, rt, variant):
    await signed_in(client, gql, make_account)
    client_id, _ = await partner(rt)
    response = await client.get("/oauth/authorize", params=auth_params(client_id, new_token(), redirect_uri=variant))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"


async def test_unknown_client_is_refused_on_a_page(client):
    response = await client.get("/oauth/authorize", params=auth_params("nobody", new_token()))
    assert response.status_code == 400 and "location" not in response.headers


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge": "", "code_challenge_method": ""},  # PKCE missing
        {"code_challenge_method": "plain"},
        {"code_challenge_method": ""},  # defaults to plain in Authlib: refused here
        {"response_type": "token"},  # implicit
        {"response_type": "code id_token"},  # hybrid
        {"scope": "profile"},  # not OpenID Connect
        {"prompt": "none login"},
    ],
)
async def test_bad_requests_redirect_back_with_an_error_and_iss(client, gql, make_account, rt, change):
    await signed_in(client, gql, make_account)
    client_id, _ = await partner(rt)
    params = {k: v for k, v in {**auth_params(client_id, new_token()), **change}.items() if v}
    response = await client.get("/oauth/authorize", params=params)
    assert response.status_code == 302, response.text
    answer = query_of(response)
    assert "code" not in answer and answer["error"]
    assert answer["iss"] == PUBLIC_URL and answer["state"] == params["state"]


async def test_pkce_verifier_rules(client, gql, make_account, rt):
    account = await signed_in(client, gql, make_account)
    client_id, secret = await partner(rt, first_party=True)
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    missing = await exchange(client, client_id, secret, code, "")
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong = await exchange(client, client_id, secret, code, new_token())
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"

    # A downgrade: a code stored without a challenge is refused even with a verifier.
    raw = new_token()
    await AuthorizationCode.create(
        code_hash=rt.tokens.digest(CODE, raw),
        client_id=client_id,
        account=account,
        redirect_uri=REDIRECT,
        scope="openid",
        code_challenge="",
        auth_time=rt.clock.now(),
        expires_at=rt.clock.now() + timedelta(seconds=60),
    )
    downgraded = await exchange(client, client_id, secret, raw, new_token())
    assert downgraded.status_code == 400, downgraded.text


async def test_code_reuse_revokes_its_tokens_and_codes_expire(client, gql, make_account, rt, clock):
    await signed_in(client, gql, make_account)
    client_id, secret = await partner(rt, first_party=True)
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    tokens = (await exchange(client, client_id, secret, code, verifier)).json()
    assert (await userinfo(client, tokens["access_token"])).status_code == 200
    reuse = await exchange(client, client_id, secret, code, verifier)
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert (await userinfo(client, tokens["access_token"])).status_code == 401
    refresh = await client.post(
        "/oauth/token",
        data=dict(grant_type="refresh_token", refresh_token=tokens["refresh_token"]),
        auth=(client_id, secret),
    )
    assert refresh.status_code == 400

    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    clock.advance(61)
    late = await exchange(client, client_id, secret, code, verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


async def test_client_authentication(client, gql, make_account, rt):
    await signed_in(client, gql, make_account)
    client_id, secret = await partner(rt, first_party=True)
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    wrong = await exchange(client, client_id, "not-the-secret", code, verifier)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    no_secret = await exchange(client, client_id, None, code, verifier)  # a confidential client must authenticate
    assert no_secret.status_code in (400, 401) and no_secret.json()["error"] == "invalid_client"
    post = await client.post(
        "/oauth/token",
        data=dict(
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=verifier,
            client_id=client_id,
            client_secret=secret,
        ),
    )
    assert post.status_code == 200, post.text  # client_secret_post works (and the code was not burnt by failures)

    public_id, public_secret = await partner(rt, public=True, first_party=True)
    assert public_secret is None
    verifier = new_token()
    code = (await get_code(client, auth_params(public_id, verifier)))["code"]
    assert (await exchange(client, public_id, None, code, verifier)).status_code == 200


async def test_prompts_consent_and_its_revocation(client, gql, make_account, rt):
    verifier = new_token()
    client_id, secret = await partner(rt)
    none = await client.get("/oauth/authorize", params=auth_params(client_id, verifier, prompt="none"))
    answer = query_of(none)
    assert answer["error"] == "login_required" and answer["iss"] == PUBLIC_URL
    account = await signed_in(client, gql, make_account)
    params = auth_params(client_id, verifier, prompt="none")
    answer = query_of(await client.get("/oauth/authorize", params=params))
    assert answer["error"] == "consent_required" and answer["iss"] == PUBLIC_URL

    page = await client.get("/oauth/authorize", params=auth_params(client_id, verifier))
    assert page.status_code == 200 and "Платёжный сервис" in page.text
    denied = await client.post(
        "/oauth/authorize",
        data=dict(request=hidden(page.text, "request"), csrf=hidden(page.text, "csrf"), decision="deny"),
    )
    assert denied.status_code == 303 and query_of(denied)["error"] == "access_denied"
    forged = await client.post(
        "/oauth/authorize", data=dict(request=hidden(page.text, "request"), csrf="0" * 64, decision="allow")
    )
    assert forged.status_code == 400 and "location" not in forged.headers

    await get_code(client, auth_params(client_id, verifier))  # consents
    quiet = await client.get("/oauth/authorize", params=auth_params(client_id, verifier, prompt="none"))
    assert "code" in query_of(quiet)  # remembered
    again = await client.get("/oauth/authorize", params=auth_params(client_id, verifier, prompt="consent"))
    assert again.status_code == 200  # prompt=consent asks again

    login = await client.get("/oauth/authorize", params=auth_params(client_id, verifier, prompt="login"))
    assert login.status_code == 302 and login.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize")
    old = await client.get("/oauth/authorize", params=auth_params(client_id, verifier, max_age="0"))
    assert old.headers["location"].startswith("/login?")

    consents = await list_consents(account.id)
    assert [c.client_id for c in consents] == [client_id]
    assert await revoke_consent(rt, account.id, client_id)
    assert await list_consents(account.id) == []


async def test_revocation_endpoint_and_sign_out_everywhere(client, gql, make_account, rt):
    account = await signed_in(client, gql, make_account)
    client_id, secret = await partner(rt, first_party=True)

    async def tokens() -> dict[str, str]:
        verifier = new_token()
        code = (await get_code(client, auth_params(client_id, verifier)))["code"]
        return (await exchange(client, client_id, secret, code, verifier)).json()

    first = await tokens()
    revoked = await client.post(
        "/oauth/revoke",
        data=dict(token=first["refresh_token"], token_type_hint="refresh_token"),
        auth=(client_id, secret),
    )
    assert revoked.status_code == 200
    assert (await userinfo(client, first["access_token"])).status_code == 401
    unknown = await client.post("/oauth/revoke", data=dict(token="nonsense"), auth=(client_id, secret))
    assert unknown.status_code == 200  # RFC 7009: an unknown token is not an error

    second = await tokens()
    assert await revoke_partner_tokens(rt, account.id) >= 1
    assert (await userinfo(client, second["access_token"])).status_code == 401
    assert not await PartnerGrant.filter(account_id=account.id, revoked_at__isnull=True).exists()


async def test_rp_initiated_logout(client, gql, make_account, rt):
    await signed_in(client, gql, make_account)
    after = "https://partner.example.com/signed-out"
    client_id, secret = await partner(rt, first_party=True, post_logout_redirect_uris=[after])
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    id_token = (await exchange(client, client_id, secret, code, verifier)).json()["id_token"]

    unregistered = await client.get(
        "/oauth/logout", params=dict(id_token_hint=id_token, post_logout_redirect_uri="https://evil.example/")
    )
    assert "location" not in unregistered.headers  # signed out, but not sent anywhere unregistered
    await signed_in(client, gql, make_account)
    no_hint = await client.get("/oauth/logout", params=dict(post_logout_redirect_uri=after))
    assert no_hint.status_code == 200 and 'name="csrf"' in no_hint.text  # asks to confirm
    assert (await client.get("/oauth/authorize", params=auth_params(client_id, verifier))).status_code == 302

    await get_code(client, auth_params(client_id, verifier))
    out = await client.get(
        "/oauth/logout", params=dict(id_token_hint=id_token, post_logout_redirect_uri=after, state="s1")
    )
    # The hint names another resident's sub (the earlier account), so confirmation is asked instead.
    assert out.status_code == 200
    tampered = id_token[:-4] + ("AAAA" if not id_token.endswith("AAAA") else "BBBB")
    bad = await client.get("/oauth/logout", params=dict(id_token_hint=tampered))
    assert bad.status_code == 400


async def test_logout_with_a_matching_hint_redirects_and_ends_the_session(client, gql, make_account, rt):
    await signed_in(client, gql, make_account)
    after = "https://partner.example.com/signed-out"
    client_id, secret = await partner(rt, first_party=True, post_logout_redirect_uris=[after])
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    id_token = (await exchange(client, client_id, secret, code, verifier)).json()["id_token"]
    cookies = dict(client.cookies)
    out = await client.get(
        "/oauth/logout", params=dict(id_token_hint=id_token, post_logout_redirect_uri=after, state="s1")
    )
    assert out.status_code == 302 and out.headers["location"] == after + "?state=s1"
    client.cookies.update(cookies)  # the old cookie, replayed: its session has ended
    response = await client.get("/oauth/authorize", params=auth_params(client_id, verifier))
    assert response.headers["location"].startswith("/login?next=")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_an_unsigned_or_foreign_id_token_hint_is_not_trusted(client, gql, make_account, rt):
    """docs/security.md #25: the id_token_hint is a JWT we accept, so alg `none`, another key and another
    audience never end a session silently or redirect anywhere."""
    import json

    from joserfc.jwk import RSAKey

    await signed_in(client, gql, make_account)
    after = "https://partner.example.com/signed-out"
    client_id, secret = await partner(rt, first_party=True, post_logout_redirect_uris=[after])
    other_id, _ = await partner(rt, first_party=True, post_logout_redirect_uris=[after])
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    tokens = (await exchange(client, client_id, secret, code, verifier)).json()
    real = tokens["id_token"]
    header, payload, _ = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    unsigned = f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}."
    stranger = RSAKey.generate_key(2048, parameters={"kid": json.loads(base64.urlsafe_b64decode(header + "=="))["kid"]})
    foreign_key = jwt.encode({"alg": "RS256", "kid": stranger.kid}, claims, stranger)
    tampered_audience = f"{header}.{_b64(json.dumps({**claims, 'aud': other_id}).encode())}.{real.split('.')[2]}"
    not_a_jwt_id_token = tokens["access_token"]
    for hint in (unsigned, foreign_key, tampered_audience, not_a_jwt_id_token):
        response = await client.get(
            "/oauth/logout", params=dict(id_token_hint=hint, post_logout_redirect_uri=after, state="s1")
        )
        assert "location" not in response.headers, (hint[:40], response.status_code)
        assert response.status_code in (200, 400), response.status_code
        if response.status_code == 200:
            assert 'name="csrf"' in response.text  # at most, the resident is asked to confirm
        still = await client.get("/oauth/authorize", params=auth_params(client_id, new_token()))
        assert still.headers["location"].startswith(REDIRECT + "?code="), hint[:40]  # the session did not end
    out = await client.get("/oauth/logout", params=dict(id_token_hint=real, post_logout_redirect_uri=after))
    assert out.status_code == 302 and out.headers["location"] == after  # the genuine hint still works


async def test_only_the_code_and_refresh_grants_exist(client, gql, make_account, rt):
    """docs/security.md #35: no password, client-credentials or implicit grant at the token endpoint."""
    account = await signed_in(client, gql, make_account)
    client_id, secret = await partner(rt, first_party=True)
    for grant in (
        dict(grant_type="password", username=account.email, password="correct horse battery staple", scope="openid"),
        dict(grant_type="client_credentials", scope="openid"),
        dict(grant_type="implicit"),
        dict(grant_type="urn:ietf:params:oauth:grant-type:device_code", device_code="x"),
    ):
        response = await client.post("/oauth/token", data=grant, auth=(client_id, secret))
        assert response.status_code == 400, (grant["grant_type"], response.text)
        assert response.json()["error"] == "unsupported_grant_type", response.text
        assert "access_token" not in response.json()


async def test_partner_refresh_tokens_have_an_absolute_lifetime(client, gql, make_account, rt, clock):
    """docs/security.md #37: a refresh token used within its window still dies at the grant's absolute limit."""
    await signed_in(client, gql, make_account)
    client_id, secret = await partner(rt, first_party=True)
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    refresh_token = (await exchange(client, client_id, secret, code, verifier)).json()["refresh_token"]
    window = min(rt.settings.refresh_token_ttl, rt.settings.session_max_age) - 60
    elapsed = 0
    while elapsed + window < rt.settings.session_max_age:
        clock.advance(window)
        elapsed += window
        rotated = await client.post("/oauth/token", data=dict(grant_type="refresh_token", refresh_token=refresh_token),
                                    auth=(client_id, secret))
        assert rotated.status_code == 200, (elapsed, rotated.text)
        refresh_token = rotated.json()["refresh_token"]
    clock.advance(rt.settings.session_max_age - elapsed + 1)
    late = await client.post("/oauth/token", data=dict(grant_type="refresh_token", refresh_token=refresh_token),
                             auth=(client_id, secret))
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant", late.text
