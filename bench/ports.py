"""Loopback ports for the servers the tests and the benchmarks start (both import it from here)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Ports handed out by this process, never handed out twice.
_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A port the kernel picks for `bind(("127.0.0.1", 0))` comes from the same range as the source ports of
    outgoing connections, so between the pick and the server's own bind a connection to PostgreSQL or SMTP
    could take it (CI saw `address already in use` once). Below that range only listeners bind.
    """
    low, _high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    while True:
        port = random.randrange(10_000, max(low, 10_001))  # noqa: S311 - a port, not a secret
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
