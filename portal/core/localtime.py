"""The one way a time is written for a person: in PORTAL_TIMEZONE, with the zone named (storage stays UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import UnknownLocaleError
from babel.dates import get_month_names

# Abbreviations a Russian reader knows; any other zone is named by its UTC offset.
_RU_ABBREVIATIONS = {"MSK": "МСК", "UTC": "UTC"}


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError with a readable reason when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone name (for example Europe/Moscow)") from exc


def parse_instant(value: object) -> datetime | None:
    """A datetime, or an ISO-8601 string of one (mail contexts carry strings); naive values are UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def zone_label(local: datetime, lang: str) -> str:
    """«МСК» / "UTC+03:00": the zone's abbreviation a reader knows, otherwise its offset from UTC."""
    if lang == "ru" and (name := local.tzname()) in _RU_ABBREVIATIONS:
        return _RU_ABBREVIATIONS[name]
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


@cache
def _months(lang: str) -> tuple[str, ...] | None:
    """CLDR's abbreviated month names for a date in `lang` ("25 нояб. 2026 г.": Russian in the genitive)."""
    if not lang.isalpha():  # Babel would read an empty code as the process's locale
        return None
    try:
        names = get_month_names("abbreviated", context="format", locale=lang)
    except (ValueError, TypeError, UnknownLocaleError):
        return None
    return tuple(str(names[number]) for number in range(1, 13))


def format_local(value: datetime, zone: ZoneInfo, lang: str) -> str:
    """«25 нояб. 2026 г., 21:46 (МСК)» / "25 Nov 2026, 21:46 (UTC+03:00)" for an aware or UTC-naive instant."""
    instant = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    local = instant.astimezone(zone)
    months = _months(lang)
    if months is None:
        lang, months = "ru", _months("ru")
        assert months is not None
    month = months[local.month - 1]
    day = f"{local.day} {month} {local.year}" + (" г." if lang == "ru" else "")
    return f"{day}, {local:%H:%M} ({zone_label(local, lang)})"
