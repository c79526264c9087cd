"""Every typed code a caller can receive has words in every language (a raw key never reaches a person)."""

from __future__ import annotations

import pytest

from portal.core.errors import FieldCode, RefusalCode
from portal.core.i18n import LANGUAGES, code_message

PARAMS = {"min": 12, "max": 254}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("code", [*FieldCode, *RefusalCode], ids=lambda c: f"{type(c).__name__}.{c.value}")
def test_every_code_has_a_message(code: FieldCode | RefusalCode, lang: str) -> None:
    text = code_message(code, lang, **PARAMS)
    assert text and code.value not in text and "{" not in text, text
