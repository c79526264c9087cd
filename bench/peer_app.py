"""The peer for `python -m bench.peer`: fastapi-users as its documentation sets it up, in a venv of its own.

Runs only under the peer's interpreter (`bench.peer` installs fastapi-users there); nothing of the portal is
imported. Accounts sign in with e-mail and password (`POST /auth/login`, a form, as fastapi-users takes it) and
get a bearer token kept in the database (`DatabaseStrategy`: like the portal's sessions, a token a sign-out or
a revocation ends at once); `GET /users/me` reads it back with the account; `POST /auth/forgot-password` is the
reset request. The password hash is the one the
portal's bench seeds (Argon2id with the portal's parameters), verified by pwdlib's Argon2 hasher set to the same
parameters, so neither side rehashes.

    python bench/peer_app.py seed --count 1000 --hash '$argon2id$…'    # DATABASE_URL names the database
    python -m uvicorn peer_app:app                                        # with bench/ on PYTHONPATH
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator

from argon2 import extract_parameters
from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users.authentication.strategy.db import DatabaseStrategy
from fastapi_users.password import PasswordHelper
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from fastapi_users_db_sqlalchemy.access_token import SQLAlchemyAccessTokenDatabase, SQLAlchemyBaseAccessTokenTableUUID
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///peer.sqlite3")
STORED_HASH = os.environ.get("PEER_STORED_HASH", "")  # the seeded hash: its parameters are the hasher's


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


engine = create_async_engine(DATABASE_URL)
session_maker = async_sessionmaker(engine, expire_on_commit=False)


def password_helper(stored_hash: str) -> PasswordHelper:
    """pwdlib's Argon2 set to the seeded hash's own parameters: a verify never asks for a rehash."""
    params = extract_parameters(stored_hash)
    same = {name: getattr(params, name) for name in ("time_cost", "memory_cost", "parallelism", "hash_len", "salt_len")}
    return PasswordHelper(PasswordHash((Argon2Hasher(**same),)))


PASSWORDS = password_helper(STORED_HASH) if STORED_HASH else PasswordHelper()  # once, as an app would


async def get_async_session() -> AsyncIterator[AsyncSession]:
    async with session_maker() as session:
        yield session


async def get_user_db(session: AsyncSession = Depends(get_async_session)):  # type: ignore[no-untyped-def]  # noqa: B008
    yield SQLAlchemyUserDatabase(session, User)


async def get_access_token_db(session: AsyncSession = Depends(get_async_session)):  # type: ignore[no-untyped-def]  # noqa: B008
    yield SQLAlchemyAccessTokenDatabase(session, AccessToken)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = "peer-bench-secret-peer-bench-secret"  # noqa: S105
    verification_token_secret = "peer-bench-secret-peer-bench-secret"  # noqa: S105


async def get_user_manager(user_db=Depends(get_user_db)):  # type: ignore[no-untyped-def]  # noqa: B008
    yield UserManager(user_db, PASSWORDS)


def get_database_strategy(access_token_db=Depends(get_access_token_db)) -> DatabaseStrategy:  # type: ignore[no-untyped-def]  # noqa: B008
    return DatabaseStrategy(access_token_db, lifetime_seconds=3600)


backend = AuthenticationBackend(
    name="db", transport=BearerTransport(tokenUrl="auth/login"), get_strategy=get_database_strategy
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])

app = FastAPI()
app.include_router(fastapi_users.get_auth_router(backend), prefix="/auth")
app.include_router(fastapi_users.get_reset_password_router(), prefix="/auth")  # POST /auth/forgot-password
app.include_router(fastapi_users.get_users_router(schemas.BaseUser[uuid.UUID], schemas.BaseUserUpdate), prefix="/users")


async def seed(count: int, stored_hash: str) -> None:
    """`count` active, verified accounts `bench{i}@example.com` (the portal bench's addresses), one stored hash."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        rows = [
            {
                "id": uuid.uuid4(),
                "email": f"bench{i}@example.com",
                "hashed_password": stored_hash,
                "is_active": True,
                "is_superuser": False,
                "is_verified": True,
            }
            for i in range(count)
        ]
        await conn.execute(insert(User), rows)
    await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(prog="peer_app.py")
    sub = parser.add_subparsers(dest="command", required=True)
    seeding = sub.add_parser("seed")
    seeding.add_argument("--count", type=int, default=1000)
    seeding.add_argument("--hash", required=True)
    args = parser.parse_args()
    asyncio.run(seed(args.count, args.hash))
    return 0


if __name__ == "__main__":
    sys.exit(main())
