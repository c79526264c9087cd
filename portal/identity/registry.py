"""The registry import: the organisation's list of personal accounts (CSV or .xlsx) into `personal_accounts`.

Every row is read and checked before anything is written; a bad row is reported with its line in the file
(the header is line 1) and a reason key. Nothing is applied while bad rows remain, unless the caller skips
them. Writes are batched (one INSERT per 1,000 new rows, one UPDATE per 1,000 changed ones) inside one
transaction, so an import is all or nothing and 100,000 rows take seconds, not hours (`make bench`).
Idempotent: a row equal to what is stored changes nothing; an empty cell leaves the stored value alone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from portal.core.errors import FieldCode, FieldProblem
from portal.core.runtime import Runtime
from portal.identity.accounts import clean_full_name
from portal.identity.identifiers import has_control_characters, normalize_email, normalize_phone
from portal.identity.personal_accounts import normalize_number
from portal.models.accounts import Account
from portal.models.audit import record
from portal.models.batch import InsertRow, Statement, execute_many
from portal.models.residents import PersonalAccount

BATCH = 1000
ADDRESS_MAX = 500
# Column → the headers that name it (compared case-insensitively, ё as е, spaces and '_' alike).
HEADERS: dict[str, tuple[str, ...]] = {
    "number": ("лицевой счёт", "лицевой счет", "номер лицевого счёта", "лс", "л/с", "personal account",
               "personal_account", "account number"),
    "full_name": ("фио", "ф.и.о.", "full name", "full_name", "name"),
    "address": ("адрес", "адрес помещения", "address"),
    "email": ("e-mail", "email", "эл. почта", "электронная почта", "почта"),
    "phone": ("телефон", "phone"),
    "area": ("площадь", "area"),
    "share": ("доля", "share"),
    "external_id": ("внешний id", "внешний код", "код", "external id", "external_id"),
}
DATA_FIELDS = ("address", "full_name", "email", "phone", "area", "share", "external_id")
_AREA_RE = re.compile(r"^\d{1,7}([.,]\d{1,4})?$")
_SHARE_RE = re.compile(r"^(\d{1,4}/\d{1,4}|0?[.,]\d{1,6}|1)$")
_EXTERNAL_RE = re.compile(r"^[\w./:#-]{1,64}$")


class RegistryFileError(Exception):
    """The file cannot be read as a registry at all (format, encoding, missing columns): `key` names why."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class Entry:
    """One checked row; None in a data field: the cell was empty (the stored value stays)."""

    line: int
    number: str
    address: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    area: str | None = None
    share: str | None = None
    external_id: str | None = None

    def data(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in DATA_FIELDS if getattr(self, name) is not None}


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str  # an i18n key, e.g. registry.bad.phone
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    bad: list[BadRow] = field(default_factory=list)
    changes: list[tuple[int, str, list[str]]] = field(default_factory=list)  # (line, number, changed fields)
    applied: bool = False
    numbers: list[str] = field(default_factory=list)  # every good row's number (for invitations)

    def summary(self) -> str:
        return f"created={self.created} updated={self.updated} unchanged={self.unchanged} skipped={self.skipped}"


# ---------------------------------------------------------------- reading the file


def _header_key(text: str) -> str:
    return " ".join(text.replace("\ufeff", "").replace("_", " ").replace("ё", "е").replace("Ё", "Е").split()).casefold()


_COLUMN_BY_HEADER = {_header_key(h): column for column, names in HEADERS.items() for h in names}


def _columns(header: list[str]) -> dict[int, str]:
    found: dict[int, str] = {}
    for index, text in enumerate(header):
        column = _COLUMN_BY_HEADER.get(_header_key(str(text or "")))
        if column is not None and column not in found.values():
            found[index] = column
    missing = [c for c in ("number", "address") if c not in found.values()]
    if missing:
        raise RegistryFileError("registry.file.columns", columns=", ".join(HEADERS[c][0] for c in missing))
    return found


def _decode(raw: bytes) -> str:
    """UTF-8 with or without BOM, else Windows-1251 (what Excel and Russian billing systems write)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1251")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed into a spreadsheet: 1234567890.0
    return str(value)


def read_registry(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, {column: text}) per non-empty row; raises RegistryFileError when the file is no registry."""
    if path.suffix.lower() == ".xlsx":
        table: Iterable[list[str]] = _xlsx_rows(path)
    else:
        try:
            text = _decode(path.read_bytes())
        except OSError as exc:
            raise RegistryFileError("registry.file.unreadable", error=exc.strerror or str(exc)) from exc
        first = text.split("\n", 1)[0]
        delimiter = ";" if first.count(";") >= first.count(",") else ","
        table = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = iter(table)
    header = next(rows, None)
    if header is None:
        raise RegistryFileError("registry.file.empty")
    columns = _columns(list(header))
    for line, cells in enumerate(rows, start=2):
        values = {column: _cell(cells[i]).strip() if i < len(cells) else "" for i, column in columns.items()}
        if any(values.values()):
            yield line, values


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a file that is no workbook
        raise RegistryFileError("registry.file.unreadable", error=type(exc).__name__) from exc
    try:
        for row in book.worksheets[0].iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        book.close()


# ---------------------------------------------------------------- checking rows


def _optional(value: str, check: Callable[[str], str]) -> str | None:
    return check(value) if value else None


def _pattern(pattern: re.Pattern[str], name: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise FieldProblem(name, FieldCode.INVALID_CHARACTERS)
        return value.replace(",", ".") if name != "external_id" else value

    return check


def _address(value: str) -> str:
    text = " ".join(value.split())
    if len(text) > ADDRESS_MAX:
        raise FieldProblem("address", FieldCode.TOO_LONG)
    if has_control_characters(value.replace("\t", " ").replace("\n", " ").replace("\r", " ")):
        raise FieldProblem("address", FieldCode.INVALID_CHARACTERS)
    return text


def check_row(line: int, values: dict[str, str], region: str) -> Entry | BadRow:
    """One row, every field normalised as the rest of the portal stores it; the first problem is the reason."""
    try:
        number = normalize_number(values.get("number", ""), "number")
        address = _optional(values.get("address", ""), _address)
        if address is None:
            raise FieldProblem("address", FieldCode.REQUIRED)
        return Entry(
            line=line,
            number=number,
            address=address,
            full_name=_optional(values.get("full_name", ""), lambda v: clean_full_name(v, "full_name")),
            email=_optional(values.get("email", ""), normalize_email),
            phone=_optional(values.get("phone", ""), lambda v: normalize_phone(v, region)),
            area=_optional(values.get("area", ""), _pattern(_AREA_RE, "area")),
            share=_optional(values.get("share", ""), _pattern(_SHARE_RE, "share")),
            external_id=_optional(values.get("external_id", ""), _pattern(_EXTERNAL_RE, "external_id")),
        )
    except FieldProblem as problem:
        return BadRow(line, f"registry.bad.{problem.field}", {"value": values.get(problem.field, "")[:80]})


def _same_person(a: str | None, b: str | None) -> bool:
    """Two names for one e-mail: the same person unless both are known and differ (case and ё aside)."""
    return a is None or b is None or _header_key(a) == _header_key(b)


async def _chunks_filter(model: Any, column: str, keys: list[str], *values: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH):
        found += await model.filter(**{f"{column}__in": keys[start:start + BATCH]}).values(*values)
    return found


async def check_registry(
    rt: Runtime, rows: Iterable[tuple[int, dict[str, str]]], progress: Callable[[int], None] | None = None
) -> tuple[list[Entry], ImportReport]:
    """Every row checked alone, then against the other rows and the database; nothing is written.

    `progress(n)` hears of every 1,000 rows checked (checking, not writing, is most of an import's time)."""
    report = ImportReport()
    entries: dict[str, Entry] = {}
    names_by_email: dict[str, tuple[str | None, int]] = {}
    for count, (line, values) in enumerate(rows, start=1):
        if progress and count % BATCH == 0:
            progress(BATCH)
        checked = check_row(line, values, rt.settings.default_region)
        if isinstance(checked, BadRow):
            report.bad.append(checked)
            continue
        earlier = entries.get(checked.number)
        if earlier is not None:
            if earlier.data() != checked.data():
                params = {"number": checked.number, "row": earlier.line}
                report.bad.append(BadRow(line, "registry.bad.duplicate", params))
            else:
                report.unchanged += 1  # the same row twice: nothing more to do
            continue
        if checked.email is not None:
            name, _ = names_by_email.setdefault(checked.email, (checked.full_name, line))
            if not _same_person(name, checked.full_name):
                report.bad.append(BadRow(line, "registry.bad.email_taken", {"email": checked.email}))
                continue
        entries[checked.number] = checked

    emails = sorted(names_by_email)
    held: dict[str, list[tuple[str | None, str | None]]] = {}  # e-mail -> (name, number or None) elsewhere
    for row in await _chunks_filter(Account, "email", emails, "email", "full_name"):
        held.setdefault(row["email"], []).append((row["full_name"], None))
    for row in await _chunks_filter(PersonalAccount, "email", emails, "email", "full_name", "number"):
        held.setdefault(row["email"], []).append((row["full_name"], row["number"]))
    good: list[Entry] = []
    for entry in entries.values():
        others = held.get(entry.email or "", [])
        if any(number != entry.number and not _same_person(name, entry.full_name) for name, number in others):
            report.bad.append(BadRow(entry.line, "registry.bad.email_taken", {"email": entry.email}))
        else:
            good.append(entry)
    report.bad.sort(key=lambda b: b.line)
    report.skipped = len(report.bad)
    return good, report


# ---------------------------------------------------------------- applying


_INSERT = InsertRow(PersonalAccount, ("number", *DATA_FIELDS, "created_at", "updated_at"))


def _update_statement(pa_id: int, values: dict[str, Any], now: datetime) -> Statement:
    """One changed row: every data column and `updated_at` (the same SQL for every row: one executemany)."""
    meta = PersonalAccount._meta
    columns = ", ".join(f'"{meta.fields_db_projection[name]}" = ?' for name in (*DATA_FIELDS, "updated_at"))
    sql = f'UPDATE "{meta.db_table}" SET {columns} WHERE "id" = ?'  # noqa: S608 - names from the model's metadata
    stamp = meta.fields_map["updated_at"].to_db_value(now, PersonalAccount)
    return Statement(sql, (*(values[name] for name in DATA_FIELDS), stamp, pa_id))


async def import_registry(
    rt: Runtime,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Checks the whole file, then (unless bad rows stop it or it is a dry run) writes it in batches."""
    entries, report = await check_registry(rt, rows, progress)
    numbers = [e.number for e in entries]
    stored_rows = await _chunks_filter(PersonalAccount, "number", numbers, "id", "number", *DATA_FIELDS)
    existing: dict[str, dict[str, Any]] = {row["number"]: row for row in stored_rows}
    now = rt.clock.now()
    inserts: list[Statement] = []
    updates: list[Statement] = []
    for entry in entries:
        data = entry.data()
        stored = existing.get(entry.number)
        if stored is None:
            inserts.append(_INSERT.row(number=entry.number, created_at=now, updated_at=now,
                                       **{name: data.get(name) for name in DATA_FIELDS}))
            continue
        differs = sorted(name for name, value in data.items() if stored[name] != value)
        if not differs:
            report.unchanged += 1
            continue
        updates.append(_update_statement(stored["id"], {**stored, **data}, now))
        report.changes.append((entry.line, entry.number, differs))
    report.created, report.updated = len(inserts), len(updates)
    report.numbers = numbers
    if dry_run or (report.bad and not skip_bad_rows):
        return report

    async with in_transaction():
        for batch in (inserts, updates):
            for start in range(0, len(batch), BATCH):
                await execute_many(batch[start:start + BATCH])
        await record(rt, "registry.imported", details={
            "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
            "skipped": report.skipped,
        })
    report.applied = True
    return report
