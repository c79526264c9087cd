"""`make messages`: find every message key the code and templates use (Babel's extraction) and bring the
catalogues (portal/core/locale/<lang>/LC_MESSAGES/messages.po) up to date.

- Writes build/messages.pot, the template a PO editor can "update from".
- Adds each extracted key a catalogue lacks, untranslated (an empty msgstr: the .mo leaves it out, so the
  message falls back to Russian until someone translates it), as a plural entry where the code uses tn()
  or ngettext(); refreshes every entry's source references (`#: portal/...`).
- Never drops an entry: keys built at run time (`t(f"ticket.status.{status.value}")`, error type names,
  field codes) are invisible to extraction but used. Lists entries no code names literally, for a look.
- Prints what each catalogue still lacks; exit status 1 when something is untranslated.

The same extraction runs in tests/test_i18n.py, which fails on a used key missing from a catalogue.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "portal" / "core" / "locale"
POT = ROOT / "build" / "messages.pot"
WIDTH = 100

# Python: t(key, lang, ...) and visit.t(key, ...); tn(key, n, lang, ...) is a plural entry (msgid_plural = key).
# Templates (Jinja2's i18n extension): _(key, ...), gettext(key, ...), ngettext(key, n, ...).
KEYWORDS: dict[str, tuple[int, ...] | None] = {"t": None, "_": None, "gettext": None, "tn": (1, 1), "ngettext": (1, 1)}
MAPPING = ROOT / "babel.cfg"  # which extractor reads which files (also usable with `pybabel extract -F`)


def extract(root: Path = ROOT) -> Catalog:
    """Every key named literally in code or templates, with where it is used (key -> Message)."""
    with MAPPING.open(encoding="utf-8") as fp:
        method_map, options_map = parse_mapping_cfg(fp)
    template = Catalog(project="residents-portal", fuzzy=False)
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS
    ):
        template.add(message, None, [(filename, lineno)], context=context)
    return template


def catalogues(locale_dir: Path = LOCALE_DIR) -> Iterator[tuple[str, Path]]:
    for path in sorted(locale_dir.glob("*/LC_MESSAGES/messages.po")):
        yield path.parent.parent.name, path


def untranslated(catalogue: Catalog) -> list[str]:
    """Keys whose text is missing (any plural form empty) in this catalogue."""
    missing = []
    for message in catalogue:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(forms):
            missing.append(message.id[0] if isinstance(message.id, tuple) else message.id)
    return missing


def update(template: Catalog, path: Path, lang: str) -> Catalog:
    with path.open("rb") as fp:
        catalogue = read_po(fp, locale=lang)
    for message in catalogue:
        if message.id:
            message.locations = []
    for used in template:
        if not used.id:
            continue
        existing = catalogue.get(used.id[0] if isinstance(used.id, tuple) else used.id)
        if existing is None:
            empty = ("",) * catalogue.num_plurals if used.pluralizable else ""
            catalogue[used.id] = Message(used.id, empty, locations=used.locations)
        else:
            existing.locations = list(used.locations)
    with path.open("wb") as fp:
        write_po(fp, catalogue, width=WIDTH, include_lineno=False)
    return catalogue


def main() -> int:
    template = extract()
    POT.parent.mkdir(exist_ok=True)
    with POT.open("wb") as fp:
        write_po(fp, template, width=WIDTH, include_lineno=False)
    used = {m.id[0] if isinstance(m.id, tuple) else m.id for m in template if m.id}
    print(f"{len(used)} keys named in code and templates -> {POT.relative_to(ROOT)}")
    status = 0
    for lang, path in catalogues():
        catalogue = update(template, path, lang)
        missing = untranslated(catalogue)
        print(f"{lang}: {len(catalogue)} messages, {len(missing)} untranslated")
        for key in missing:
            print(f"  untranslated: {key}")
        status = status or (1 if missing else 0)
    unseen = sorted({m.id[0] if isinstance(m.id, tuple) else m.id for m in catalogue if m.id} - used)
    print(f"{len(unseen)} keys are built at run time or unused (not named literally anywhere): " + " ".join(unseen))
    return status


if __name__ == "__main__":
    sys.exit(main())
