"""Translations: complete gettext catalogues for every configured language, every key the code names present,
the same placeholders in every language, real Russian plural forms in answers, pages and letters."""

from __future__ import annotations

import importlib.util
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from portal.api.app import create_app
from portal.core.i18n import LOCALE_DIR, catalogue_file, language_name, negotiate, placeholders, t, tn
from portal.core.runtime import Runtime
from portal.core.settings import Settings, SettingsError, load_settings
from portal.mail.render import render
from tests.helpers import PUBLIC_URL, unique

ROOT = Path(__file__).resolve().parent.parent
RUSSIAN_MINUTES = {1: "1 минуту", 2: "2 минуты", 5: "5 минут", 21: "21 минуту", 12: "12 минут", 22: "22 минуты"}


def script(name: str) -> Any:
    """One of scripts/*.py as a module (they are run by `make`, not installed)."""
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def catalogue(lang: str) -> Catalog:
    with catalogue_file(lang).open("rb") as fp:
        return read_po(fp, locale=lang)


def key(message_id: str | tuple[str, ...]) -> str:
    return message_id[0] if isinstance(message_id, tuple) else message_id


def forms(string: str | tuple[str, ...]) -> tuple[str, ...]:
    return string if isinstance(string, tuple) else (string,)


@pytest.fixture(scope="module")
def configured() -> tuple[str, ...]:
    """The languages of a default installation (PORTAL_LANGUAGES' default)."""
    return Settings(_env_file=None).language_list  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def catalogues(configured: tuple[str, ...]) -> dict[str, Catalog]:
    return {lang: catalogue(lang) for lang in configured}


def test_every_configured_language_has_every_message(catalogues):
    everything = {key(m.id) for c in catalogues.values() for m in c if m.id}
    assert len(everything) > 250
    for lang, c in catalogues.items():
        texts = {key(m.id): forms(m.string) for m in c if m.id}
        assert everything - texts.keys() == set(), f"{lang} lacks these keys"
        untranslated = sorted(k for k, strings in texts.items() if not all(s.strip() for s in strings))
        assert untranslated == [], f"{lang} has no text for these keys"
        assert not [m.id for m in c if m.fuzzy and m.id], f"{lang} has fuzzy entries"


def test_every_key_named_in_code_or_templates_is_in_every_catalogue(catalogues):
    """Babel's extraction (the same as `make messages`) over portal/: t(), tn(), _(), gettext(), ngettext()."""
    used = script("messages").extract(ROOT)
    names = {key(m.id) for m in used if m.id}
    assert {"InvalidCredentials", "support.title", "mail.password_reset.valid", "TooManyAttempts"} <= names
    for lang, c in catalogues.items():
        assert sorted(names - {key(m.id) for m in c if m.id}) == [], f"used but missing from {lang}"
        for message in used:
            if message.id and message.pluralizable:
                assert c[key(message.id)].pluralizable, f"{lang}: {key(message.id)} is used with a count"


def test_keys_built_at_run_time_have_messages(catalogues):
    from portal.models.support import TicketCategory, TicketStatus

    built = [f"ticket.category.{c.value}" for c in TicketCategory] + [f"mail.topic.{c.value}" for c in TicketCategory]
    for status in TicketStatus:
        built += [f"ticket.status.{status.value}", f"ticket.status_text.{status.value}"]
        built.append(f"mail.ticket_status.{status.value}")
    for lang, c in catalogues.items():
        assert [k for k in built if c.get(k) is None] == [], lang


def test_every_language_fills_the_same_placeholders(catalogues):
    reference = catalogues["ru"]
    for message in reference:
        if not message.id:
            continue
        expected = placeholders(forms(message.string)[-1])
        assert "<malformed>" not in expected, key(message.id)
        for lang, c in catalogues.items():
            for text in forms(c[key(message.id)].string):
                assert placeholders(text) == expected, f"{lang} {key(message.id)}: {text!r}"


def test_plural_entries_follow_each_languages_rules(catalogues):
    assert catalogues["ru"].num_plurals == 3 and catalogues["en"].num_plurals == 2
    plural = {key(m.id) for m in catalogues["ru"] if m.id and m.pluralizable}
    assert {"TooManyAttempts", "PasswordResetRequested", "forgot.sent_lead", "PASSWORD_TOO_SHORT"} <= plural
    for lang, c in catalogues.items():
        assert {key(m.id) for m in c if m.id and m.pluralizable} == plural, lang
        assert all(len(forms(c[k].string)) == c.num_plurals for k in plural), lang
    # No number is abbreviated any more: «{minutes} мин.», «{seconds} с.»
    for message in catalogues["ru"]:
        for text in forms(message.string):
            assert "} мин" not in text.replace("} минут", "") and "} с." not in text, key(message.id)


@pytest.mark.parametrize(("n", "word"), [(1, "секунду"), (2, "секунды"), (5, "секунд"), (21, "секунду"), (11, "секунд")])
def test_russian_plural_forms_of_a_message(n, word):
    assert tn("TooManyAttempts", n, "ru", seconds=n) == f"Слишком много попыток. Повторите через {n} {word}."
    assert t("TooManyAttempts", "ru", seconds=n).endswith(f" {n} {word}.")  # t() takes the count from its parameter
    assert tn("TooManyAttempts", n, "en", seconds=n).endswith(f"in {n} second{'' if n == 1 else 's'}.")


def test_unknown_keys_and_languages():
    assert t("no.such.key", "ru") == "no.such.key"
    assert t("REQUIRED", "xx") == t("REQUIRED", "ru") == "Заполните это поле."  # no catalogue: Russian
    assert t("account.hello", "en", name="{evil}") == "Hello, {evil}!"  # values are not formatted twice
    assert t("account.hello", "en") == "Hello, {name}!"  # a missing value leaves the placeholder, no 500


def with_settings(rt: Runtime, **changes: Any) -> Runtime:
    """The same database, secret and clock with other settings."""
    return Runtime(Settings(_env_file=None, **{**rt.settings.model_dump(), **changes}), rt.clock)  # type: ignore[call-arg]


RESET = "mutation($id: String!) { requestPasswordReset(identifier: $id) { ... on PasswordResetRequested { message } } }"


@pytest.mark.parametrize("minutes", [1, 2, 5, 21])
async def test_the_reset_answer_says_how_long_the_link_lives_in_russian_plural(rt, minutes):
    app = create_app(runtime=with_settings(rt, reset_token_ttl=minutes * 60), manage_database=False)
    transport = httpx.ASGITransport(app=app, client=(f"10.13.0.{minutes}", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        answers = {}
        for lang in ("ru", "en"):
            variables = {"id": f"{unique('nobody')}@example.org"}
            response = await client.post(
                "/graphql", json={"query": RESET, "variables": variables}, headers={"Accept-Language": lang}
            )
            answers[lang] = response.json()["data"]["requestPasswordReset"]["message"]
    assert f"Ссылка действует {RUSSIAN_MINUTES[minutes]}. " in answers["ru"]
    assert f"valid for {minutes} minute{'' if minutes == 1 else 's'}." in answers["en"]


@pytest.mark.parametrize("minutes", [1, 22, 30])
def test_the_reset_letter_uses_plural_forms_in_both_languages(settings, minutes):
    context = {"full_name": "Анна", "reset_url": f"{PUBLIC_URL}/reset-password?token=abc", "valid_minutes": minutes}
    texts = {}
    for lang in ("ru", "en"):
        msg = render(
            settings, template="password_reset", to="a@example.org", lang=lang, context=context,
            msg_id="<i18n@127.0.0.1>", now=datetime(2026, 11, 25, tzinfo=UTC),
        )
        texts[lang] = "\n".join(part.get_content() for part in msg.iter_parts())
        assert msg["Content-Language"] == lang
    assert texts["ru"].count(f"Ссылка действует {RUSSIAN_MINUTES.get(minutes, f'{minutes} минут')} ") == 2
    assert texts["en"].count(f"valid for {minutes} minute{'' if minutes == 1 else 's'} ") == 2
    assert "Здравствуйте, Анна!" in texts["ru"] and "Hello, Анна," in texts["en"]


def test_a_letter_in_a_language_not_offered_comes_in_the_default_one(settings):
    msg = render(
        settings, template="ticket_owner_notice", to="a@example.org", lang="de",
        context={"number": "2026-000001", "support_url": f"{PUBLIC_URL}/support"},
        msg_id="<i18n@127.0.0.1>", now=datetime(2026, 11, 25, tzinfo=UTC),
    )
    assert msg["Content-Language"] == "ru" and "Обращение в поддержку" in str(msg["Subject"])


def test_html_letters_escape_translations_and_values_but_keep_links(settings):
    msg = render(
        settings, template="password_changed", to="a@example.org", lang="en",
        context={"full_name": "<b>Ann</b>", "changed_at": "2026-11-25T18:46:00+00:00",
                 "forgot_url": f"{PUBLIC_URL}/forgot-password?a=1&b=2", "user_agent": "<script>"},
        msg_id="<i18n@127.0.0.1>", now=datetime(2026, 11, 25, tzinfo=UTC),
    )
    text, html = (part.get_content() for part in msg.iter_parts())
    assert "Hello, <b>Ann</b>," in text and f"{PUBLIC_URL}/forgot-password?a=1&b=2" in text
    assert "&lt;b&gt;Ann&lt;/b&gt;" in html and "<script>" not in html and "residents&#39; account" in html
    assert f'<a href="{PUBLIC_URL}/forgot-password?a=1&amp;b=2" style="color:#0b57d0">' in html


def test_languages_are_a_setting_and_the_first_is_the_default():
    assert negotiate(None, None, ("en", "ru")) == "en"
    assert negotiate("de, ru;q=0.5", None, ("en", "ru")) == "ru"
    assert negotiate("ru", None, ("en",)) == "en"
    assert negotiate("en", "ru", ("ru", "en")) == "ru"  # the language cookie wins
    assert negotiate("en", "tt", ("ru", "en")) == "en"  # ... when it names an offered language
    assert load_settings(_env_file=None, languages=" en , ru ").language_list == ("en", "ru")
    with pytest.raises(SettingsError, match=r"PORTAL_LANGUAGES: .*no catalogue for tt"):
        load_settings(_env_file=None, languages="ru,tt")
    with pytest.raises(SettingsError, match=r"PORTAL_LANGUAGES"):
        load_settings(_env_file=None, languages=" , ")
    assert (language_name("ru"), language_name("en")) == ("Русский", "English")


async def test_the_language_switch_lists_the_configured_languages(rt):
    app = create_app(runtime=with_settings(rt, languages="en"), manage_database=False)
    transport = httpx.ASGITransport(app=app, client=("10.13.1.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        page = (await client.get("/login", headers={"Accept-Language": "ru"})).text
    assert 'lang="en"' in page and "Sign in to your account" in page
    assert 'hreflang="ru"' not in page and "Вход в личный кабинет" not in page


def test_dict_to_po_moves_a_dictionary_into_the_catalogues(tmp_path, capsys):
    locale_dir = tmp_path / "locale"  # sample.* keys: ones no catalogue holds (the desk has desk.queue.*)
    shutil.copytree(LOCALE_DIR, locale_dir, ignore=shutil.ignore_patterns("*.mo"))
    source = tmp_path / "i18n.py"
    source.write_text(
        'MESSAGES: dict[str, dict[str, str]] = {"sample.queue.title": {"ru": "Очередь", "en": "Queue"}}\n'
        'MESSAGES.update({"sample.queue.empty": {"ru": "Пусто " "совсем.", "en": "Nothing here."}})\n'
        'MESSAGES["REQUIRED"] = {"ru": "Обязательно.", "en": "This field is required."}\n',
        encoding="utf-8",
    )
    convert = script("dict_to_po")
    assert convert.main([str(source), "--locale-dir", str(locale_dir)]) == 1  # REQUIRED differs in Russian: kept
    assert "conflict: ru REQUIRED" in capsys.readouterr().err
    ru, en = (convert.load(lang, locale_dir) for lang in ("ru", "en"))
    assert ru["sample.queue.empty"].string == "Пусто совсем." and en["sample.queue.title"].string == "Queue"
    assert ru["REQUIRED"].string == "Заполните это поле."
    assert convert.main([str(source), "--locale-dir", str(locale_dir), "--replace"]) == 0
    assert convert.load("ru", locale_dir)["REQUIRED"].string == "Обязательно."
    assert len(convert.load("ru", locale_dir)) == len(catalogue("ru")) + 2


def test_no_message_dictionary_is_left_in_python_code():
    convert = script("dict_to_po")
    for path in (ROOT / "portal").rglob("*.py"):
        assert convert.entries(path.read_text(encoding="utf-8")) == {}, path


def test_every_letter_is_one_template_for_all_languages():
    """Per-language letter files (`x.ru.txt.j2`) are what branches written before the catalogues add: convert
    them to one `x.txt.j2` whose strings go through gettext (docs/translations.md)."""
    templates = ROOT / "portal" / "mail" / "templates"
    languages = {p.name for p in LOCALE_DIR.iterdir() if p.is_dir()}
    per_language = [p.name for p in templates.glob("*.j2") if len(p.name.split(".")) == 4 and p.name.split(".")[1] in languages]
    assert per_language == []
    letters = {p.name.split(".")[0] for p in templates.glob("*.txt.j2") if not p.name.startswith("_")}
    assert {"password_reset", "ticket_submitted", "desk_ticket_update"} <= letters
    assert all((templates / f"{letter}.subject.j2").exists() for letter in letters)


def test_a_letter_not_yet_converted_is_still_sent_in_its_language():
    from jinja2 import DictLoader, Environment

    from portal.mail.render import _part

    env = Environment(loader=DictLoader({"old.ru.txt.j2": "ru", "old.en.txt.j2": "en", "old.ru.subject.j2": "s"}))
    assert _part(env, "old", "txt", "en").render() == "en"
    assert _part(env, "old", "subject", "en").render() == "s"  # no English subject: the Russian one
