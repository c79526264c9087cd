"""The benchmark package imports and formats its table (no timings are run or asserted here)."""

from __future__ import annotations

import os

import pytest

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
    # Another method or content type (bench.peer's form sign-in and GET): two more columns for check.lua.
    assert wrk.Request("198.18.0.1", "", "tok", method="GET").line() == "198.18.0.1\ttok\t\tGET\tapplication/json"
    form = wrk.Request("198.18.0.2", "username=a&password=b", content_type="application/x-www-form-urlencoded")
    assert form.line() == "198.18.0.2\t\tusername=a&password=b\tPOST\tapplication/x-www-form-urlencoded"


def test_a_moved_baseline_makes_its_figure_noisy_and_an_untargeted_row_is_not_judged():
    steady = Row("me req/s", "SQLite", 30.0, "/s", "plain", 100.0, "/s", Target(low=0.25), baseline_spread=0.04)
    moved = Row("me req/s", "SQLite", 30.0, "/s", "plain", 100.0, "/s", Target(low=0.25), baseline_spread=0.14)
    reported = Row("me vs session read", "SQLite", 30.0, "/s", "session read", 60.0, "/s", Target(), cpu="0.97 · 0.95")
    assert steady.verdict == "ok" and not steady.notes
    assert moved.verdict == "noisy" and "moved 14%" in moved.notes
    assert reported.verdict == "—"
    lines = format_table([steady, moved, reported]).splitlines()
    assert "CPU got" in lines[0] and "| 0.97 · 0.95 " in lines[4] and "noisy (baseline moved 14%" in lines[3]


def test_memory_helpers_read_this_process_and_judge_a_plateau():
    from bench.memory import growth, mixed_requests, plateau_limit
    from bench.run import core_count, hash_memory_bound, resident

    mine = resident(os.getpid())
    assert mine.rss_mib > 1 and mine.hwm_mib >= mine.rss_mib
    assert (core_count("0"), core_count("0,1"), core_count("0-3,6")) == (1, 2, 5)
    bound, how = hash_memory_bound({"PORTAL_ARGON2_MEMORY_KIB": "20480"}, "0,1", 2)
    assert bound == 80.0 and "2 workers" in how
    assert hash_memory_bound({"PORTAL_HASH_CONCURRENCY": "1"}, "0,1", 1)[0] == 19456 / 1024

    level = [(t, 100.0 + (5.0 if t % 2 else 0.0)) for t in range(60)]  # a hash's memory in and out
    rising = [(t, 100.0 + t * 0.5) for t in range(60)]
    assert abs(growth(level, 60)) <= plateau_limit(level)
    assert growth(rising, 60) == pytest.approx(15.0) and growth(rising, 60) > plateau_limit(rising)

    requests = mixed_requests(8, ["tok-a", "tok-b"])
    assert len(requests) == 10 and sum(1 for r in requests if r.bearer) == 2


def test_thread_cpu_reads_each_thread_of_this_process():
    import threading
    import time

    from bench.run import thread_cpu

    spun, done = threading.Event(), threading.Event()

    def spin() -> None:  # a second thread with CPU of its own, alive until read
        deadline = time.thread_time() + 0.05
        while time.thread_time() < deadline:
            pass
        spun.set()
        done.wait(30)

    worker = threading.Thread(target=spin)
    worker.start()
    assert spun.wait(30)
    try:
        threads = thread_cpu(os.getpid())
        assert os.getpid() in threads  # the main thread's id is the process's
        assert threads[worker.native_id] >= 0.04  # type: ignore[index]
    finally:
        done.set()
        worker.join()


def test_ab_refuses_a_folder_without_the_code_to_compare(tmp_path, capsys):
    from bench.ab import main

    with pytest.raises(SystemExit) as stopped:
        main(["--before", str(tmp_path)])
    assert stopped.value.code == 2 and "holds no checkout of the portal" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--figure", "login", "--wait", "0"], ["--figure", "ticket", "--concurrency", "2"]])
def test_inproc_runs_a_figure_through_the_app_and_prints_cpu_per_operation(args):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | {"PYTHONPATH": str(root)}
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.inproc", "--count", "4", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Every answer was checked inside; four operations are too few for /proc's 10-ms CPU ticks to be asserted on.
    assert result["operations"] == 4 and result["event_loop_ms"] >= 0 and result["wall_ms"] > 0


async def test_the_floor_figures_requests_are_refused_for_the_one_field_they_were_built_to_fail(client):
    """`make bench`'s floor figures count only answers that name exactly this refusal (bench/check.lua looks for
    the substring in the raw body): a refused ticket for its consent alone (every other field passed validation),
    a refused reset request for its identifier's control character."""
    import json

    from bench.run import (
        RESET_REFUSED_ANSWER,
        TICKET_REFUSED_ANSWER,
        refused_reset_requests,
        ticket_requests,
    )

    for request, answer in ((ticket_requests(3, consent=False)[2], TICKET_REFUSED_ANSWER),
                            (refused_reset_requests(3)[2], RESET_REFUSED_ANSWER)):
        response = await client.post(
            "/graphql",
            content=request.body.encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": request.forwarded_for},
        )
        assert response.status_code == 200 and answer in response.text, response.text
        assert json.loads(response.text)["data"]  # the refusal is the field's answer, not a GraphQL error
