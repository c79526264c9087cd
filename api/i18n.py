"""Localised messages: Russian by default, English when the caller prefers it.

One catalogue for GraphQL errors, web pages and anything else that speaks to a resident.
Letters have their own templates under `mail/templates/`.
"""

from __future__ import annotations

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"

MESSAGES: dict[str, dict[str, str]] = {
    # GraphQL error types
    "InvalidCredentials": {
        "ru": "Неверный логин или пароль.",
        "en": "Wrong sign-in name or password.",
    },
    "InvalidToken": {
        "ru": "Ссылка недействительна или устарела. Запросите восстановление пароля ещё раз.",
        "en": "This link is invalid or has expired. Please request a new password reset.",
    },
    "TooManyAttempts": {
        "ru": "Слишком много попыток. Повторите через {seconds} с.",
        "en": "Too many attempts. Try again in {seconds} s.",
    },
    "NotAuthenticated": {"ru": "Нужно войти в личный кабинет.", "en": "Please sign in."},
    "Forbidden": {"ru": "Недостаточно прав.", "en": "You are not allowed to do this."},
    "ValidationError": {
        "ru": "Проверьте введённые данные.",
        "en": "Please check what you entered.",
    },
    "LoggedOut": {"ru": "Вы вышли из личного кабинета.", "en": "You have signed out."},
    # Password reset (identity/reset.py): one answer for every identifier
    "PasswordResetRequested": {
        "ru": "Если такая учётная запись есть и у неё указана электронная почта, мы отправили на неё письмо "
        "со ссылкой для восстановления пароля. Ссылка действует {minutes} мин. Если письма нет, проверьте "
        "папку «Спам». Если почта не указана или письмо так и не пришло, обратитесь в поддержку.",
        "en": "If such an account exists and has an e-mail address, we have sent it a letter with a link to "
        "reset the password. The link is valid for {minutes} minutes. If the letter is not there, check the "
        "spam folder. If no e-mail address is on file or the letter never arrives, please contact support.",
    },
    "PasswordResetSucceeded": {
        "ru": "Пароль изменён. Войдите с новым паролем; все прежние входы завершены.",
        "en": "Your password has been changed. Sign in with the new password; every earlier sign-in has been ended.",
    },
    "RESET_PAGE_TITLE": {"ru": "Новый пароль", "en": "Choose a new password"},
    "RESET_PAGE_PASSWORD": {"ru": "Новый пароль", "en": "New password"},
    "RESET_PAGE_CONFIRMATION": {"ru": "Повторите пароль", "en": "Repeat the password"},
    "RESET_PAGE_SUBMIT": {"ru": "Сохранить пароль", "en": "Save the password"},
    "RESET_PAGE_HINT": {
        "ru": "Не короче {min} символов. Подойдёт фраза из нескольких слов.",
        "en": "At least {min} characters. A phrase of several words works well.",
    },
    "RESET_PAGE_SIGN_IN": {"ru": "Войти", "en": "Sign in"},
    "RESET_PAGE_AGAIN": {"ru": "Запросить новую ссылку", "en": "Request a new link"},
    "InternalError": {
        "ru": "Внутренняя ошибка. Попробуйте позже или обратитесь в поддержку.",
        "en": "Internal error. Please try again later or contact support.",
    },
    # FieldError codes
    "REQUIRED": {"ru": "Заполните это поле.", "en": "This field is required."},
    "INVALID_EMAIL": {"ru": "Проверьте адрес электронной почты.", "en": "Please enter a valid e-mail address."},
    "INVALID_PHONE": {
        "ru": "Проверьте номер телефона, например +7 912 345-67-89.",
        "en": "Please enter a valid phone number, e.g. +7 912 345-67-89.",
    },
    "PASSWORDS_DO_NOT_MATCH": {"ru": "Пароли не совпадают.", "en": "The passwords do not match."},
    "PASSWORD_TOO_SHORT": {
        "ru": "Пароль должен быть не короче {min} символов.",
        "en": "The password must be at least {min} characters long.",
    },
    "PASSWORD_TOO_LONG": {
        "ru": "Пароль должен быть не длиннее {max} символов.",
        "en": "The password must be at most {max} characters long.",
    },
    "PASSWORD_TOO_COMMON": {
        "ru": "Этот пароль слишком распространён. Придумайте другой.",
        "en": "This password is too common. Please choose another one.",
    },
    "PASSWORD_CONTAINS_IDENTIFIER": {
        "ru": "Пароль не должен содержать вашу почту, логин или телефон.",
        "en": "The password must not contain your e-mail, login or phone number.",
    },
    "CONSENT_REQUIRED": {
        "ru": "Нужно согласие на обработку персональных данных.",
        "en": "Consent to the processing of personal data is required.",
    },
    "TOO_LONG": {"ru": "Слишком длинное значение (не более {max}).", "en": "Too long (at most {max})."},
    "INVALID_CHARACTERS": {
        "ru": "Поле содержит недопустимые символы.",
        "en": "This field contains characters that are not allowed.",
    },
    "IDEMPOTENCY_KEY_REUSED": {
        "ru": "Этот ключ повтора уже использован для другой заявки.",
        "en": "This idempotency key was already used for a different request.",
    },
    "RETURN_URL_NOT_ALLOWED": {
        "ru": "Недопустимый адрес возврата.",
        "en": "This return address is not allowed.",
    },
    "ALREADY_EXISTS": {
        "ru": "Такое значение уже занято другой учётной записью.",
        "en": "Another account already uses this value.",
    },
    "UNKNOWN_PROVIDER": {"ru": "Неизвестный способ входа.", "en": "Unknown identity provider."},
}


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The first of our languages in the header's order of preference (q-values honoured)."""
    if preferred in LANGUAGES:
        return preferred  # type: ignore[return-value]
    if not accept_language:
        return DEFAULT_LANGUAGE
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
        if negative_q < 0 and lang in LANGUAGES:
            return lang
        if lang == "*" and negative_q < 0:
            return DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def t(key: str, lang: str, **params: object) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError):
        return text
