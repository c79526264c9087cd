"""Who may call a staff field, decided in one place.

The scheme: every staff field, query or mutation, returns a union that includes `NotAuthenticated` and
`Forbidden`. A caller without a session gets `NotAuthenticated`, a signed-in caller without the role gets
`Forbidden`; neither ever reaches the resolver, so no data can leak. Use it as
`@strawberry.field(extensions=[requires(IsStaff)])`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info as StrawberryInfo

from portal.models.accounts import Account, Role
from portal.schema.errors import Forbidden, NotAuthenticated, error


class RolePermission(BasePermission):
    """Granted to a signed-in, active account whose role is one of `roles`."""

    roles: frozenset[Role] = frozenset()

    def has_permission(self, source: Any, info: StrawberryInfo, **kwargs: Any) -> bool:
        account: Account | None = info.context.account
        return account is not None and account.is_active and Role(account.role) in self.roles

    def denial(self, info: StrawberryInfo) -> Any:
        """The union member a refused caller gets instead of data."""
        cls = NotAuthenticated if info.context.account is None else Forbidden
        return error(cls, info.context.lang)


class IsStaff(RolePermission):
    roles = frozenset({Role.STAFF, Role.ADMIN})


class IsAdmin(RolePermission):
    roles = frozenset({Role.ADMIN})


# Called when a signed-in caller is refused, with the field's arguments (e.g. to audit the attempt).
OnDenied = Callable[[StrawberryInfo, dict[str, Any]], Awaitable[None]]


class RoleGuard(PermissionExtension):
    """Checks the permissions before the resolver runs and answers with a typed error on refusal."""

    def __init__(self, *permissions: RolePermission, on_denied: OnDenied | None = None) -> None:
        super().__init__(list(permissions), use_directives=False)
        self.role_permissions = permissions
        self.on_denied = on_denied

    def resolve(self, next_: Any, source: Any, info: StrawberryInfo, **kwargs: Any) -> Any:
        for permission in self.role_permissions:
            if not permission.has_permission(source, info, **kwargs):
                return permission.denial(info)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Any, source: Any, info: StrawberryInfo, **kwargs: Any) -> Any:
        for permission in self.role_permissions:
            if not permission.has_permission(source, info, **kwargs):
                if self.on_denied is not None and info.context.account is not None:
                    await self.on_denied(info, kwargs)
                return permission.denial(info)
        return await next_(source, info, **kwargs)


def requires(*permissions: type[RolePermission], on_denied: OnDenied | None = None) -> RoleGuard:
    return RoleGuard(*(p() for p in permissions), on_denied=on_denied)


def guarded_roles(field: Any) -> frozenset[Role] | None:
    """The roles a Strawberry field is restricted to, or None when it is open (used by the tests)."""
    for extension in getattr(field, "extensions", []) or []:
        if isinstance(extension, RoleGuard):
            roles = frozenset(Role)
            for permission in extension.role_permissions:
                roles &= permission.roles
            return roles
    return None
