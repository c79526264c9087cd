"""/account: the signed-in resident's profile, linked providers, devices and recent security events."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from portal.api.pages.providers import linked_identities, problem_from_query, provider_buttons
from portal.api.pages.web import PageGroup, Visit, describe_device
from portal.identity import email_address, sessions
from portal.identity.challenge import second_factors
from portal.identity.passkeys import list_passkeys
from portal.identity.personal_accounts import holdings_of
from portal.identity.signout import sign_out_other_devices
from portal.support import audit

ACCOUNT_NOTICES = {
    "others-ended": "notice.others_ended",
    "unlinked": "IdentityUnlinked",
    "password-changed": "notice.password_changed",
    "email-change-sent": "notice.email_change_sent",
    "totp-off": "notice.totp_off",
}
# Audit actions a resident sees, by how they read; anything else shows as a generic security event.
EVENT_LABELS = {
    "signin.success": "event.signin_success",
    "signin.failure": "event.signin_failure",
    "password.reset_requested": "event.reset_requested",
    "password.reset": "event.password_reset",
    "password.changed": "event.password_changed",
    "sessions.revoked_others": "event.sessions_revoked_others",
    "federation.linked": "event.identity_linked",
    "federation.unlinked": "event.identity_unlinked",
    "account.created": "event.account_created",
    "account.unlocked": "event.account_unlocked",
    "recovery.reset_link_sent": "event.recovery_link_sent",
    "recovery.email_changed": "event.email_changed_by_staff",
    "activation.success": "event.activated",
    "email.confirmed": "event.email_confirmed",
    "reauth.failure": "event.reauth_failure",
    "email.change_requested": "event.email_change_requested",
    "email.changed": "event.email_changed",
    "email.change_cancelled": "event.email_change_cancelled",
    "totp.enabled": "event.totp_enabled",
    "totp.disabled": "event.totp_disabled",
    "totp.recovery_codes": "event.totp_recovery_codes",
    "signin.second_factor_failure": "event.second_factor_failure",
    "passkey.added": "event.passkey_added",
    "passkey.removed": "event.passkey_removed",
}


WARNINGS = frozenset({"signin.failure", "federation.failure", "reauth.failure", "signin.second_factor_failure"})


class AccountPages(PageGroup):
    async def show(self, request: Request) -> Response:
        visit = await self.pages.signed_in_page(request)
        if isinstance(visit, Response):
            return visit
        notice = ACCOUNT_NOTICES.get(request.query_params.get("notice", ""))
        context = await self._context(visit, notice)
        if problem := problem_from_query(request):
            context["problem"] = visit.t(problem)
        return self.pages.render(visit, "account.html", context)

    async def end_other_sessions(self, request: Request) -> Response:
        """"Sign out of all other devices": every other session of the account, and every partner's token, ends now."""
        visit = await self.pages.signed_in(request, back="/account")
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None and visit.account is not None
        if not await self.pages.read_form(visit):
            context = await self._context(visit, None)
            context["problem"] = visit.t("form.expired")
            return self.pages.render(visit, "account.html", context, status=403)
        # Partners' tokens end too, with back-channel logout where registered (identity.signout).
        await sign_out_other_devices(self.rt, visit.account.id, keep=visit.session.id, client=visit.client)
        return self.pages.redirect(visit, "/account?notice=others-ended")

    async def _context(self, visit: Visit, notice: str | None) -> dict[str, Any]:
        assert visit.session is not None and visit.account is not None
        account = visit.account
        current_id = visit.session.id
        devices = [
            {
                "current": s.id == current_id,
                "device": describe_device(s.user_agent, visit.lang),
                "address": s.client_address,
                "created_at": s.created_at,
                "last_used_at": s.last_used_at,
                "federated": s.auth_method == "fed",
            }
            for s in await sessions.active_sessions(self.rt, account.id)
        ]
        devices.sort(key=lambda d: not d["current"])
        events = [
            {
                "label": visit.t(EVENT_LABELS.get(e.action, "event.other")),
                "action": e.action,
                "occurred_at": e.occurred_at,
                "address": e.client_address,
                "device": describe_device(e.user_agent, visit.lang) if e.user_agent else None,
                "warning": e.action in WARNINGS,
            }
            for e in await audit.recent_for_account(account.id)
        ]
        linked = await linked_identities(self.rt, account.id)
        pending_email = await email_address.pending_change(self.rt, account.id)
        factors = await second_factors(account.id)
        linked_ids = {link.provider for link in linked}
        return {
            "profile": account,
            "pending_email": pending_email,
            "totp_on": "TOTP" in factors,
            "passkey_count": len(await list_passkeys(account.id)),
            "linked": linked,
            "linkable": [p for p in provider_buttons(self.rt) if p["id"] not in linked_ids],
            # The only way in (no password, one provider) cannot be unlinked: no button to be refused.
            "can_unlink": account.password_hash is not None or len(linked_ids) > 1,
            "problem": None,
            "devices": devices,
            "others": sum(1 for d in devices if not d["current"]),
            "events": events,
            "holdings": await holdings_of(account.id),
            "notice": visit.t(notice) if notice else None,
        }
