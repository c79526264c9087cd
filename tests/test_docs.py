"""The documentation the repository owns stays true: generated pages current, links resolving, help with examples.

- `docs/configuration.md` and `docs/schema.graphql` equal what `make docs` generates now;
- every Settings field has a description (the table's "meaning");
- every relative link and anchor in README.md, docs/ and the other pages resolves inside the repository,
  and nothing refers to files outside it (the planning notes that once lived beside the clone);
- every `portal` command's `--help` exits 0 and shows an example.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from portal.api import docs as generated
from portal.api.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", "node_modules", "test-artifacts", "data", ".mypy_cache", ".ruff_cache", "build"}


def repo_files(*suffixes: str) -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in suffixes:
            found.append(path)
    return sorted(found)


PAGES = repo_files(".md")


# --- generated pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", sorted(generated.generated_pages()), ids=str)
def test_generated_pages_are_current(page: Path) -> None:
    expected = generated.generated_pages()[page]
    committed = (ROOT / page).read_text(encoding="utf-8") if (ROOT / page).exists() else ""
    assert committed == expected, f"{page} is stale: run `make docs` and commit the result"


def test_every_setting_has_a_description() -> None:
    assert generated.undocumented_settings() == [], "give each Settings field a Field(description=...)"


def test_the_configuration_page_lists_every_variable_with_its_default() -> None:
    text = (ROOT / generated.CONFIGURATION_PAGE).read_text(encoding="utf-8")
    assert "| `PORTAL_PASSWORD_MIN_LENGTH` | `12` | ≥ 8 |" in text
    assert "| `PORTAL_DATA_DIR` | `./data` |" in text
    assert "| `PORTAL_SECRET_KEY` | unset |" in text
    for name in generated.Settings.model_fields:
        assert f"`{generated.variable_name(name)}`" in text


def test_make_docs_writes_both_pages(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    assert generated.main(["--root", str(tmp_path)]) == 0
    for page, text in generated.generated_pages().items():
        assert (tmp_path / page).read_text(encoding="utf-8") == text


# --- links -------------------------------------------------------------------------------------------------------

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def prose(text: str) -> str:
    """The text a reader follows links in: fenced blocks and code spans removed."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found: set[str] = set(HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def broken_links(page: Path) -> list[str]:
    problems = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:: not ours to check
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and unquote(fragment) not in anchors(resolved):
            problems.append(f"{target}: no heading #{fragment} in {resolved.relative_to(ROOT)}")
    return problems


def test_the_link_checker_sees_what_it_should() -> None:
    """The checker itself: links in prose count, links in code do not, and slugs follow GitHub's rules."""
    text = "See [a](x.md#b) and `[c](d.md)`.\n\n```\n[e](f.md)\n```\n[g]: h.md\n"
    page_links = INLINE_LINK.findall(prose(text)) + REFERENCE_LINK.findall(prose(text))
    assert page_links == ["x.md#b", "h.md"]
    assert slug("Sign-in and `refresh`: the web client") == "sign-in-and-refresh-the-web-client"
    assert slug("152-FZ: export, erasure") == "152-fz-export-erasure"
    assert slug("Вход и выход") == "вход-и-выход"


def test_there_are_pages_to_check() -> None:
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    assert {"README.md", "docs/index.md", "docs/configuration.md", "docs/security.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_resolves_inside_the_repository(page: Path) -> None:
    assert broken_links(page) == []


# The planning notes that lived beside the clone, by their names; no page or code comment may cite them.
OUTSIDE = re.compile(r"\.\./shared|\b(?:" + "|".join(["API", "DESIGN", "SECURITY"]) + r")\.md\b")


def test_nothing_refers_to_files_outside_the_repository() -> None:
    offenders = []
    for path in repo_files(".md", ".py", ".toml", ".j2", ".html", ".cfg", ".txt", ".graphql"):
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


# --- `portal --help` ---------------------------------------------------------------------------------------------


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths += command_paths(child, (*prefix, name))
    return paths


COMMANDS = command_paths(build_parser())


def help_text(path: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        main([*path, "--help"])
    assert stop.value.code == 0
    return out.getvalue()


def test_every_command_is_reached() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"", "serve", "migrate", "worker", "schema", "accounts create", "audit prune", "keys rotate"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "portal")
def test_every_help_exits_0_and_shows_an_example(path: tuple[str, ...]) -> None:
    text = help_text(path)
    assert "example" in text.lower()
    example = text[text.lower().index("example") :]
    assert re.search(r"^\s+(?:\S+=\S+\s+|echo .*\| )?portal " + re.escape(" ".join(path)), example, re.M), example
    for child in [p for p in COMMANDS if len(p) == len(path) + 1 and p[: len(path)] == path]:
        assert child[-1] in text, f"{child[-1]} is not listed in the help of {' '.join(path) or 'portal'}"


def test_a_group_alone_prints_its_own_commands() -> None:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["accounts"]) == 2
    assert "set-role" in out.getvalue() and "serve" not in out.getvalue()


def test_the_installed_console_script_answers_help() -> None:
    """The real `portal` entry point (not only the parser) prints the help and exits 0."""
    script = Path(sys.executable).parent / "portal"
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable}")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "portal accounts create" in done.stdout and "example" in done.stdout


# --- the security requirements and their proofs -------------------------------------------------------------------


def test_every_test_named_as_a_proof_exists() -> None:
    """docs/security-tests.md names tests as `abbr::test_name`; each must be a test function in that file."""
    text = (ROOT / "docs" / "security-tests.md").read_text(encoding="utf-8")
    files = dict(re.findall(r"`(\w+)` = (tests/test_\w+\.py)", text))
    assert files, "the page defines its abbreviations"
    missing = []
    for prefix, name in set(re.findall(r"([\w/.]+)::(test_\w+)", text)):
        path = ROOT / (prefix if prefix.endswith(".py") else files.get(prefix, f"<unknown abbreviation {prefix}>"))
        source = path.read_text(encoding="utf-8") if path.is_file() else ""
        if not re.search(rf"^(?:async )?def {name}\(", source, re.M):
            missing.append(f"{prefix}::{name}")
    assert sorted(missing) == []


def test_every_requirement_is_listed_once_in_order() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", text, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 50
    proofs = (ROOT / "docs" / "security-tests.md").read_text(encoding="utf-8")
    for number in re.findall(r"^\| (\d+) \|", proofs, re.M):
        assert int(number) in numbers, f"security-tests.md proves #{number}, which security.md does not list"
