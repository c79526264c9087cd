"""`portal oidc-clients add|list|remove` and `portal keys rotate`: the OpenID Provider's operator tools."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

from portal.api.cli.common import (
    CommandError,
    Subcommands,
    add_command,
    add_group,
    run_with_database,
    run_with_runtime,
)
from portal.core.settings import Settings

if TYPE_CHECKING:
    from portal.core.runtime import Runtime


def register_oidc_commands(sub: Subcommands) -> None:
    commands = add_group(
        sub,
        "oidc-clients",
        "partner systems that sign residents in over OpenID Connect",
        "portal oidc-clients add --name 'Показания счётчиков' --redirect-uri https://meters.example.ru/cb",
    )
    add = add_command(
        commands,
        "add",
        "register a partner; prints client_id= (and client_secret= once)",
        [
            "portal oidc-clients add --name 'Показания счётчиков' --redirect-uri https://meters.example.ru/cb",
            "portal oidc-clients add --name 'Оплата онлайн' --public --redirect-uri https://pay.example.ru/callback",
        ],
        description="Register a partner system for single sign-on. Prints client_id=… and, for a confidential\n"
        "client, client_secret=… (shown once, stored only as a hash), each on its own line.",
        handler=cmd_clients_add,
    )
    add.add_argument("--name", required=True, help="shown to residents on the consent page")
    add.add_argument(
        "--redirect-uri", action="append", required=True, dest="redirect_uris", help="exact callback URL (repeatable)"
    )
    add.add_argument("--public", action="store_true", help="no secret: a browser or mobile app (PKCE only)")
    add.add_argument("--first-party", action="store_true", help="the operator's own system: no consent page")
    add.add_argument(
        "--post-logout-redirect-uri",
        action="append",
        default=[],
        dest="post_logout_redirect_uris",
        help="where /oauth/logout may return (repeatable)",
    )
    add.add_argument("--backchannel-logout-uri", help="receives a logout token when a resident's access ends")
    add.add_argument("--id-token-alg", choices=["RS256", "ES256"], default="RS256", help="(default: %(default)s)")
    add.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        dest="allowed_origins",
        help="a public client's browser origin for CORS, beyond its redirect URIs' origins (repeatable)",
    )
    add_command(
        commands, "list", "registered partners (secrets are never shown)", "portal oidc-clients list",
        handler=cmd_clients_list,
    )
    remove = add_command(
        commands,
        "remove",
        "remove a partner with all its tokens and consents",
        "portal oidc-clients remove CLIENT_ID",
        handler=cmd_clients_remove,
    )
    remove.add_argument("client_id", help="as printed by `portal oidc-clients add` or `list`")

    keys = add_group(sub, "keys", "ID-token signing keys", "portal keys rotate")
    add_command(
        keys,
        "rotate",
        "new signing keys; old public keys stay published until their tokens expire",
        "portal keys rotate",
        handler=cmd_keys_rotate,
    )


def cmd_clients_add(settings: Settings, args: argparse.Namespace) -> int:
    from portal.identity.provider.partners import ClientProblem, add_client

    async def work(rt: Runtime) -> int:
        try:
            new = await add_client(
                rt,
                name=args.name,
                redirect_uris=args.redirect_uris,
                public=args.public,
                first_party=args.first_party,
                post_logout_redirect_uris=args.post_logout_redirect_uris,
                backchannel_logout_uri=args.backchannel_logout_uri,
                id_token_alg=args.id_token_alg,
                allowed_origins=args.allowed_origins,
            )
        except ClientProblem as exc:
            raise CommandError(str(exc)) from exc
        print(f"client_id={new.client.id}")
        if new.secret is not None:
            print(f"client_secret={new.secret}")
        return 0

    return run_with_runtime(settings, work)


def cmd_clients_list(settings: Settings, _args: argparse.Namespace) -> int:
    from portal.identity.provider.partners import list_clients

    async def work() -> int:
        for c in await list_clients():
            kind = "public" if c.public else "confidential"
            party = " first-party" if c.first_party else ""
            print(f"{c.id}\t{c.name}\t{kind}{party}\t{' '.join(c.redirect_uris)}")
        return 0

    return run_with_database(settings, work)


def cmd_clients_remove(settings: Settings, args: argparse.Namespace) -> int:
    from portal.identity.provider.partners import remove_client

    async def work() -> int:
        if not await remove_client(args.client_id):
            raise CommandError(f"no client with id {args.client_id!r}")
        print(f"removed {args.client_id}")
        return 0

    return run_with_database(settings, work)


def cmd_keys_rotate(settings: Settings, _args: argparse.Namespace) -> int:
    from portal.identity.provider.keys import ensure_keys, rotate_keys
    from portal.identity.provider.server import ID_TOKEN_TTL_SECONDS

    async def work(rt: Runtime) -> int:
        await ensure_keys(rt)
        # ID tokens live ID_TOKEN_TTL_SECONDS; keep the old keys a day so cached JWKS and clock skew are covered.
        kids = await rotate_keys(rt, timedelta(seconds=ID_TOKEN_TTL_SECONDS) + timedelta(days=1))
        print("new signing keys: " + " ".join(kids))
        return 0

    return run_with_runtime(settings, work)
