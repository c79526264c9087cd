"""What a federated sign-in ends in, and the limits it keeps."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from portal.core.errors import TooMany
from portal.core.throttle import Limit
from portal.identity.sessions import IssuedSession

log = logging.getLogger("portal.federation")


FLOW_TTL = 600  # seconds between starting a sign-in and coming back from the provider
LOGIN_CODE_TTL = 60
ID_TOKEN_LEEWAY = 60  # clock skew tolerated on exp/iat
ID_TOKEN_MAX_AGE = 600  # an ID token issued longer ago than this is not fresh from the token endpoint
RETURN_TO_MAX = 2048
DEFAULT_RETURN_PATH = "/account"
CALLBACK_LIMIT = Limit("federation.callback", 30, 60)
CODE_LIMIT = Limit("federation.code", 10, 60)
STATE, BINDING, LOGIN_CODE = "fed-state", "fed-binding", "fed-login-code"
FULL_NAME_FALLBACK = "Житель"


@dataclass(frozen=True, slots=True)
class Started:
    authorization_url: str
    binding: str | None  # the cookie value binding the flow to this browser; None for a mobile app


@dataclass(frozen=True, slots=True)
class SignedIn:
    issued: IssuedSession
    return_to: str


@dataclass(frozen=True, slots=True)
class CodeIssued:
    redirect_url: str  # the app's return URL with `code=<one-time login code>`


@dataclass(frozen=True, slots=True)
class Failed:
    """Why a callback ended without a session; `reason` is an i18n key for the error page."""

    reason: str


# reasons, each a message in the catalogues (portal/core/locale)
FAILED_STATE = "FED_STATE_INVALID"  # missing, unknown, expired, replayed or from another browser
FAILED_CANCELLED = "FED_CANCELLED"  # the provider answered with an error (the resident declined, ...)
FAILED_PROVIDER = "FED_PROVIDER_FAILED"  # iss, code exchange or ID token did not check out
FAILED_EMAIL_TAKEN = "FED_EMAIL_TAKEN"  # a local account holds the e-mail: sign in with the password to link
FAILED_LINKED_ELSEWHERE = "FED_LINKED_ELSEWHERE"  # this provider identity belongs to another account
FAILED_ACCOUNT = "FED_ACCOUNT_UNAVAILABLE"  # the account is disabled or gone

CallbackOutcome = SignedIn | CodeIssued | Failed | TooMany


@dataclass(frozen=True, slots=True)
class Link:
    provider: str
    provider_name: str
    email: str | None
    linked_at: Any  # datetime


@dataclass(frozen=True, slots=True)
class Unlinked:
    provider: str


@dataclass(frozen=True, slots=True)
class NotLinked:
    """The account has no identity at that provider."""


@dataclass(frozen=True, slots=True)
class LastWayToSignIn:
    """Unlinking would leave the account without a password and without any provider."""


@dataclass(frozen=True, slots=True)
class CodeRefused:
    """Unknown, expired or spent login code, or a link code presented by another account: one answer."""
