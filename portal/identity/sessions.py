"""Server-side sessions, revocable at once: bearer access and rotating refresh tokens for apps and servers,
and for a browser one opaque cookie token (idle timeout, absolute lifetime) that every route reads alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from tortoise import connections
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.core.session_cache import MAX_ENTRIES
from portal.core.tokens import new_token
from portal.models.accounts import Account, AccountStatus, RefreshToken, Session
from portal.models.batch import MODEL, InsertRow, Statement, hydrate, write_atomically
from portal.models.reads import Version, data_version, fetch_rows

ACCESS = "access"
REFRESH = "refresh"
COOKIE = "browser-session"
# A browser session's last use is written at most this often: its idle timeout is counted from it.
TOUCH_EVERY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session: Session
    account: Account
    access_token: str
    refresh_token: str
    expires_at: datetime


# The two rows of a new session, written with the caller's audit record in one atomic unit (models.batch):
# the ORM's create() per row cost more CPU than the rest of a sign-in beyond the hash.
_SESSION_ROW = InsertRow(
    Session,
    ("id", "account_id", "access_hash", "access_expires_at", "expires_at", "created_at", "last_used_at",
     "auth_method", "authenticated_at", "client_address", "user_agent"),
)
_REFRESH_ROW = InsertRow(RefreshToken, ("session_id", "token_hash", "expires_at"))


async def issue_session(
    rt: Runtime,
    account: Account,
    client: ClientInfo,
    auth_method: str = "pwd",
    *,
    also: Sequence[Statement] = (),
) -> IssuedSession:
    """A brand-new session (never an adopted one) with fresh access and refresh tokens.

    `also`: more writes (e.g. the sign-in's audit record) committed together with the session, all or none.
    """
    now = rt.clock.now()
    s = rt.settings
    access, refresh = new_token(), new_token()
    absolute = now + timedelta(seconds=s.session_max_age)
    access_expires = min(now + timedelta(seconds=s.access_token_ttl), absolute)
    values = {
        "id": uuid4(),
        "access_hash": rt.tokens.digest(ACCESS, access),
        "access_expires_at": access_expires,
        "expires_at": absolute,
        "created_at": now,
        "last_used_at": now,
        "auth_method": auth_method,
        "authenticated_at": now,  # every session is born of a sign-in: its proof is that moment (identity.reauth)
        "client_address": client.address,
        "user_agent": (client.user_agent or "")[:300] or None,
    }
    refresh_row = _REFRESH_ROW.row(
        session_id=values["id"],
        token_hash=rt.tokens.digest(REFRESH, refresh),
        expires_at=min(now + timedelta(seconds=s.refresh_token_ttl), absolute),
    )
    await write_atomically([_SESSION_ROW.row(account_id=account.id, **values), refresh_row, *also])
    # The row just written, as the ORM reads one back (a later save() updates it): `Session(**values)` would
    # validate every field again, which costs ~115 µs against ~80 here, where the code runs cold after waiting
    # out the hash (BENCHMARKS.md, issue 21's fifth stop).
    row = {**values, "account_id": account.id, "cookie_hash": None, "revoked_at": None}
    session = _joined(hydrate(Session, row), account)
    return IssuedSession(session, account, access, refresh, access_expires)


async def authenticate(rt: Runtime, access_token: str) -> Session | None:
    """The live session behind an access token, with its account loaded: one indexed query.

    Runs on every authenticated request, so the statement is built once and the row is read without the
    query builder (which cost more than the query itself); liveness is checked on the one row it finds.
    """
    if not access_token or len(access_token) > 128:
        return None
    session = await _session_row(rt, "access_hash", rt.tokens.digest(ACCESS, access_token))
    if (
        session is None
        or session.revoked_at is not None
        or session.access_expires_at <= rt.clock.now()
        or session.account.status != AccountStatus.ACTIVE
    ):
        return None
    return session


async def open_browser_session(rt: Runtime, session: Session, *, keep_bearer: bool = False) -> str:
    """Names `session` by a new opaque cookie token for this browser and returns it (only its hash is kept).

    The web pages' own sign-in passes `keep_bearer=False`: the access and refresh tokens it minted were never
    shown to anyone, so they end here and the cookie is the session's one credential. GraphQL's `login` from
    a same-origin page keeps them (its answer carries them, as the public contract (docs/graphql.md) says).
    """
    cookie = new_token()
    now = rt.clock.now()
    session.cookie_hash = rt.tokens.digest(COOKIE, cookie)
    fields: dict[str, Any] = {"cookie_hash": session.cookie_hash}
    if not keep_bearer:
        session.access_expires_at = fields["access_expires_at"] = now
    async with in_transaction():
        await Session.filter(id=session.id).update(**fields)
        if not keep_bearer:
            await RefreshToken.filter(session_id=session.id).delete()
    return cookie


async def browser_session(rt: Runtime, cookie: str | None) -> Session | None:
    """The live session a browser's cookie names, account loaded; idle and absolute limits checked here.

    Reading it never spends or rotates anything, so any number of simultaneous requests (a hostile page's
    cross-site GETs included) leave it as it was; only its last use moves, at most once a minute.
    """
    if not cookie or len(cookie) > 128:
        return None
    session = await _session_row(rt, "cookie_hash", rt.tokens.digest(COOKIE, cookie))
    now = rt.clock.now()
    if (
        session is None
        or session.revoked_at is not None
        or session.expires_at <= now
        or now - session.last_used_at > timedelta(seconds=rt.settings.session_idle_timeout)
        or session.account.status != AccountStatus.ACTIVE
    ):
        return None
    if now - session.last_used_at >= timedelta(seconds=TOUCH_EVERY_SECONDS):
        session.last_used_at = now
        await Session.filter(id=session.id).update(last_used_at=now)
    return session


_SESSION_SQL: dict[tuple[str, str], str] = {}


def _session_sql(dialect: str, column: str) -> str:
    """`SELECT` session and account columns `WHERE <column> = <param>`, aliased `s.<col>` and `a.<col>`."""
    if (dialect, column) not in _SESSION_SQL:
        s_cols = ",".join(f'"s"."{c}" AS "s.{c}"' for c in Session._meta.fields_db_projection.values())
        a_cols = ",".join(f'"a"."{c}" AS "a.{c}"' for c in Account._meta.fields_db_projection.values())
        param = "?" if dialect == "sqlite" else "$1"
        table, joined = Session._meta.db_table, Account._meta.db_table
        # Names come from the models' own metadata; the token's hash is the one parameter.
        select = f'SELECT {s_cols},{a_cols} FROM "{table}" "s" JOIN "{joined}" "a" ON "a"."id" = "s"."account_id"'  # noqa: S608
        _SESSION_SQL[dialect, column] = f'{select} WHERE "s"."{column}" = {param}'
    return _SESSION_SQL[dialect, column]


async def _session_row(rt: Runtime, column: str, token_hash: str) -> Session | None:
    """The session whose `column` (access_hash or cookie_hash, both unique) is `token_hash`, account loaded.

    From the process's session cache when it is on (PostgreSQL with its change feed: core/session_cache.py); on a
    SQLite file, the row read last time while nothing was committed to the file since (`_built`); else one indexed
    read. Liveness is the caller's to check either way, on the row as it stands.
    """
    key = column + ":" + token_hash
    cache = rt.session_cache
    cached = await cache.get_current(key)
    if cached is not None:  # copies: what a request does to its instances reaches no other request
        return _joined(_copy(cached[0]), _copy(cached[1]))
    generation = cache.generation  # before the read: a change during it keeps the row out
    connection = connections.get("default")
    dialect = connection.capabilities.dialect
    if dialect not in ("sqlite", "postgres"):  # any other backend: the query builder's way, never cached
        return await Session.filter(**{column: token_hash}).select_related("account").first()
    built = None if cache.enabled else _built.get(key)
    # Before the row: a commit after it moves the version. (PORTAL_SESSION_CACHE=false: every request reads.)
    version = data_version() if rt.settings.session_cache and not cache.enabled else None
    if built is not None and version is not None and built.version == version:
        # Nothing at all committed to the SQLite file since this row was read (by any process): it stands as read.
        return _joined(_copy(built.session), _copy(built.account))
    rows = await fetch_rows(_session_sql(dialect, column), [token_hash])
    if not rows:
        return None
    raw = tuple(rows[0])
    if built is not None and built.raw == raw:  # the very row built last time: its instances, copied
        _built[key] = built._replace(version=version)
        return _joined(_copy(built.session), _copy(built.account))
    session_values: dict[str, Any] = {}
    account_values: dict[str, Any] = {}
    for name, value in dict(rows[0]).items():
        (session_values if name[0] == "s" else account_values)[name[2:]] = value
    session, account = hydrate(Session, session_values), hydrate(Account, account_values)
    kept = (_copy(session), _copy(account))
    if cache.enabled:  # the cache keeps the instances (and serves them)
        cache.put(key, str(account.id), kept, generation)
    else:
        if len(_built) >= MAX_ENTRIES:
            del _built[next(iter(_built))]  # the oldest
        _built[key] = Built(version, raw, *kept)
    return _joined(session, account)


def _joined(session: Session, account: Account) -> Session:
    """The session with its account loaded, as `select_related` would leave it."""
    object.__setattr__(session, "_account", account)
    return session


class Built(NamedTuple):
    """The last row read for a token, as read, and the instances built from it."""

    version: Version | None  # the SQLite file's data version read just before the row (models/reads.py)
    raw: tuple[Any, ...]
    session: Session
    account: Account


# Token key -> its `Built`, while the session cache is off (SQLite; PostgreSQL without its change feed). On a
# SQLite file the row is served again while nothing at all was committed to the file since it was read (by this
# process or any other: a revocation is a commit, so it is seen by the very next request); otherwise it is read
# again, and only building instances from the same values again is spared (~40 µs: times, ids, enums). At most
# MAX_ENTRIES rows, ~3 KB each.
_built: dict[str, Built] = {}


def _copy(instance: MODEL) -> MODEL:
    """A new instance with the same field values: every field of a session and an account is immutable (text,
    numbers, times, ids), so sharing the values is safe; a cheaper twin of `hydrate` for the cache's hits."""
    twin = instance.__class__.__new__(instance.__class__)
    twin.__dict__.update(instance.__dict__)
    return twin


async def rotate(rt: Runtime, refresh_token: str, client: ClientInfo) -> IssuedSession | None:
    """Spends a refresh token for a new pair. A token already spent revokes its whole session."""
    if not refresh_token or len(refresh_token) > 128:
        return None
    now = rt.clock.now()
    s = rt.settings
    token_hash = rt.tokens.digest(REFRESH, refresh_token)
    async with in_transaction():
        spent = await RefreshToken.filter(token_hash=token_hash, used_at__isnull=True, expires_at__gt=now).update(
            used_at=now
        )
        row = await RefreshToken.filter(token_hash=token_hash).select_related("session__account").first()
        if row is None:
            return None
        session = row.session
        if not spent:
            if row.used_at is not None:  # replay of a rotated token: the family is compromised
                await revoke_sessions(rt, session_ids=[session.id])
            return None
        account = session.account
        if session.revoked_at is not None or session.expires_at <= now or account.status != AccountStatus.ACTIVE:
            return None
        access, refresh = new_token(), new_token()
        access_expires = min(now + timedelta(seconds=s.access_token_ttl), session.expires_at)
        session.access_hash = rt.tokens.digest(ACCESS, access)
        session.access_expires_at = access_expires
        session.last_used_at = now
        session.client_address = client.address or session.client_address
        await session.save(update_fields=["access_hash", "access_expires_at", "last_used_at", "client_address"])
        await RefreshToken.create(
            session=session,
            token_hash=rt.tokens.digest(REFRESH, refresh),
            expires_at=min(now + timedelta(seconds=s.refresh_token_ttl), session.expires_at),
        )
    return IssuedSession(session, account, access, refresh, access_expires)


async def revoke_sessions(
    rt: Runtime,
    *,
    session_ids: list[UUID] | None = None,
    account_id: UUID | None = None,
    keep: UUID | None = None,
) -> int:
    """Ends sessions now: their access tokens fail on the next request, their refresh tokens too."""
    query = Session.filter(revoked_at__isnull=True)
    if session_ids is not None:
        query = query.filter(id__in=session_ids)
    if account_id is not None:
        query = query.filter(account_id=account_id)
    if keep is not None:
        query = query.exclude(id=keep)
    return await query.update(revoked_at=rt.clock.now())


async def active_sessions(rt: Runtime, account_id: UUID) -> list[Session]:
    now = rt.clock.now()
    return await Session.filter(account_id=account_id, revoked_at__isnull=True, expires_at__gt=now).order_by(
        "-last_used_at"
    )
