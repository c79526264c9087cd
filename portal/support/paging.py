"""Cursor pagination: opaque cursors over a monotonically increasing id, newest first."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar

from portal.core.errors import FieldCode, FieldProblem

T = TypeVar("T")
DEFAULT_PAGE = 50
MAX_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results, newest first; `end_cursor` continues after the last item."""

    items: list[T]
    total_count: int
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None, field: str = "after") -> int | None:
    """The id a cursor points after; a cursor that is not ours is a field problem, not a 500."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != kind or not value.isdigit() or len(value) > 20:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise FieldProblem(field, FieldCode.INVALID_CURSOR) from exc


def page_size(first: int | None, field: str = "first") -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 1 or first > MAX_PAGE:
        raise FieldProblem(field, FieldCode.OUT_OF_RANGE, min=1, max=MAX_PAGE)
    return first
