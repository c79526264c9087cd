"""Where letters go: an SMTP server (aiosmtplib) or, in development, `.eml` files with the links logged."""

from __future__ import annotations

import logging
import os
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from portal.core.settings import Settings

log = logging.getLogger("portal.mail")

SMTP_TIMEOUT = 30.0
_LINK_RE = re.compile(r"https?://[^\s<>\"']+")


class PermanentFailure(Exception):
    """The server refused this letter for good (a 5xx answer): retrying will not help."""


class Transport(Protocol):
    async def open(self) -> None: ...

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Hands over one letter; raises PermanentFailure, or any other exception for a transient one."""

    async def close(self) -> None: ...


class SmtpTransport:
    """`smtp://` (STARTTLS when offered), `smtp+starttls://` (STARTTLS required), `smtps://` (implicit TLS)."""

    def __init__(self, url: str, timeout: float = SMTP_TIMEOUT) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
            raise ValueError("PORTAL_SMTP_URL must look like smtp://[user:pass@]host:port (or smtp+starttls://, smtps://)")
        self.hostname = parts.hostname
        self.port = parts.port or {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.use_tls = scheme == "smtps"
        self.start_tls: bool | None = True if scheme == "smtp+starttls" else (False if self.use_tls else None)
        self.timeout = timeout
        self._client: aiosmtplib.SMTP | None = None

    async def open(self) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
        )
        await client.connect()
        self._client = client

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        if self._client is None or not self._client.is_connected:
            await self.open()
        assert self._client is not None
        try:
            await self._client.send_message(message, sender=sender, recipients=[recipient])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if all(500 <= code < 600 for code in codes):
                raise PermanentFailure(str(exc)) from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"{exc.code} {exc.message}") from exc
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                client.close()


class FileTransport:
    """Development: each letter becomes `<data_dir>/mail/<Message-ID>.eml`, and its links are logged."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", str(message["Message-ID"]).strip("<>")) + ".eml"
        path = self.folder / name
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(message))
        os.replace(tmp, path)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        links = _LINK_RE.findall(text)
        log.info("mail to %s (%s) written to %s%s", recipient, message["Subject"], path,
                 "".join(f"\n  link: {link}" for link in links))

    async def close(self) -> None:
        return None


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url)
    return FileTransport(settings.data_dir / "mail")
