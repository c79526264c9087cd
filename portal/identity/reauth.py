"""Re-authentication: decided only by the server's record of the resident's last proof, never by the request."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from portal.core.runtime import Runtime
from portal.models.accounts import Session

REAUTH_WINDOW_SECONDS = 600  # sensitive changes need a proof within the last 10 minutes


def is_recent(rt: Runtime, session: Session, within_seconds: int = REAUTH_WINDOW_SECONDS) -> bool:
    """True when the session's last proof (password, second factor, passkey) is at most `within_seconds` old."""
    proved = session.authenticated_at
    return proved is not None and rt.clock.now() - proved <= timedelta(seconds=within_seconds)


async def record_proof(rt: Runtime, session_id: UUID) -> None:
    """The resident proved who they are again (password, second factor or passkey) in this session."""
    await Session.filter(id=session_id).update(authenticated_at=rt.clock.now())
