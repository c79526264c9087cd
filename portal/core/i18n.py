"""What people read, from gettext catalogues: `locale/<lang>/LC_MESSAGES/messages.po` (docs/translations.md).

The msgids are symbolic keys (`InvalidCredentials`, `REQUIRED`, `support.title`); every language,
English included, has its text in its own catalogue, so a translator opens `en/…/messages.po` beside
`ru/…/messages.po` in any PO editor. Placeholders are `str.format` fields (`{seconds}`); a message that
shows a number is a plural entry (Russian has three forms: «1 минуту», «2 минуты», «5 минут»).

The wheel carries compiled `.mo` files (setup.py compiles them at build time); a checkout compiles a
`.po` on first load when its `.mo` is missing or older, so an edited catalogue needs no manual step.
Which languages the portal offers is a setting (`PORTAL_LANGUAGES`, the first is the default).
"""

from __future__ import annotations

import gettext
import os
import tempfile
from collections.abc import Sequence
from functools import cache
from io import BytesIO
from pathlib import Path
from string import Formatter
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from portal.core.errors import FieldCode, RefusalCode

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("ru", "en")  # the default of PORTAL_LANGUAGES
DEFAULT_LANGUAGE = "ru"  # where a catalogue's missing message comes from (every key has Russian text)


def catalogue_file(lang: str, suffix: str = ".po") -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def available_languages() -> list[str]:
    """Languages with a catalogue (compiled or not), for checking PORTAL_LANGUAGES at start-up."""
    if not LOCALE_DIR.is_dir():
        return []
    found = (p.name for p in LOCALE_DIR.iterdir())
    return sorted(lang for lang in found if catalogue_file(lang).exists() or catalogue_file(lang, ".mo").exists())


def compile_catalogue(po: Path) -> bytes:
    """The `.mo` image of a `.po` file (Babel; untranslated entries left out, so they fall back)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fp:
        catalogue = read_po(fp)
    buffer = BytesIO()
    write_mo(buffer, catalogue)
    return buffer.getvalue()


def _compiled(lang: str) -> bytes | None:
    """The `.mo` bytes: the file when it is at least as new as its `.po`, else compiled now (and saved if we may)."""
    po, mo = catalogue_file(lang), catalogue_file(lang, ".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        return mo.read_bytes()
    if not po.exists():
        return None
    data = compile_catalogue(po)
    try:  # atomically, so parallel processes (workers, test runs) never read half a file
        fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
        os.replace(tmp, mo)
    except OSError:
        pass  # a read-only install still works, compiling in memory each start
    return data


@cache
def _known_languages() -> frozenset[str]:
    return frozenset(available_languages())


def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of `lang` (DEFAULT_LANGUAGE's when there is none), falling back to DEFAULT_LANGUAGE's for a
    message it lacks. Only names of catalogues that exist reach the file system or the cache."""
    return _translations(lang if lang in _known_languages() else DEFAULT_LANGUAGE)


@cache
def _translations(lang: str) -> gettext.NullTranslations:
    data = _compiled(lang)
    catalogue = gettext.GNUTranslations(BytesIO(data)) if data is not None else gettext.NullTranslations()
    if lang != DEFAULT_LANGUAGE:
        catalogue.add_fallback(translations(DEFAULT_LANGUAGE))
    return catalogue


def message(key: str, lang: str, n: int | None = None) -> str:
    """The unformatted text of `key` in `lang`: the form for `n` when it is a plural entry and `n` is given."""
    catalogue = translations(lang)
    if n is not None:
        text = catalogue.ngettext(key, key, n)
        if text != key:
            return text
    return catalogue.gettext(key)  # a plural entry without a count: its first form


def _format(text: str, params: dict[str, object]) -> str:
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError, ValueError):
        return text


def _count(params: dict[str, object]) -> int | None:
    """The number a plural message is about, when t() is asked for one: its only integer parameter."""
    numbers = [v for v in params.values() if isinstance(v, int) and not isinstance(v, bool)]
    return numbers[0] if len(numbers) == 1 else None


def t(key: str, lang: str, **params: object) -> str:
    """The message `key` in `lang`, its `{placeholders}` filled; the key itself when no catalogue has it.

    A plural message asked for through t() takes its count from its only integer parameter, so
    `t("TooManyAttempts", lang, seconds=5)` reads «5 секунд»; tn() names the count explicitly.
    """
    return _format(message(key, lang, _count(params)), params)


def code_message(code: FieldCode | RefusalCode, lang: str, **params: object) -> str:
    """The words for a typed code: a field problem's or a refused staff action's."""
    key = f"REFUSED_{code.value}" if isinstance(code, RefusalCode) else code.value
    return t(key, lang, **params)


def tn(key: str, n: int, lang: str, **params: object) -> str:
    """The plural message `key` for the number `n` (ngettext), placeholders filled from `params` and `{n}`."""
    return _format(message(key, lang, n), {"n": n, **params})


def placeholders(text: str) -> set[str]:
    """The `{fields}` a message uses (for checking that every language fills the same ones)."""
    try:
        return {name for _, name, _, _ in Formatter().parse(text) if name is not None}
    except ValueError:
        return {"<malformed>"}


def language_name(code: str) -> str:
    """A language's own name for the language switch («Русский», "English"), from Babel's CLDR data."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        name = code
    return name[:1].upper() + name[1:]


def negotiate(accept_language: str | None, preferred: str | None = None, languages: Sequence[str] = LANGUAGES) -> str:
    """The first of `languages` (PORTAL_LANGUAGES) in the header's order of preference (q-values honoured);
    a `preferred` choice (the language cookie) wins when offered; else the first of `languages`."""
    default = languages[0] if languages else DEFAULT_LANGUAGE
    if preferred is not None and preferred in languages:
        return preferred
    if not accept_language:
        return default
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, index, tag.split("-")[0]))
    for negative_q, _, lang in sorted(ranked):
        if negative_q < 0 and lang in languages:
            return lang
        if lang == "*" and negative_q < 0:
            return default
    return default


# ---- Jinja2 ------------------------------------------------------------------------------------------


def _format_markup(text: str, params: dict[str, Any]) -> Markup:
    """A message for an autoescaped (HTML) template: the text is escaped and so is every parameter but a
    `Markup` one (a link built by a filter), so neither a translation nor a value can inject markup."""
    try:
        return escape(text).format(**params)
    except (KeyError, IndexError, ValueError):
        return escape(text)


@pass_context
def _jinja_gettext(context: Context, key: str, **params: Any) -> str:
    lang = context["lang"]
    if not context.eval_ctx.autoescape:
        return t(key, lang, **params)
    return _format_markup(message(key, lang, _count(params)), params)


@pass_context
def _jinja_ngettext(context: Context, key: str, n: int, **params: Any) -> str:
    lang = context["lang"]
    if not context.eval_ctx.autoescape:
        return tn(key, n, lang, **params)
    return _format_markup(message(key, lang, n), {"n": n, **params})


def install_gettext(env: Environment) -> None:
    """Jinja2's i18n extension with the catalogues: `_("key", name=…)`, `gettext(…)`, `ngettext("key", n, …)`
    in the language of the template's `lang` variable (set per page or letter at render time).

    In an HTML template the message comes back as escaped `Markup` (parameters escaped unless `Markup`);
    in a text template (letters' text parts, subjects) as plain text. `{% trans %}` blocks are not used:
    their msgid would be the text, and ours are keys.
    """
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_jinja_gettext, ngettext=_jinja_ngettext, newstyle=False
    )
