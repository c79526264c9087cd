"""Turning an outbox row into a MIME letter: Jinja2 templates, a text part always, an HTML part beside it.

One template per part of a letter, for every language: its strings go through gettext (core.i18n) in the
letter's own language, chosen at render time.
"""

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

from jinja2 import (
    Environment,
    PackageLoader,
    Template,
    TemplateNotFound,
    pass_context,
    pass_eval_context,
    select_autoescape,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup

from portal.core.i18n import install_gettext
from portal.core.localtime import format_local, parse_instant
from portal.core.settings import Settings

LEGACY_FALLBACK = "ru"  # the language of a per-language letter template (not yet converted) that lacks the letter's


@pass_context
def _when(ctx: Context, value: object) -> str:
    """An ISO-8601 string or datetime in the portal's zone for the letter's language (api.localtime)."""
    instant = parse_instant(value)
    if instant is None:
        return "" if value is None else str(value)
    return format_local(instant, ctx["_zone"], ctx["lang"])


@pass_eval_context
def _link(eval_ctx: EvalContext, url: str) -> str:
    """A URL written out in full: an `<a>` of itself in an HTML part, the bare URL in a text part."""
    if not eval_ctx.autoescape:
        return url
    return Markup('<a href="{0}" style="color:#0b57d0">{0}</a>').format(url)


@pass_eval_context
def _strong(eval_ctx: EvalContext, value: str) -> str:
    return Markup("<strong>{0}</strong>").format(value) if eval_ctx.autoescape else value


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
    env.filters["link"] = _link
    env.filters["strong"] = _strong
    install_gettext(env)
    return env


def _part(env: Environment, template: str, part: str, lang: str) -> Template:
    """`<template>.<part>.j2`. A letter merged from a branch written before the catalogues may still be one
    file per language, `<template>.<lang>.<part>.j2` (Russian when its language has none): it is sent as it
    is until converted (tests/test_i18n.py names the ones left)."""
    names = (f"{template}.{part}.j2", f"{template}.{lang}.{part}.j2", f"{template}.{LEGACY_FALLBACK}.{part}.j2")
    return env.select_template(names)


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
    if lang not in settings.language_list:
        lang = settings.language_list[0]
    env = environment()
    values = {**context, "public_url": settings.public_url, "lang": lang, "to": to, "_zone": settings.zone}
    subject = _part(env, template, "subject", lang).render(values)
    subject = " ".join(subject.split())  # one line: no header injection through a template or its context
    text = _part(env, template, "txt", lang).render(values)
    try:
        html: str | None = _part(env, template, "html", lang).render(values)
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
