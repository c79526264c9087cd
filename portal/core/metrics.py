"""What an operator watches: the Prometheus metric families, defined once and counted where things happen.

Every layer counts into these (`SIGNINS.labels("success").inc()`); the api layer serves them at
`/metrics` on `PORTAL_METRICS_PORT` (api/observability.py) and fills the gauges that are read from the
database at scrape time. Label values are always from a small fixed set (a route's template, never its
path; an outcome's name, never an identifier), so the number of series stays bounded.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series: half the lines, nothing a dashboard reads

# Latency buckets from 5 ms to 10 s: a GraphQL read is a few ms, a sign-in tens (Argon2), a stall seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

registry: CollectorRegistry = REGISTRY

REQUESTS = Counter(
    "portal_http_requests", "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "portal_http_request_duration_seconds", "Time to answer an HTTP request, by route template", ["route"],
    buckets=LATENCY_BUCKETS,
)
SIGNINS = Counter("portal_signins", "Password sign-ins by outcome", ["outcome"])
RESETS_REQUESTED = Counter("portal_password_resets_requested", "Password resets requested (every answer)")
RESETS_COMPLETED = Counter("portal_password_resets_completed", "Passwords changed through a reset link")
TICKETS = Gauge("portal_tickets", "Support tickets by status (read from the database at scrape time)", ["status"])
TICKETS_SUBMITTED = Counter("portal_tickets_submitted", "Support tickets created by this process")
OUTBOX_DEPTH = Gauge("portal_outbox_depth", "Letters waiting in the outbox (pending)")
OUTBOX_OLDEST_AGE = Gauge("portal_outbox_oldest_age_seconds", "Age of the oldest pending letter (0 when none)")
MAIL_DELIVERED = Counter("portal_mail_delivered", "Letters settled by delivery, by result", ["result"])
THROTTLE_REFUSALS = Counter("portal_throttle_refusals", "Attempts refused by a rate limit or backoff", ["limit"])
REDIS_FALLBACKS = Counter(
    "portal_redis_fallbacks", "Throttle operations answered by the per-process store because Redis failed"
)
REDIS_UP = Gauge("portal_redis_up", "1 while the shared throttle store answers, 0 while limits are per process")
SESSION_CACHE_ON = Gauge(
    "portal_session_cache_on", "1 while sessions are served from this process's cache (PostgreSQL change feed up)"
)
MEMORY_THROTTLE_KEYS = Gauge("portal_memory_throttle_keys", "Keys held by the in-process throttle store")
DB_POOL = Gauge("portal_db_pool_connections", "Database connections of this process, by state", ["state"])
DB_UNAVAILABLE = Counter("portal_db_unavailable", "Requests answered 503 because the database did not answer")
ARGON2_WAIT = Histogram(
    "portal_argon2_queue_wait_seconds", "Time a password hash or verify waited for a free hashing thread",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
