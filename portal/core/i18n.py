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

# The staff desk pages (api/pages/desk*.py, api/templates/desk_*.html).
MESSAGES.update(
    {
        "INVALID_CHOICE": {"ru": "Выберите значение из списка.", "en": "Choose one of the listed values."},
        "ERASE_CONFIRMATION": {
            "ru": "Введите слово подтверждения точно, как показано.",
            "en": "Type the confirmation word exactly as shown.",
        },
        "desk.nav": {"ru": "Рабочее место поддержки", "en": "Support desk"},
        "desk.sign_out": {"ru": "Выйти", "en": "Sign out"},
        "desk.role.resident": {"ru": "житель", "en": "resident"},
        "desk.role.staff": {"ru": "сотрудник поддержки", "en": "support staff"},
        "desk.role.admin": {"ru": "администратор", "en": "administrator"},
        "desk.forbidden_title": {"ru": "Нет доступа", "en": "No access"},
        "desk.forbidden": {
            "ru": "Эта страница — рабочее место сотрудников поддержки. Ваша учётная запись — учётная запись "
            "жителя, поэтому доступа к ней нет. Если вам нужна помощь, напишите в поддержку.",
            "en": "This page is the support staff's desk. Your account is a resident's account, so it has no "
            "access here. If you need help, write to support.",
        },
        "desk.forbidden_admin": {
            "ru": "Эту страницу открывают только администраторы.",
            "en": "Only administrators can open this page.",
        },
        "desk.not_found_title": {"ru": "Обращение не найдено", "en": "Ticket not found"},
        "desk.not_found": {
            "ru": "Такого обращения или записи нет. Проверьте номер.",
            "en": "There is no such ticket or record. Check the number.",
        },
        "desk.account_not_found_title": {"ru": "Учётная запись не найдена", "en": "Account not found"},
        "desk.account_not_found": {"ru": "Такой учётной записи нет.", "en": "There is no such account."},
        "desk.back_to_queue": {"ru": "← К очереди обращений", "en": "← Back to the queue"},
        "desk.age.minutes": {"ru": "{n} мин", "en": "{n} min"},
        "desk.age.hours": {"ru": "{n} ч", "en": "{n} h"},
        "desk.age.days": {"ru": "{n} дн", "en": "{n} d"},
        # the queue
        "desk.queue.title": {"ru": "Очередь обращений", "en": "Ticket queue"},
        "desk.queue.total": {"ru": "Всего: {count}", "en": "Total: {count}"},
        "desk.queue.filters": {"ru": "Поиск и фильтры", "en": "Search and filters"},
        "desk.queue.search": {"ru": "Поиск", "en": "Search"},
        "desk.queue.search_hint": {
            "ru": "Номер обращения, ФИО, телефон в любой записи, почта или лицевой счёт",
            "en": "Ticket number, name, phone in any notation, e-mail or personal account number",
        },
        "desk.queue.status": {"ru": "Статус", "en": "Status"},
        "desk.queue.category": {"ru": "Тема", "en": "Topic"},
        "desk.queue.any": {"ru": "Любой", "en": "Any"},
        "desk.queue.mine": {"ru": "Только мои", "en": "Assigned to me"},
        "desk.queue.apply": {"ru": "Найти", "en": "Search"},
        "desk.queue.reset": {"ru": "Сбросить фильтры", "en": "Clear the filters"},
        "desk.queue.accounts": {
            "ru": "Учётные записи с этим идентификатором",
            "en": "Accounts with this identifier",
        },
        "desk.queue.caption": {"ru": "Обращения, новые сверху", "en": "Tickets, newest first"},
        "desk.queue.col_number": {"ru": "Номер", "en": "Number"},
        "desk.queue.col_resident": {"ru": "Заявитель", "en": "Resident"},
        "desk.queue.col_category": {"ru": "Тема", "en": "Topic"},
        "desk.queue.col_status": {"ru": "Статус", "en": "Status"},
        "desk.queue.col_age": {"ru": "Ждёт", "en": "Age"},
        "desk.queue.col_holder": {"ru": "У кого", "en": "Held by"},
        "desk.queue.you": {"ru": "вы", "en": "you"},
        "desk.queue.nobody": {"ru": "не назначено", "en": "unassigned"},
        "desk.queue.empty": {"ru": "Обращений не найдено.", "en": "No tickets found."},
        "desk.queue.pages": {"ru": "Страницы", "en": "Pages"},
        "desk.queue.first_page": {"ru": "← В начало", "en": "← First page"},
        "desk.queue.next_page": {"ru": "Следующая страница →", "en": "Next page →"},
        "desk.queue.bad_after": {
            "ru": "Ссылка на страницу устарела. Откройте очередь с начала.",
            "en": "This page link is out of date. Open the queue from the start.",
        },
        "desk.queue.bad_search": {
            "ru": "В поисковой строке недопустимые символы.",
            "en": "The search text contains characters that are not allowed.",
        },
        "desk.lookup.title": {"ru": "Найти учётную запись", "en": "Find an account"},
        "desk.lookup.identifier": {
            "ru": "Почта, телефон, логин или номер учётной записи",
            "en": "E-mail, phone, login or account id",
        },
        "desk.lookup.hint": {"ru": "Телефон — в любой записи", "en": "The phone in any notation"},
        "desk.lookup.submit": {"ru": "Открыть учётную запись", "en": "Open the account"},
        "desk.lookup.not_found": {
            "ru": "Учётная запись не найдена. Проверьте, что введено.",
            "en": "No account found. Check what you typed.",
        },
        # one ticket
        "desk.ticket.holder": {"ru": "У кого", "en": "Held by"},
        "desk.ticket.submitted": {"ru": "Что сообщил житель", "en": "What the resident submitted"},
        "desk.ticket.filed_by": {"ru": "Отправлено", "en": "Sent"},
        "desk.ticket.anonymous": {"ru": "без входа в кабинет", "en": "without signing in"},
        "desk.ticket.consent": {"ru": "Согласие на обработку данных", "en": "Consent to data processing"},
        "desk.ticket.sent_from": {"ru": "IP-адрес отправителя", "en": "Sender's IP address"},
        "desk.ticket.history": {"ru": "История статусов", "en": "Status history"},
        "desk.ticket.system": {"ru": "система", "en": "system"},
        "desk.ticket.resident": {"ru": "житель", "en": "resident"},
        "desk.ticket.messages": {"ru": "Сообщения жителю (видны ему)", "en": "Messages to the resident (visible)"},
        "desk.ticket.notes": {"ru": "Внутренние заметки", "en": "Internal notes"},
        "desk.ticket.notes_hint": {"ru": "Видят только сотрудники.", "en": "Only staff see these."},
        "desk.ticket.note_body": {"ru": "Новая заметка", "en": "New note"},
        "desk.ticket.note_submit": {"ru": "Добавить заметку", "en": "Add the note"},
        "desk.ticket.checks": {"ru": "Проверки владельца", "en": "Ownership checks"},
        "desk.ticket.no_checks": {"ru": "Проверок ещё не было.", "en": "No checks yet."},
        "desk.ticket.evidence_matched": {"ru": "Совпало", "en": "Matched"},
        "desk.ticket.documents": {"ru": "Документы", "en": "Documents"},
        "desk.ticket.recoveries": {"ru": "Восстановление доступа", "en": "Access recovery"},
        "desk.ticket.no_recoveries": {"ru": "Восстановления не было.", "en": "No recovery yet."},
        "desk.ticket.requested_by": {"ru": "запросил(а)", "en": "requested by"},
        "desk.ticket.decided_by": {"ru": "решение:", "en": "decided by"},
        "desk.ticket.assign": {"ru": "Ответственный", "en": "Assignment"},
        "desk.ticket.assign_me": {"ru": "Взять себе", "en": "Assign to me"},
        "desk.ticket.assign_to": {"ru": "Передать сотруднику", "en": "Assign to a colleague"},
        "desk.ticket.assign_submit": {"ru": "Назначить", "en": "Assign"},
        "desk.ticket.change_status": {"ru": "Статус и ответ жителю", "en": "Status and reply"},
        "desk.ticket.new_status": {"ru": "Новый статус", "en": "New status"},
        "desk.ticket.public_message": {"ru": "Сообщение жителю", "en": "Message to the resident"},
        "desk.ticket.public_message_hint": {
            "ru": "Житель увидит его на странице статуса и получит письмом.",
            "en": "The resident sees it on the status page and gets it by e-mail.",
        },
        "desk.ticket.status_submit": {"ru": "Сменить статус", "en": "Change the status"},
        "desk.ticket.verify": {"ru": "Проверка владельца", "en": "Verify ownership"},
        "desk.ticket.verify_account": {"ru": "Учётная запись", "en": "Account"},
        "desk.ticket.verify_account_hint": {
            "ru": "Почта, телефон, логин или номер учётной записи",
            "en": "E-mail, phone, login or account id",
        },
        "desk.ticket.evidence": {"ru": "Что совпало с данными учётной записи", "en": "What matched the account"},
        "desk.ticket.documents_seen": {"ru": "Какие документы видели", "en": "Documents seen"},
        "desk.ticket.documents_hint": {
            "ru": "Только название, например «паспорт». Копии не храним.",
            "en": "The name only, e.g. «passport». No copies are kept.",
        },
        "desk.ticket.outcome": {"ru": "Итог", "en": "Outcome"},
        "desk.ticket.comment": {"ru": "Комментарий", "en": "Comment"},
        "desk.ticket.verify_submit": {"ru": "Записать проверку", "en": "Record the check"},
        "desk.ticket.recover": {"ru": "Восстановить доступ", "en": "Restore access"},
        "desk.ticket.recover_hint": {
            "ru": "Сначала подтвердите владельца: без этого ссылку отправить нельзя.",
            "en": "Verify the owner first: without it no link can be sent.",
        },
        "desk.ticket.recover_hint_verified": {
            "ru": "Владелец подтверждён. Ссылка для смены пароля уйдёт на почту учётной записи.",
            "en": "Ownership verified. The reset link goes to the account's own e-mail.",
        },
        "desk.ticket.reset_submit": {"ru": "Отправить ссылку для смены пароля", "en": "Send a password reset link"},
        "desk.ticket.email_change": {"ru": "Сменить почту учётной записи", "en": "Change the account's e-mail"},
        "desk.ticket.email_change_hint": {
            "ru": "Нужно одобрение другого администратора. Почта сменится, когда житель перейдёт по ссылке из письма.",
            "en": "Another administrator must approve. The address changes when the resident uses the mailed link.",
        },
        "desk.ticket.new_email": {"ru": "Новая почта", "en": "New e-mail"},
        "desk.ticket.email_submit": {"ru": "Предложить смену почты", "en": "Propose the e-mail change"},
        "desk.evidence.full_name": {"ru": "ФИО", "en": "Full name"},
        "desk.evidence.registered_address": {"ru": "Адрес регистрации", "en": "Registered address"},
        "desk.evidence.phone_on_file": {"ru": "Телефон из учётной записи", "en": "Phone on file"},
        "desk.evidence.personal_account_number": {"ru": "Лицевой счёт", "en": "Personal account number"},
        "desk.evidence.documents_seen": {"ru": "Документы предъявлены", "en": "Documents seen"},
        "desk.outcome.verified": {"ru": "Владелец подтверждён", "en": "Owner verified"},
        "desk.outcome.not_verified": {"ru": "Не подтверждён", "en": "Not verified"},
        "desk.recovery.reset_link": {"ru": "Ссылка для смены пароля", "en": "Password reset link"},
        "desk.recovery.email_change": {"ru": "Смена почты", "en": "E-mail change"},
        "desk.recovery_status.awaiting_approval": {"ru": "ждёт одобрения", "en": "awaiting approval"},
        "desk.recovery_status.sent": {"ru": "ссылка отправлена", "en": "link sent"},
        "desk.recovery_status.completed": {"ru": "выполнено", "en": "completed"},
        "desk.recovery_status.rejected": {"ru": "отклонено", "en": "rejected"},
        "desk.recovery_status.superseded": {"ru": "заменено новым", "en": "superseded"},
        "desk.notice.assigned": {"ru": "Ответственный назначен.", "en": "The ticket is assigned."},
        "desk.notice.status": {"ru": "Статус изменён.", "en": "The status is changed."},
        "desk.notice.note": {"ru": "Заметка добавлена.", "en": "The note is added."},
        "desk.notice.verified": {"ru": "Проверка записана.", "en": "The check is recorded."},
        "desk.notice.reset": {
            "ru": "Ссылка для смены пароля отправлена на почту учётной записи.",
            "en": "The reset link has been sent to the account's e-mail.",
        },
        "desk.notice.email": {
            "ru": "Смена почты предложена и ждёт одобрения другого администратора.",
            "en": "The e-mail change is proposed and awaits another administrator's approval.",
        },
        "desk.notice.disabled": {"ru": "Учётная запись отключена.", "en": "The account is disabled."},
        "desk.notice.enabled": {"ru": "Учётная запись включена.", "en": "The account is enabled."},
        "desk.notice.unlocked": {"ru": "Блокировка входа снята.", "en": "The sign-in lock is lifted."},
        "desk.notice.role": {"ru": "Роль сохранена.", "en": "The role is saved."},
        "desk.notice.erased": {
            "ru": "Персональные данные удалены, доступ отозван.",
            "en": "Personal data erased and all access revoked.",
        },
        "desk.notice.approved": {
            "ru": "Смена почты одобрена: ссылка ушла на новый адрес, старый адрес предупреждён.",
            "en": "Approved: the link went to the new address and the old address was told.",
        },
        "desk.notice.rejected": {"ru": "Смена почты отклонена.", "en": "The e-mail change is rejected."},
        # approvals
        "desk.approvals.title": {"ru": "Одобрения", "en": "Approvals"},
        "desk.approvals.lead": {
            "ru": "Смена почты учётной записи вступает в силу только после одобрения вторым человеком — "
            "администратором, который её не предлагал.",
            "en": "An account's e-mail changes only after a second person approves: an administrator who did "
            "not propose it.",
        },
        "desk.approvals.item": {"ru": "Смена почты: {name}", "en": "E-mail change: {name}"},
        "desk.approvals.ticket": {"ru": "Обращение", "en": "Ticket"},
        "desk.approvals.from": {"ru": "Текущая почта", "en": "Current e-mail"},
        "desk.approvals.to": {"ru": "Новая почта", "en": "New e-mail"},
        "desk.approvals.asked_by": {"ru": "Предложил(а)", "en": "Proposed by"},
        "desk.approvals.evidence": {"ru": "Что совпало при проверке", "en": "Evidence that matched"},
        "desk.approvals.own": {
            "ru": "Эту смену предложили вы, поэтому одобрить её должен другой администратор.",
            "en": "You proposed this change, so another administrator must decide it.",
        },
        "desk.approvals.approve": {"ru": "Одобрить", "en": "Approve"},
        "desk.approvals.reject": {"ru": "Отклонить", "en": "Reject"},
        "desk.approvals.none": {"ru": "Нечего одобрять.", "en": "Nothing awaits approval."},
        # one account
        "desk.account.pan": {"ru": "Лицевой счёт", "en": "Personal account number"},
        "desk.account.role": {"ru": "Роль", "en": "Role"},
        "desk.account.state": {"ru": "Состояние", "en": "State"},
        "desk.account.active": {"ru": "действует", "en": "active"},
        "desk.account.disabled": {"ru": "отключена", "en": "disabled"},
        "desk.account.erased": {"ru": "данные удалены", "en": "erased"},
        "desk.account.no_password": {"ru": "Не задан", "en": "Not set"},
        "desk.account.created": {"ru": "Создана", "en": "Created"},
        "desk.account.id": {"ru": "Номер учётной записи", "en": "Account id"},
        "desk.account.sessions": {"ru": "Входы", "en": "Sessions"},
        "desk.account.no_sessions": {"ru": "Действующих входов нет.", "en": "No live sessions."},
        "desk.account.tickets": {"ru": "Обращения", "en": "Tickets"},
        "desk.account.no_tickets": {"ru": "Обращений нет.", "en": "No tickets."},
        "desk.account.manage": {"ru": "Действия", "en": "Actions"},
        "desk.account.reason": {"ru": "Причина отключения", "en": "Reason for disabling"},
        "desk.account.disable": {"ru": "Отключить учётную запись", "en": "Disable the account"},
        "desk.account.enable": {"ru": "Включить учётную запись", "en": "Enable the account"},
        "desk.account.unlock": {"ru": "Снять блокировку входа", "en": "Lift the sign-in lock"},
        "desk.account.admin": {"ru": "Администратору", "en": "Administrator"},
        "desk.account.role_submit": {"ru": "Сохранить роль", "en": "Save the role"},
        "desk.account.export": {"ru": "Выгрузка данных (152-ФЗ)", "en": "Data export (152-FZ)"},
        "desk.account.export_hint": {
            "ru": "Файл JSON со всем, что хранится о жителе. Выгрузка записывается в журнал.",
            "en": "A JSON file with everything held about the resident. The export is logged.",
        },
        "desk.account.export_submit": {"ru": "Скачать данные", "en": "Download the data"},
        "desk.account.erase": {"ru": "Удаление персональных данных", "en": "Erase personal data"},
        "desk.account.erase_hint": {
            "ru": "Необратимо: данные удаляются, все входы и ссылки отзываются, обращения обезличиваются.",
            "en": "Irreversible: the data is removed, every session and link revoked, tickets anonymised.",
        },
        "desk.account.erase_confirm": {
            "ru": "Для подтверждения введите слово {word}",
            "en": "To confirm, type the word {word}",
        },
        "desk.account.erase_submit": {"ru": "Удалить данные", "en": "Erase the data"},
    }
)



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
