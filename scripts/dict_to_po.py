"""Move `MESSAGES`-style dictionary entries into the gettext catalogues (portal/core/locale/*/messages.po).

Branches written before the catalogues existed add messages as Python dictionaries:

    MESSAGES = {"desk.queue.title": {"ru": "Очередь", "en": "Queue"}, ...}
    MESSAGES.update({...})
    MESSAGES["desk.queue.empty"] = {"ru": "...", "en": "..."}

This reads such a file (never imports it: `ast.literal_eval` of the literals only) and adds every key
that a catalogue lacks, one msgid per key, one catalogue per language. A key already in a catalogue with
a different text is reported and kept, unless `--replace`. With `--base`, the dictionary as it was where
the branch started, only what the branch added or changed is applied (a key the catalogues dropped on
purpose does not come back). After merging a branch whose i18n.py still has the dictionary:

    git show $(git merge-base HEAD other-branch):portal/core/i18n.py > /tmp/base.py
    git show other-branch:portal/core/i18n.py | .venv/bin/python scripts/dict_to_po.py - --base /tmp/base.py
    git checkout --ours portal/core/i18n.py   # keep the catalogue-reading module
    make messages                              # source references and a check of what is missing

Exit status: 0 when every entry is in the catalogues afterwards, 1 when a conflict was kept.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "portal" / "core" / "locale"
DICT_NAME = "MESSAGES"


def entries(source: str, name: str = DICT_NAME) -> dict[str, dict[str, str]]:
    """Every `name = {...}`, `name.update({...})` and `name["key"] = {...}` literal in the source, in order."""
    found: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == name and node.value is not None:
                    found.update(_literal(node.value))
                elif (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == name
                    and node.value is not None
                ):
                    found[ast.literal_eval(target.slice)] = ast.literal_eval(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
            and node.args
        ):
            found.update(_literal(node.args[0]))
    return found


def _literal(node: ast.expr) -> dict[str, dict[str, str]]:
    value = ast.literal_eval(node)
    if not isinstance(value, dict):
        raise SystemExit(f"line {node.lineno}: {DICT_NAME} is not given a dictionary literal")
    return value


def catalogue_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / lang / "LC_MESSAGES" / "messages.po"


def load(lang: str, locale_dir: Path = LOCALE_DIR) -> Catalog:
    path = catalogue_path(lang, locale_dir)
    if not path.exists():
        return Catalog(locale=lang, project="residents-portal", fuzzy=False)
    with path.open("rb") as fp:
        return read_po(fp, locale=lang)


def save(catalogue: Catalog, lang: str, locale_dir: Path = LOCALE_DIR) -> None:
    path = catalogue_path(lang, locale_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fp:
        write_po(fp, catalogue, width=100, include_lineno=False)


def merge(messages: dict[str, dict[str, str]], *, replace: bool = False, locale_dir: Path = LOCALE_DIR) -> list[str]:
    """Adds the entries to the catalogues; returns the conflicts (a key whose text differs), kept unless replaced."""
    conflicts: list[str] = []
    languages = sorted({lang for texts in messages.values() for lang in texts})
    for lang in languages:
        catalogue = load(lang, locale_dir)
        changed = False
        for key, texts in messages.items():
            text = texts.get(lang)
            if not text:
                continue
            existing = catalogue.get(key)
            if existing is not None and existing.string and existing.string != text:
                if isinstance(existing.string, tuple) or not replace:
                    conflicts.append(f"{lang} {key}: catalogue has {existing.string!r}, dictionary {text!r}")
                    continue
            if existing is None:
                catalogue.add(key, text)
                changed = True
            elif existing.string != text:
                existing.string = text
                changed = True
        if changed:
            save(catalogue, lang, locale_dir)
    return conflicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a Python file with a MESSAGES dictionary, or - for standard input")
    parser.add_argument("--replace", action="store_true", help="the dictionary's text wins over the catalogue's")
    parser.add_argument("--name", default=DICT_NAME, help="the dictionary's name (default MESSAGES)")
    parser.add_argument("--base", type=Path, help="the same file where the branch began: apply only its changes")
    parser.add_argument("--locale-dir", type=Path, default=LOCALE_DIR)
    args = parser.parse_args(argv)
    source = sys.stdin.read() if args.source == "-" else Path(args.source).read_text(encoding="utf-8")
    found = entries(source, args.name)
    if args.base is not None:
        before = entries(args.base.read_text(encoding="utf-8"), args.name)
        found = {key: texts for key, texts in found.items() if before.get(key) != texts}
    conflicts = merge(found, replace=args.replace, locale_dir=args.locale_dir)
    print(f"{len(found)} entries read; {len(conflicts)} conflicts kept")
    for line in conflicts:
        print("conflict:", line, file=sys.stderr)
    return 1 if conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
