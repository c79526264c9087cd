"""Federated sign-in on the pages: the provider buttons, starting a sign-in or a link, unlinking.

The same service functions as GraphQL's `identityProviders`, `startFederatedSignIn` and `unlinkIdentity`
(identity.federation); the provider sends the browser back to /auth/federated/{provider}/callback.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.api.pages.web import PageGroup, safe_next
from portal.core.errors import Invalid
from portal.core.runtime import Runtime
from portal.identity import federation
from portal.identity.provider.flow import AUTHORIZE_PATH
from portal.schema.federation import binding_cookie_name


def provider_buttons(rt: Runtime) -> list[dict[str, Any]]:
    """[{id, name}] of the configured identity providers, in configured order."""
    return [{"id": p.id, "name": p.name} for p in rt.providers.configs.values()]


async def linked_identities(rt: Runtime, account_id: UUID) -> list[federation.Link]:
    return await federation.linked_identities(rt, account_id)


class ProviderPages(PageGroup):
    async def start(self, request: Request) -> Response:
        """POST /login/federated: off to the provider (signed in: to link it to this account)."""
        visit = await self.pages.visit(request)
        csrf_ok = await self.pages.read_form(visit)
        target = safe_next(visit.value("next"), self.rt.settings.public_url)
        back = "/account" if visit.account else "/login"
        if not csrf_ok:
            return self.pages.redirect(visit, back)  # a stale button: show the page again, nothing started
        # For a partner's authorization request (the sign-in page, also when re-authenticating) it is a sign-in,
        # never a link: linking starts from /account.
        linking_to = None if target.startswith(AUTHORIZE_PATH) else visit.account
        outcome = await federation.start(self.rt, visit.value("provider", 64), target, visit.client, linking_to)
        if isinstance(outcome, Invalid):
            code = outcome.problems[0].code if outcome.problems else "UNKNOWN_PROVIDER"
            return self.pages.redirect(visit, f"{back}?problem={code}")
        response = RedirectResponse(outcome.authorization_url, status_code=303)
        self.pages.finish(visit, response)
        if outcome.binding is not None:
            response.set_cookie(
                binding_cookie_name(self.rt.settings.secure_cookies),
                outcome.binding,
                max_age=federation.FLOW_TTL,
                path="/",
                secure=self.rt.settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
        return response

    async def unlink(self, request: Request) -> Response:
        """POST /account/identities/unlink: never the last way to sign in."""
        visit = await self.pages.visit(request)
        if visit.account is None:
            return self.pages.sign_in_first(visit, back="/account")
        if not await self.pages.read_form(visit):
            return self.pages.redirect(visit, "/account?problem=EXPIRED")
        outcome = await federation.unlink(self.rt, visit.account, visit.value("provider", 64), visit.client)
        if isinstance(outcome, federation.NotLinked):
            return self.pages.redirect(visit, "/account?problem=NOT_LINKED")
        if isinstance(outcome, federation.LastWayToSignIn):
            return self.pages.redirect(visit, "/account?problem=LAST_SIGN_IN_METHOD")
        return self.pages.redirect(visit, "/account?notice=unlinked")


# Problems a page may show after a redirect: the query names a code, never text.
PROBLEMS = {
    "UNKNOWN_PROVIDER": "UNKNOWN_PROVIDER",
    "PROVIDER_UNAVAILABLE": "PROVIDER_UNAVAILABLE",
    "RETURN_URL_NOT_ALLOWED": "RETURN_URL_NOT_ALLOWED",
    "NOT_LINKED": "NOT_LINKED",
    "LAST_SIGN_IN_METHOD": "LAST_SIGN_IN_METHOD",
    "EXPIRED": "form.expired",
}


def problem_from_query(request: Request) -> str | None:
    """The i18n key of a `?problem=` code, if it is one of ours."""
    return PROBLEMS.get(request.query_params.get("problem", ""))

