"""The one table `make bench` prints: each figure beside its baseline, the ratio, the target."""

from __future__ import annotations

from dataclasses import dataclass

# A baseline that moved more than this between its alternating rounds makes its figure "noisy", not ok/MISS:
# the machine changed under the run, and the ratio says more about the neighbours than about the code.
NOISE = 0.10


@dataclass(frozen=True)
class Target:
    """A bound on a ratio: `low <= ratio <= high` (either side may be open)."""

    low: float | None = None
    high: float | None = None

    @property
    def bounded(self) -> bool:
        return self.low is not None or self.high is not None

    def met(self, ratio: float) -> bool:
        return (self.low is None or ratio >= self.low) and (self.high is None or ratio <= self.high)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}–{self.high:g}"
        if self.low is not None:
            return f"≥ {self.low:g}"
        if self.high is not None:
            return f"≤ {self.high:g}"
        return "—"


@dataclass(frozen=True)
class Row:
    """One figure: what was measured, on which database, against which baseline of the same run."""

    figure: str
    database: str
    value: float | None
    value_unit: str
    baseline_name: str
    baseline: float | None
    baseline_unit: str
    target: Target
    note: str = ""
    judge_value: bool = False  # the target bounds the measured value itself, not the ratio
    baseline_spread: float | None = None  # (largest - smallest) / smallest of the baseline's rounds
    cpu: str = ""  # the share of a core the server got in the figure's runs · in the baseline's

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline or self.judge_value:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        judged = self.value if self.judge_value else self.ratio
        if judged is None:
            return "n/a"
        if self.noisy:
            return "noisy"
        if not self.target.bounded:
            return "—"  # reported, not judged
        return "ok" if self.target.met(judged) else "MISS"

    @property
    def noisy(self) -> bool:
        return self.baseline_spread is not None and self.baseline_spread > NOISE

    @property
    def notes(self) -> str:
        spread = f"baseline moved {self.baseline_spread:.0%} between rounds" if self.noisy else ""
        return "; ".join(n for n in (self.note, spread) if n)


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if value >= 100:
        text = f"{value:,.0f}"
    elif value >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


HEADERS = ("figure", "db", "measured", "baseline (same run)", "ratio", "target", "CPU got", "")


def table_rows(rows: list[Row]) -> list[tuple[str, ...]]:
    out = []
    for row in rows:
        ratio = row.ratio
        out.append(
            (
                row.figure,
                row.database,
                _num(row.value, row.value_unit),
                f"{row.baseline_name}: {_num(row.baseline, row.baseline_unit)}",
                "—" if ratio is None else f"{ratio:.2f}",
                f"{row.target} {row.value_unit}" if row.judge_value and row.target.bounded else str(row.target),
                row.cpu or "—",
                row.verdict + (f" ({row.notes})" if row.notes else ""),
            )
        )
    return out


def format_table(rows: list[Row]) -> str:
    """A Markdown table (pastes straight into BENCHMARKS.md, reads fine in a terminal)."""
    body = table_rows(rows)
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(HEADERS)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(HEADERS), sep, *(line(r) for r in body)])
