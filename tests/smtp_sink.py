"""A real SMTP server (aiosmtpd) on loopback that keeps every letter it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Letter:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part else ""

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.sink.letters.append(Letter(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


class SmtpSink:
    def __init__(self, port: int) -> None:
        self.port = port
        self.letters: list[Letter] = []
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def to(self, address: str) -> list[Letter]:
        return [letter for letter in self.letters if address.lower() in (r.lower() for r in letter.rcpt_tos)]

    async def wait_for_match(self, address: str, pattern: re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """The first match of `pattern` in a letter to `address`, waiting for the letter that has it (others,
        such as notices sent meanwhile, may come before or after it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for letter in self.to(address):
                if match := pattern.search(letter.text):
                    return match
            await asyncio.sleep(0.05)
        raise AssertionError(f"no letter to {address} matched {pattern.pattern!r}")

    async def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[Letter]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} letter(s) to {address}, got {len(self.to(address))}")
