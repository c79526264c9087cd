"""Support tickets from residents who cannot sign in: submission, numbering, access keys, status lookup.

A ticket is filed with or without signing in. Its number (`2026-000123`) comes from a per-year counter
bumped by one atomic upsert in the ticket's own transaction, so concurrent submissions never clash and a
rolled-back submission leaves no gap. The access key that opens the ticket's status page is returned once
and stored only as a keyed hash. Letters go through the outbox in the same transaction as the ticket.

One module a flow: `validation` (the form), `numbers` (the per-year counter), `keys` (access and
idempotency keys, the status link), `submission` (filing, with `letters`), `lookup` (the resident's
reading) and `status` (the staff desk's status change). Callers import from the module that owns a name.
"""
