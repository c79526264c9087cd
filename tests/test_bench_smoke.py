"""The benchmark package imports and formats its table (no timings are run or asserted here)."""

from __future__ import annotations

from bench import wrk
from bench.report import Row, Target, format_table


def test_table_shows_ratio_target_and_verdict():
    rows = [
        Row("login successes/s, 1 worker", "SQLite", 54.0, "/s", "Argon2 verify, 1 core", 60.0, "/s", Target(low=0.85)),
        Row(
            "time per sign-in beyond the hash",
            "SQLite",
            2.0,
            "ms",
            "hash",
            16.0,
            "ms",
            Target(high=1.5),
            judge_value=True,
        ),
        Row("resetPassword req/s", "SQLite", None, "/s", "Argon2 hash", 58.0, "/s", Target(low=0.7), "not built yet"),
        Row("p50 known/unknown", "PostgreSQL", 10.5, "ms", "unknown", 10.0, "ms", Target(0.9, 1.1)),
    ]
    lines = format_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert len({len(line) for line in lines}) == 1  # columns line up
    assert "| 0.90 " in lines[2] and "ok" in lines[2]
    assert "≤ 1.5 ms" in lines[3] and "MISS" in lines[3]
    assert "n/a (not built yet)" in lines[4]
    assert "0.9–1.1" in lines[5] and "| 1.05 " in lines[5] and "ok" in lines[5]


def test_wrk_output_is_parsed_and_wrong_answers_are_not_successes():
    out = (
        "Running 5s test\n"
        "WRK_RESULT duration_us=5000000 requests=110 ok=100 bad=10 connect=0 read=0 write=0 status=10 timeout=0 "
        "p50=15000 p90=20000 p99=30000 mean=16000\n"
        'WRK_SAMPLE 200 {"data":{"login":{"__typename":"TooManyAttempts"}}}\n'
    )
    result = wrk.parse(out)
    assert result.ok_per_second == 20.0
    assert not result.clean
    assert result.p50_ms == 15.0
    assert "TooManyAttempts" in result.sample
    assert wrk.Request("198.18.0.1", '{"query": "{ me { id } }"}', "tok").line() == (
        '198.18.0.1\ttok\t{"query": "{ me { id } }"}'
    )
