"""Turning an outbox row into a MIME letter: Jinja2 templates, a text part always, an HTML part beside it."""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import hmac
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, TemplateNotFound, pass_context, select_autoescape
from jinja2.runtime import Context

from portal.core.localtime import format_local, parse_instant
from portal.core.settings import Settings

LANGUAGES = ("ru", "en")
FALLBACK = "ru"


@pass_context
def _when(ctx: Context, value: object) -> str:
    """An ISO-8601 string or datetime in the portal's zone for the letter's language (api.localtime)."""
    instant = parse_instant(value)
    if instant is None:
        return "" if value is None else str(value)
    return format_local(instant, ctx["_zone"], ctx["lang"])


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Autoescaping for every HTML template; text parts and subjects are plain text."""
    env = Environment(
        loader=PackageLoader("portal.mail", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def _template_lang(template: str, lang: str) -> str:
    env = environment()
    for candidate in (lang, FALLBACK):
        try:
            env.get_template(f"{template}.{candidate}.txt.j2")
            return candidate
        except TemplateNotFound:
            continue
    raise TemplateNotFound(f"{template}.{lang}.txt.j2")


def message_id(settings: Settings, row_id: int, key: bytes) -> str:
    """Stable for a row: the same letter retried keeps its Message-ID, so receivers can drop duplicates."""
    host = urlsplit(settings.public_url).hostname or "localhost"
    tag = hmac.new(key, str(row_id).encode(), hashlib.sha256).hexdigest()[:16]
    return f"<outbox.{row_id}.{tag}@{host}>"


def render(
    settings: Settings,
    *,
    template: str,
    to: str,
    lang: str,
    context: dict[str, Any],
    msg_id: str,
    now: datetime,
) -> EmailMessage:
    """The letter as it goes on the wire: From, To, Subject, Date, Message-ID, Auto-Submitted, text + HTML."""
    lang = _template_lang(template, lang if lang in LANGUAGES else FALLBACK)
    env = environment()
    values = {**context, "public_url": settings.public_url, "lang": lang, "to": to, "_zone": settings.zone}
    subject = env.get_template(f"{template}.{lang}.subject.j2").render(values)
    subject = " ".join(subject.split())  # one line: no header injection through a template or its context
    text = env.get_template(f"{template}.{lang}.txt.j2").render(values)
    try:
        html: str | None = env.get_template(f"{template}.{lang}.html.j2").render(values)
    except TemplateNotFound:
        html = None

    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    msg["Content-Language"] = lang  # after the parts: set_content() would move Content-* headers into them
    return msg


def envelope_sender(settings: Settings) -> str:
    return email.utils.parseaddr(settings.mail_from)[1] or "no-reply@localhost"
