"""Staff-only GraphQL, one module per area: account tools, the audit log, the ticket desk.

Every field here returns a union with `NotAuthenticated` and `Forbidden` and is guarded by
`schema.permissions` (IsStaff: STAFF or ADMIN; IsAdmin: ADMIN only); resolvers call one service each.
"""

from __future__ import annotations

from strawberry.tools import merge_types

from portal.schema.staff.accounts import AccountToolsMutation, AccountToolsQuery
from portal.schema.staff.desk import DeskMutation, DeskQuery

# What schema/__init__.py merges into Query and Mutation.
StaffQuery = merge_types("StaffQuery", (AccountToolsQuery, DeskQuery))
StaffMutation = merge_types("StaffMutation", (AccountToolsMutation, DeskMutation))
