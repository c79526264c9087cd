"""Expected failures as values: a field problem carries a FieldError code from API.md."""

from __future__ import annotations

from dataclasses import dataclass, field


class FieldProblem(ValueError):
    """One invalid input field; `code` is one of API.md's FieldError codes."""

    def __init__(self, field: str, code: str, **params: object) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code
        self.params = params


@dataclass
class Invalid:
    """A validation failure of one or more fields (the `ValidationError` payload)."""

    problems: list[FieldProblem] = field(default_factory=list)

    @classmethod
    def of(cls, *problems: FieldProblem) -> Invalid:
        return cls(list(problems))


@dataclass(frozen=True)
class TooMany:
    """A throttle said no (the `TooManyAttempts` payload)."""

    retry_after_seconds: int
