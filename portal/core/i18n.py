"""Localised messages: Russian by default, English when the caller prefers it.

One catalogue for GraphQL errors, web pages and anything else that speaks to a resident.
Letters have their own templates under `mail/templates/`.
"""

from __future__ import annotations

from portal.core.errors import FieldCode, RefusalCode

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
    # Federated sign-in (identity/federation.py): field codes and the callback's error pages
    "PROVIDER_UNAVAILABLE": {
        "ru": "Сервис входа сейчас недоступен. Попробуйте позже или войдите по паролю.",
        "en": "This sign-in service is unavailable right now. Try again later or sign in with your password.",
    },
    "NOT_LINKED": {
        "ru": "Этот способ входа не привязан к вашей учётной записи.",
        "en": "This sign-in method is not linked to your account.",
    },
    "LAST_SIGN_IN_METHOD": {
        "ru": "Нельзя отвязать единственный способ входа. Сначала задайте пароль или привяжите другой сервис.",
        "en": "You cannot unlink your only way to sign in. Set a password or link another service first.",
    },
    "IdentityUnlinked": {"ru": "Способ входа отвязан.", "en": "The sign-in method was unlinked."},
    "FED_PAGE_TITLE": {"ru": "Не удалось войти", "en": "Sign-in failed"},
    "FED_BACK": {"ru": "Вернуться ко входу", "en": "Back to sign-in"},
    "FED_STATE_INVALID": {
        "ru": "Ссылка входа недействительна, устарела или уже использована. Начните вход заново в этом же браузере.",
        "en": "This sign-in link is invalid, has expired or was already used. Please start again in this same browser.",
    },
    "FED_CANCELLED": {
        "ru": "Вход через внешний сервис отменён или не разрешён.",
        "en": "Sign-in through the external service was cancelled or not allowed.",
    },
    "FED_PROVIDER_FAILED": {
        "ru": "Не удалось подтвердить вход через внешний сервис. Попробуйте ещё раз или войдите по паролю.",
        "en": (
            "We could not verify the sign-in with the external service. "
            "Please try again or sign in with your password."
        ),
    },
    "FED_EMAIL_TAKEN": {
        "ru": "У нас уже есть учётная запись с этой электронной почтой. Войдите один раз по паролю и привяжите "
        "этот способ входа в личном кабинете. Если не помните пароль, восстановите его.",
        "en": "An account with this e-mail address already exists. Sign in with its password once and link this "
        "sign-in method from your account page. If you do not remember the password, reset it.",
    },
    "FED_LINKED_ELSEWHERE": {
        "ru": "Эта учётная запись внешнего сервиса уже привязана к другому личному кабинету.",
        "en": "This external account is already linked to another account here.",
    },
    "FED_ACCOUNT_UNAVAILABLE": {
        "ru": "Учётная запись недоступна. Обратитесь в поддержку.",
        "en": "This account is not available. Please contact support.",
    },
    "FED_TOO_MANY": {
        "ru": "Слишком много попыток входа. Повторите через {seconds} с.",
        "en": "Too many sign-in attempts. Try again in {seconds} s.",
    },
    # The staff desk (schema/staff.py): error types, refusal codes and field codes
    "NotFound": {"ru": "Не найдено.", "en": "Not found."},
    "ActionRefused": {"ru": "Это действие сейчас невозможно.", "en": "This action is not possible now."},
    "AccountErased": {
        "ru": "Персональные данные удалены, доступ отозван.",
        "en": "Personal data erased and all access revoked.",
    },
    "INVALID_CURSOR": {"ru": "Недействительный курсор страницы.", "en": "Invalid page cursor."},
    "OUT_OF_RANGE": {"ru": "Значение должно быть от {min} до {max}.", "en": "The value must be from {min} to {max}."},
    "REFUSED_ADMIN_ONLY": {
        "ru": "Это может сделать только администратор.",
        "en": "Only an administrator can do this.",
    },
    "REFUSED_NOT_STAFF": {
        "ru": "Обращение можно назначить только сотруднику поддержки.",
        "en": "A ticket can only be assigned to a support staff member.",
    },
    "REFUSED_UNCHANGED": {
        "ru": "Учётная запись уже в этом состоянии: ничего не изменилось.",
        "en": "The account is already like this: nothing changed.",
    },
    "REFUSED_SELF": {
        "ru": "Нельзя выполнить это действие над своей учётной записью.",
        "en": "You cannot do this to your own account.",
    },
    "REFUSED_NOT_VERIFIED": {
        "ru": "Сначала подтвердите, что заявитель — владелец учётной записи.",
        "en": "Verify that the requester owns the account first.",
    },
    "REFUSED_SAME_APPROVER": {
        "ru": "Смену почты должен одобрить другой сотрудник.",
        "en": "A different staff member must approve the e-mail change.",
    },
    "REFUSED_NO_EMAIL": {
        "ru": "У учётной записи нет адреса почты.",
        "en": "The account has no e-mail address.",
    },
    "REFUSED_ALREADY_DECIDED": {"ru": "Запрос уже рассмотрен.", "en": "The request was already decided."},
    "REFUSED_ACCOUNT_DISABLED": {"ru": "Учётная запись отключена.", "en": "The account is disabled."},
    "REFUSED_NO_PASSWORD": {
        "ru": "Учётная запись входит только через внешний сервис.",
        "en": "The account signs in only through an identity provider.",
    },
    "REFUSED_EMAIL_TAKEN": {
        "ru": "Этот адрес уже занят другой учётной записью.",
        "en": "Another account already uses this address.",
    },
    "REFUSED_SAME_EMAIL": {
        "ru": "Новый адрес совпадает с текущим.",
        "en": "The new address is the same as the current one.",
    },
}

# Web pages (api/pages, api/templates): the copy of the residents' pages, one key per text.
MESSAGES.update(
    {
        "site.name": {"ru": "Личный кабинет жителя", "en": "Residents' account"},
        "site.skip": {"ru": "Перейти к содержимому", "en": "Skip to content"},
        "lang.switch": {"ru": "Язык", "en": "Language"},
        "lang.ru": {"ru": "Русский", "en": "Русский"},
        "lang.en": {"ru": "English", "en": "English"},
        "footer.help": {"ru": "Не получается войти?", "en": "Cannot sign in?"},
        "footer.support": {"ru": "Напишите в поддержку", "en": "Write to support"},
        "footer.note": {
            "ru": "Никогда не сообщайте пароль и коды из писем — сотрудники их не спрашивают.",
            "en": "Never share your password or codes from letters: our staff never ask for them.",
        },
        "form.fix_errors": {"ru": "Исправьте ошибки в форме", "en": "Please correct the form"},
        "form.error_prefix": {"ru": "Ошибка: ", "en": "Error: "},
        "form.optional": {"ru": "(необязательно)", "en": "(optional)"},
        "form.show_password": {"ru": "Показать", "en": "Show"},
        "form.hide_password": {"ru": "Скрыть", "en": "Hide"},
        "form.expired_title": {"ru": "Страница устарела", "en": "This page has expired"},
        "form.expired": {
            "ru": "Страница устарела. Проверьте данные и отправьте форму ещё раз.",
            "en": "This page has expired. Please check the form and send it again.",
        },
        "device.unknown_browser": {"ru": "Неизвестный браузер", "en": "Unknown browser"},
        "notice.signed_out": {"ru": "Вы вышли из личного кабинета.", "en": "You have signed out."},
        "notice.reauth": {
            "ru": "Подтвердите, что это вы: введите пароль ещё раз.",
            "en": "Confirm it is you: enter your password again.",
        },
        "notice.session_ended": {
            "ru": "Сеанс завершён. Войдите снова.",
            "en": "Your session has ended. Please sign in again.",
        },
        "notice.others_ended": {
            "ru": "Готово: вы вышли на всех других устройствах.",
            "en": "Done: you have been signed out on all other devices.",
        },
        # /login
        "login.title": {"ru": "Вход в личный кабинет", "en": "Sign in to your account"},
        "login.lead": {
            "ru": "Войдите по электронной почте, номеру телефона или логину.",
            "en": "Sign in with your e-mail, phone number or login name.",
        },
        "login.identifier": {"ru": "Электронная почта, телефон или логин", "en": "E-mail, phone or login name"},
        "login.identifier_hint": {
            "ru": "Например: ivan@mail.ru или +7\u00a0912\u00a0345\u201167\u201189",
            "en": "For example: ivan@mail.ru or +7\u00a0912\u00a0345\u201167\u201189",
        },
        "login.password": {"ru": "Пароль", "en": "Password"},
        "login.forgot": {"ru": "Забыли пароль?", "en": "Forgot your password?"},
        "login.submit": {"ru": "Войти", "en": "Sign in"},
        "login.or": {"ru": "или", "en": "or"},
        "login.with_provider": {"ru": "Войти через {name}", "en": "Sign in with {name}"},
        "login.no_access_title": {
            "ru": "Нет доступа к почте или телефону?",
            "en": "No access to your e-mail or phone?",
        },
        "login.no_access_text": {
            "ru": "Оставьте заявку — сотрудник управляющей компании поможет восстановить доступ.",
            "en": "Send a request and the management company's staff will help you get back in.",
        },
        "login.no_access_link": {"ru": "Оставить заявку в поддержку", "en": "Send a request to support"},
        # /account
        "account.title": {"ru": "Личный кабинет", "en": "Your account"},
        "account.hello": {"ru": "Здравствуйте, {name}!", "en": "Hello, {name}!"},
        "account.sign_out_title": {"ru": "Выход", "en": "Signing out"},
        "account.sign_out_text": {
            "ru": "Если вы пользовались чужим телефоном или компьютером, не забудьте выйти.",
            "en": "If you used someone else's phone or computer, remember to sign out.",
        },
        "account.back": {"ru": "Вернуться в личный кабинет", "en": "Back to your account"},
        "account.sign_out": {"ru": "Выйти", "en": "Sign out"},
        "account.profile": {"ru": "Ваши данные", "en": "Your details"},
        "account.full_name": {"ru": "ФИО", "en": "Full name"},
        "account.email": {"ru": "Электронная почта", "en": "E-mail"},
        "account.phone": {"ru": "Телефон", "en": "Phone"},
        "account.login": {"ru": "Логин", "en": "Login name"},
        "account.password": {"ru": "Пароль", "en": "Password"},
        "account.password_set": {"ru": "Задан", "en": "Set"},
        "account.password_changed_at": {"ru": "Изменён", "en": "Changed"},
        "account.no_password": {
            "ru": "Не задан: вы входите через внешний сервис",
            "en": "Not set: you sign in through an external service",
        },
        "account.verified": {"ru": "подтверждена", "en": "verified"},
        "account.not_set": {"ru": "не указан", "en": "not set"},
        "account.linked": {"ru": "Вход через другие сервисы", "en": "Sign-in through other services"},
        "account.linked_at": {"ru": "Привязан", "en": "Linked"},
        "account.link_provider": {"ru": "Привязать {name}", "en": "Link {name}"},
        "account.unlink": {"ru": "Отвязать", "en": "Unlink"},
        "account.linked_none": {
            "ru": "Другие сервисы для входа не привязаны.",
            "en": "No other sign-in services are linked.",
        },
        "account.devices": {"ru": "Где выполнен вход", "en": "Where you are signed in"},
        "account.devices_lead": {
            "ru": "Устройства и браузеры, в которых открыт ваш личный кабинет.",
            "en": "Devices and browsers where your account is open.",
        },
        "account.this_device": {"ru": "это устройство", "en": "this device"},
        "account.last_active": {"ru": "Последняя активность:", "en": "Last active:"},
        "account.end_others": {"ru": "Выйти на всех других устройствах", "en": "Sign out of all other devices"},
        "account.end_others_hint": {
            "ru": "Используйте, если входили с чужого телефона или компьютера или не узнаёте устройство.",
            "en": "Use this if you signed in on someone else's phone or computer or do not recognise a device.",
        },
        "account.only_this_device": {
            "ru": "Вход выполнен только на этом устройстве.",
            "en": "You are signed in on this device only.",
        },
        "account.events": {"ru": "Последние события безопасности", "en": "Recent security events"},
        "account.events_none": {"ru": "Событий пока нет.", "en": "No events yet."},
        "account.events_hint": {
            "ru": "Не узнаёте событие? Смените пароль:",
            "en": "Do not recognise an event? Change your password:",
        },
        "account.events_hint_link": {"ru": "восстановление пароля", "en": "reset your password"},
        "event.signin_success": {"ru": "Вход в личный кабинет", "en": "Signed in"},
        "event.signin_failure": {"ru": "Неудачная попытка входа", "en": "Failed sign-in attempt"},
        "event.account_created": {"ru": "Создан личный кабинет", "en": "Account created"},
        "event.account_unlocked": {"ru": "Вход разблокирован сотрудником", "en": "Sign-in unlocked by staff"},
        "event.recovery_link_sent": {
            "ru": "Сотрудник отправил ссылку для восстановления пароля",
            "en": "Staff sent a password reset link",
        },
        "event.email_changed_by_staff": {
            "ru": "Почта изменена по обращению в поддержку",
            "en": "E-mail changed through a support request",
        },
        "event.reset_requested": {"ru": "Запрошено восстановление пароля", "en": "Password reset requested"},
        "event.password_reset": {
            "ru": "Пароль изменён по ссылке из письма",
            "en": "Password changed with an e-mailed link",
        },
        "event.password_changed": {"ru": "Пароль изменён", "en": "Password changed"},
        "event.sessions_revoked_others": {
            "ru": "Выход на всех других устройствах",
            "en": "Signed out of all other devices",
        },
        "event.identity_linked": {"ru": "Привязан способ входа", "en": "Sign-in method linked"},
        "event.identity_unlinked": {"ru": "Отвязан способ входа", "en": "Sign-in method unlinked"},
        "event.other": {"ru": "Событие безопасности", "en": "Security event"},
        # /forgot-password and /reset-password
        "forgot.title": {"ru": "Восстановление пароля", "en": "Reset your password"},
        "forgot.lead": {
            "ru": "Укажите почту, телефон или логин от личного кабинета. Мы пришлём ссылку для нового пароля "
            "на электронную почту учётной записи.",
            "en": "Enter the e-mail, phone or login name of your account. We will send a link for a new "
            "password to the account's e-mail address.",
        },
        "forgot.identifier_hint": {
            "ru": "То, чем вы обычно входите: например, ivan@mail.ru",
            "en": "What you usually sign in with: for example, ivan@mail.ru",
        },
        "forgot.submit": {"ru": "Получить ссылку", "en": "Send me a link"},
        "forgot.back": {"ru": "Вернуться ко входу", "en": "Back to sign-in"},
        "forgot.again": {"ru": "Отправить ещё раз", "en": "Send again"},
        "forgot.sent_title": {"ru": "Проверьте почту", "en": "Check your e-mail"},
        "forgot.sent_lead": {
            "ru": "Если такая учётная запись есть и у неё указана электронная почта, мы отправили на неё письмо "
            "со ссылкой. Ссылка действует {minutes} мин и сработает один раз.",
            "en": "If such an account exists and has an e-mail address, we have sent it a letter with a link. "
            "The link is valid for {minutes} minutes and works once.",
        },
        "forgot.no_letter_title": {"ru": "Письма нет?", "en": "No letter?"},
        "forgot.advice_wait": {
            "ru": "Подождите несколько минут: письмо может идти не сразу.",
            "en": "Wait a few minutes: the letter can take a while.",
        },
        "forgot.advice_spam": {
            "ru": "Проверьте папку «Спам» или «Нежелательная почта».",
            "en": "Check the «Spam» or «Junk» folder.",
        },
        "forgot.advice_address": {
            "ru": "Проверьте, что указали ту почту, телефон или логин, с которыми входите.",
            "en": "Check that you entered the e-mail, phone or login name you sign in with.",
        },
        "forgot.advice_support": {
            "ru": "Если почта не указана в кабинете или письмо так и не пришло —",
            "en": "If no e-mail is on file or the letter never arrives:",
        },
        "reset.title": {"ru": "Новый пароль", "en": "Choose a new password"},
        "reset.policy_title": {"ru": "Каким должен быть пароль", "en": "What the password needs"},
        "reset.policy_length": {"ru": "Не короче {min} символов.", "en": "At least {min} characters."},
        "reset.policy_phrase": {
            "ru": "Подойдёт фраза из нескольких слов; пробелы и любые буквы можно.",
            "en": "A phrase of several words works well; spaces and any letters are fine.",
        },
        "reset.policy_common": {
            "ru": "Не слишком распространённый (например, не «12345678» и не «qwerty123»).",
            "en": "Not a common one (for example, not «12345678» or «qwerty123»).",
        },
        "reset.policy_identifiers": {
            "ru": "Без вашей почты, логина или номера телефона.",
            "en": "Without your e-mail, login name or phone number.",
        },
        "reset.new_password": {"ru": "Новый пароль", "en": "New password"},
        "reset.confirmation": {"ru": "Повторите новый пароль", "en": "Repeat the new password"},
        "reset.submit": {"ru": "Сохранить пароль", "en": "Save the password"},
        "reset.after": {
            "ru": "После смены пароля все входы на других устройствах будут завершены.",
            "en": "Changing the password signs you out on every other device.",
        },
        "reset.bad_link_title": {"ru": "Ссылка не работает", "en": "This link does not work"},
        "reset.request_again": {"ru": "Запросить новую ссылку", "en": "Request a new link"},
        "reset.done_title": {"ru": "Пароль изменён", "en": "Password changed"},
        "reset.done_letter": {
            "ru": "Мы отправили письмо о смене пароля. Если меняли пароль не вы, сразу обратитесь в поддержку.",
            "en": "We have sent a letter about the change. If it was not you, contact support at once.",
        },
        "reset.sign_in": {"ru": "Войти с новым паролем", "en": "Sign in with the new password"},
        # /support, /support/status
        "support.title": {"ru": "Обращение в поддержку", "en": "Contact support"},
        "support.lead": {
            "ru": "Не получается войти или восстановить пароль? Заполните форму — сотрудник проверит данные "
            "и поможет. Поля без пометки обязательны.",
            "en": "Cannot sign in or reset your password? Fill in the form and a member of staff will check "
            "your details and help. Fields without a mark are required.",
        },
        "support.about_you": {"ru": "О вас", "en": "About you"},
        "support.about_account": {"ru": "Ваш личный кабинет", "en": "Your account"},
        "support.about_request": {"ru": "Обращение", "en": "Your request"},
        "support.full_name": {"ru": "ФИО", "en": "Full name"},
        "support.full_name_hint": {
            "ru": "Как в документах, например: Петров Иван Сергеевич",
            "en": "As in your documents, for example: Ivan Sergeevich Petrov",
        },
        "support.address": {"ru": "Адрес регистрации", "en": "Registered address"},
        "support.address_hint": {
            "ru": "Город, улица, дом, квартира",
            "en": "City, street, building, flat",
        },
        "support.phone": {"ru": "Телефон", "en": "Phone"},
        "support.phone_hint": {
            "ru": "Например: +7\u00a0912\u00a0345\u201167\u201189",
            "en": "For example: +7\u00a0912\u00a0345\u201167\u201189",
        },
        "support.account_identifier": {
            "ru": "Логин или почта от личного кабинета",
            "en": "Login name or e-mail of your account",
        },
        "support.account_identifier_hint": {
            "ru": "Как помните; если не помните точно — напишите, как примерно",
            "en": "As you remember it; if unsure, write what you can",
        },
        "support.reply_email": {"ru": "Почта для ответа", "en": "E-mail for the answer"},
        "support.reply_email_hint": {
            "ru": "Если ответ нужно прислать не на почту личного кабинета",
            "en": "If the answer should go somewhere other than your account's e-mail",
        },
        "support.category": {"ru": "Тема", "en": "Topic"},
        "support.description": {"ru": "Что случилось", "en": "What happened"},
        "support.description_hint": {
            "ru": "Опишите своими словами. Не пишите сюда пароль.",
            "en": "Describe it in your own words. Do not write your password here.",
        },
        "support.consent_title": {"ru": "Согласие на обработку данных", "en": "Consent to data processing"},
        # The text residents agree to: when it changes, bump CONSENT_VERSION in support/tickets.py.
        "support.consent_text": {
            "ru": "Я даю согласие управляющей организации на обработку моих персональных данных, указанных в этой "
            "форме (ФИО, адрес регистрации, телефон, электронная почта, сведения об учётной записи), в целях "
            "рассмотрения обращения, проверки моей личности и восстановления доступа к личному кабинету, в "
            "соответствии с Федеральным законом № 152-ФЗ «О персональных данных». Данные хранятся не дольше, "
            "чем нужно для рассмотрения обращения и исполнения требований закона. Согласие можно отозвать, "
            "написав в поддержку.",
            "en": "I consent to the management organisation processing the personal data I give in this form "
            "(full name, registered address, phone, e-mail, account details) to handle my request, verify my "
            "identity and restore access to my account, under Russian Federal Law No. 152-FZ «On Personal "
            "Data». The data is kept no longer than needed to handle the request and meet legal duties. I can "
            "withdraw this consent by writing to support.",
        },
        "support.consent_label": {
            "ru": "Согласен(на) на обработку персональных данных",
            "en": "I agree to the processing of my personal data",
        },
        "support.submit": {"ru": "Отправить обращение", "en": "Send the request"},
        "support.have_number": {"ru": "Уже есть номер обращения?", "en": "Already have a request number?"},
        "support.check_status": {"ru": "Узнать статус", "en": "Check its status"},
        "support.not_found": {
            "ru": "Обращение не найдено. Проверьте номер и ключ из письма или со страницы подтверждения.",
            "en": "Request not found. Check the number and the key from the letter or the confirmation page.",
        },
        "support.changed_resend": {
            "ru": "Вы изменили данные после отправки. Проверьте форму и отправьте её ещё раз.",
            "en": "You changed the form after sending it. Please check it and send it again.",
        },
        "ticket.category.account_access": {"ru": "Доступ к личному кабинету", "en": "Access to the account"},
        "ticket.category.billing": {"ru": "Начисления и оплата", "en": "Bills and payments"},
        "ticket.category.maintenance": {"ru": "Ремонт и обслуживание дома", "en": "Repairs and maintenance"},
        "ticket.category.other": {"ru": "Другое", "en": "Other"},
        "ticket.status.new": {"ru": "Новое", "en": "New"},
        "ticket.status.in_progress": {"ru": "В работе", "en": "In progress"},
        "ticket.status.waiting_for_resident": {"ru": "Ждём вашего ответа", "en": "Waiting for your reply"},
        "ticket.status.resolved": {"ru": "Решено", "en": "Resolved"},
        "ticket.status.rejected": {"ru": "Отклонено", "en": "Rejected"},
        "ticket.status_text.new": {
            "ru": "Обращение получено и ждёт сотрудника. Обычно мы отвечаем в течение рабочего дня.",
            "en": "The request has arrived and is waiting for a member of staff, usually within a working day.",
        },
        "ticket.status_text.in_progress": {
            "ru": "Сотрудник занимается вашим обращением.",
            "en": "A member of staff is working on your request.",
        },
        "ticket.status_text.waiting_for_resident": {
            "ru": "Сотруднику нужны сведения от вас — посмотрите сообщения ниже.",
            "en": "Staff need something from you: see the messages below.",
        },
        "ticket.status_text.resolved": {"ru": "Обращение решено.", "en": "The request is resolved."},
        "ticket.status_text.rejected": {
            "ru": "Обращение отклонено — причина в сообщениях ниже.",
            "en": "The request was rejected: the reason is in the messages below.",
        },
        "status.title": {"ru": "Обращение № {number}", "en": "Request No. {number}"},
        "status.title_prefix": {"ru": "Обращение", "en": "Request"},
        "status.number_sign": {"ru": "№", "en": "No."},
        "status.accepted": {"ru": "Обращение принято", "en": "Your request has been received"},
        "status.your_number": {"ru": "Номер вашего обращения:", "en": "Your request number:"},
        "status.keep_number": {
            "ru": "Сохраните номер: запишите его или сделайте снимок экрана.",
            "en": "Keep this number: write it down or take a screenshot.",
        },
        "status.keep_link": {
            "ru": "Статус можно узнать по этой ссылке (не передавайте её посторонним):",
            "en": "You can check the status with this link (do not share it):",
        },
        "status.copy_link": {"ru": "Скопировать ссылку", "en": "Copy the link"},
        "status.copied": {"ru": "Ссылка скопирована", "en": "Link copied"},
        "status.letter_sent": {
            "ru": "Мы отправили номер и ссылку на {email}.",
            "en": "We have sent the number and link to {email}.",
        },
        "status.no_letter": {
            "ru": "Почта для ответа не указана, поэтому письмо не отправлено: сохраните номер и ссылку.",
            "en": "No reply e-mail was given, so no letter was sent: keep the number and link.",
        },
        "status.status": {"ru": "Статус", "en": "Status"},
        "status.created": {"ru": "Создано", "en": "Created"},
        "status.updated": {"ru": "Обновлено", "en": "Updated"},
        "status.messages": {"ru": "Сообщения от поддержки", "en": "Messages from portal.support"},
        "status.no_messages": {"ru": "Сообщений пока нет.", "en": "No messages yet."},
        "status.new_request": {"ru": "Новое обращение", "en": "New request"},
        "status.to_login": {"ru": "Вход в личный кабинет", "en": "Sign in"},
        "lookup.title": {"ru": "Статус обращения", "en": "Request status"},
        "lookup.lead": {
            "ru": "Введите номер обращения и ключ из письма-подтверждения.",
            "en": "Enter the request number and the key from the confirmation letter.",
        },
        "lookup.number": {"ru": "Номер обращения", "en": "Request number"},
        "lookup.number_hint": {"ru": "Например: 2026-000123", "en": "For example: 2026-000123"},
        "lookup.key": {"ru": "Ключ доступа", "en": "Access key"},
        "lookup.key_hint": {
            "ru": "Длинная строка из ссылки в письме (после «key=»)",
            "en": "The long string from the link in the letter (after «key=»)",
        },
        "lookup.submit": {"ru": "Показать статус", "en": "Show the status"},
    }
)


# The OpenID Provider's own pages (consent, logout confirmation, refusals): identity.provider, api/provider_routes.py.
MESSAGES.update(
    {
        "oidc.consent.title": {"ru": "Разрешить доступ", "en": "Allow access"},
        "oidc.consent.lead": {
            "ru": "Сервис «{client}» просит войти с вашей учётной записью и получить:",
            "en": "“{client}” asks to sign you in with your account and to receive:",
        },
        "oidc.consent.allow": {"ru": "Разрешить", "en": "Allow"},
        "oidc.consent.deny": {"ru": "Отказать", "en": "Deny"},
        "oidc.scope.openid": {"ru": "постоянный обезличенный идентификатор", "en": "a stable pseudonymous identifier"},
        "oidc.scope.profile": {"ru": "ваше имя", "en": "your name"},
        "oidc.scope.email": {"ru": "адрес электронной почты", "en": "your e-mail address"},
        "oidc.scope.phone": {"ru": "номер телефона", "en": "your phone number"},
        "oidc.scope.offline_access": {
            "ru": "доступ к этим данным, пока вы не в сети: сервис сохранит его, пока вы его не отзовёте",
            "en": "access to these details while you are away: the service keeps it until you revoke it",
        },
        "oidc.error.title": {"ru": "Запрос на вход отклонён", "en": "Sign-in request refused"},
        "oidc.error.lead": {
            "ru": "Сервис, который вас сюда направил, прислал неверный запрос. Вернитесь в него и попробуйте ещё раз.",
            "en": "The service that sent you here made an invalid request. Go back to it and try again.",
        },
        "oidc.logout.title": {"ru": "Выход", "en": "Sign out"},
        "oidc.logout.lead": {
            "ru": "Выйти из личного кабинета по запросу «{client}»?",
            "en": "Sign out of the residents' account as “{client}” asks?",
        },
        "oidc.logout.confirm": {"ru": "Выйти", "en": "Sign out"},
        "oidc.loggedout.title": {"ru": "Вы вышли", "en": "Signed out"},
        "oidc.loggedout.lead": {"ru": "Вы вышли из личного кабинета.", "en": "You have signed out."},
    }
)


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The first of our languages in the header's order of preference (q-values honoured)."""
    if preferred in LANGUAGES:
        return preferred
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


def code_message(code: FieldCode | RefusalCode, lang: str, **params: object) -> str:
    """The words for a typed code: a field problem's or a refused staff action's."""
    key = f"REFUSED_{code.value}" if isinstance(code, RefusalCode) else code.value
    return t(key, lang, **params)


def t(key: str, lang: str, **params: object) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError):
        return text
