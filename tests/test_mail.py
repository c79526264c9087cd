"""The outbox and its delivery: same-transaction letters, headers, retries, leases, workers and transports."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from portal.core.runtime import Runtime
from portal.core.settings import Settings
from portal.mail import worker
from portal.mail.delivery import GIVE_UP_AFTER_SECONDS, LEASE_SECONDS, claim, deliver_due, retry_delay
from portal.mail.outbox import enqueue, seal, unseal
from portal.mail.transport import SmtpTransport
from portal.models.mail import OutboxMessage, OutboxStatus
from tests.helpers import GQL, client_at, drain, free_port, request_reset, reset, settings_env, token_from, unique
from tests.smtp_sink import SmtpSink

CONTEXT = {
    "full_name": "Анна Смирнова",
    "reset_url": "http://127.0.0.1:8000/reset-password?token=abc",
    "valid_minutes": 30,
}


def address() -> str:
    return f"{unique('mail')}@example.ru"


async def queue(rt: Runtime, to: str, **kwargs) -> OutboxMessage:  # type: ignore[no-untyped-def]
    async with in_transaction():
        await enqueue(rt, template="password_reset", to=to, lang="ru", context=CONTEXT, **kwargs)
    return await OutboxMessage.filter(to_address=to).order_by("-id").first()  # type: ignore[return-value]


def other_runtime(rt: Runtime, **changes) -> Runtime:  # type: ignore[no-untyped-def]
    """The same database, secret and clock with other settings (another mail server, say)."""
    return Runtime(Settings(_env_file=None, **{**rt.settings.model_dump(), **changes}), rt.clock)  # type: ignore[call-arg]


async def test_a_letter_is_well_formed(rt, smtp_sink):
    to = address()
    row = await queue(rt, to)
    await drain(rt)
    letter = (await smtp_sink.wait_for(to))[0]
    msg = letter.message
    assert msg["From"] == rt.settings.mail_from
    assert letter.mail_from == "no-reply@localhost"
    assert msg["To"] == to and letter.rcpt_tos == [to]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].startswith(f"<outbox.{row.id}.") and msg["Message-ID"].endswith("@127.0.0.1>")
    sent_at = email.utils.parsedate_to_datetime(msg["Date"])
    assert abs((sent_at - rt.clock.now()).total_seconds()) < 60
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "Анна Смирнова" in letter.text and CONTEXT["reset_url"] in letter.text
    assert f'href="{CONTEXT["reset_url"]}"' in letter.html
    assert letter.subject == "Восстановление пароля в личном кабинете"
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.payload is None and row.finished_at is not None


async def test_html_is_escaped_and_headers_cannot_be_injected(rt, smtp_sink):
    to = address()
    async with in_transaction():
        await enqueue(rt, template="password_reset", to=to, lang="en",
                      context={**CONTEXT, "full_name": "<script>x</script>\r\nBcc: victim@example.ru"})
    await drain(rt)
    letter = (await smtp_sink.wait_for(to))[0]
    assert "<script>" not in letter.html and "&lt;script&gt;" in letter.html
    assert letter.rcpt_tos == [to] and letter.message["Bcc"] is None
    with pytest.raises(ValueError):
        async with in_transaction():
            await enqueue(rt, template="password_reset", to="a@example.ru\r\nBcc: b@example.ru", lang="ru", context={})


async def test_a_letter_commits_or_rolls_back_with_its_cause(rt):
    to = address()
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await enqueue(rt, template="password_reset", to=to, lang="ru", context=CONTEXT)
            raise RuntimeError("the change failed")
    assert not await OutboxMessage.filter(to_address=to).exists()


async def test_a_dedupe_key_writes_one_letter(rt, smtp_sink):
    to, key = address(), unique("key")
    for _ in range(3):
        async with in_transaction():
            await enqueue(rt, template="password_reset", to=to, lang="ru", context=CONTEXT, dedupe_key=key)
    assert await OutboxMessage.filter(to_address=to).count() == 1


async def test_the_context_is_sealed_under_the_secret(rt):
    sealed = seal(rt, CONTEXT, to="a@example.ru")
    assert "token=abc" not in sealed and "Анна" not in sealed
    assert unseal(rt, sealed, to="a@example.ru") == CONTEXT
    with pytest.raises(ValueError):
        unseal(rt, sealed, to="b@example.ru")  # bound to its recipient
    with pytest.raises(ValueError):
        unseal(other_runtime(rt, secret_key="another-secret-" + "y" * 32), sealed, to="a@example.ru")


async def test_outage_retries_with_backoff_then_gives_up_visibly(rt, clock, caplog):
    # Rows of other tests may fall due while the clock moves: only this test's rows are asserted on.
    await drain(rt)  # nothing of other tests' due now for the broken server below
    dead = other_runtime(rt, smtp_url=f"smtp://127.0.0.1:{free_port()}")  # nobody listens there
    rows = [await queue(rt, address()), await queue(rt, address())]

    async def states() -> list[tuple[str, int]]:
        return [(r.status, r.attempts) for r in await OutboxMessage.filter(id__in=[r.id for r in rows]).order_by("id")]

    await deliver_due(dead)  # the server is down: the whole batch waits, without a connection try each
    assert await states() == [(OutboxStatus.PENDING, 1)] * 2
    first = await OutboxMessage.get(id=rows[0].id)
    assert first.last_error and "Connect" in first.last_error
    assert first.next_attempt_at >= rt.clock.now() + timedelta(seconds=retry_delay(1) - 5)
    await deliver_due(dead)
    assert await states() == [(OutboxStatus.PENDING, 1)] * 2  # not due yet
    clock.advance(retry_delay(1) + 1)
    await deliver_due(dead)
    assert await states() == [(OutboxStatus.PENDING, 2)] * 2 and retry_delay(2) == 2 * retry_delay(1)
    clock.advance(GIVE_UP_AFTER_SECONDS + 1)
    with caplog.at_level(logging.ERROR, logger="portal.mail"):
        await drain(dead)
    assert await states() == [(OutboxStatus.FAILED, 3)] * 2
    assert await OutboxMessage.filter(id__in=[r.id for r in rows], payload__isnull=True).count() == 2
    assert any("failed for good" in r.getMessage() for r in caplog.records)


async def test_a_permanent_refusal_fails_at_once(rt, smtp_sink):
    refusing = SmtpSink(port=free_port())

    async def refuse(server, session, envelope, address, rcpt_options):  # noqa: ARG001
        return "550 no such mailbox"

    refusing.start()
    try:
        refusing._controller.handler.handle_RCPT = refuse  # type: ignore[union-attr]
        await drain(rt)
        row = await queue(rt, address())
        report = await deliver_due(other_runtime(rt, smtp_url=f"smtp://127.0.0.1:{refusing.port}"))
        assert report.failed >= 1
        await row.refresh_from_db()
        assert row.status == OutboxStatus.FAILED and "550" in (row.last_error or "")
    finally:
        refusing.stop()


async def test_an_smtp_outage_delays_a_reset_letter_and_loses_nothing(rt, app, clock):
    """The server is down while the reset is requested; started again later, the letter arrives and works."""
    await drain(rt)
    sink = SmtpSink(port=free_port())  # our own server: stopping it touches no other test
    sink.start()
    mail_rt = other_runtime(rt, smtp_url=f"smtp://127.0.0.1:{sink.port}")
    try:
        from tests.helpers import PASSWORD

        async with client_at(app) as c:
            gql = GQL(c)
            account_email = address()
            from portal.identity.accounts import NewAccount, create_account

            await create_account(rt, NewAccount(full_name="Ольга", email=account_email, password=PASSWORD))
            sink.stop()
            started = asyncio.get_running_loop().time()
            answer = await request_reset(gql, account_email)
            assert answer["__typename"] == "PasswordResetRequested"
            assert asyncio.get_running_loop().time() - started < 2  # the request never waited for SMTP
            assert (await deliver_due(mail_rt)).retrying >= 1
            assert sink.to(account_email) == []
            sink.start()
            clock.advance(retry_delay(1) + 1)
            assert (await drain(mail_rt)).sent >= 1
            token = token_from((await sink.wait_for(account_email))[0])
            assert (await reset(gql, token, "the mail server came back"))["__typename"] == "PasswordResetSucceeded"
    finally:
        sink.stop()


async def test_the_development_transport_writes_eml_files_and_logs_links(rt, tmp_path, caplog):
    await drain(rt)
    files_rt = other_runtime(rt, smtp_url=None, data_dir=tmp_path)
    to = address()
    await queue(rt, to)
    with caplog.at_level(logging.INFO, logger="portal.mail"):
        assert (await deliver_due(files_rt)).sent >= 1
    (eml,) = [f for f in (tmp_path / "mail").glob("*.eml") if f"To: {to}" in f.read_text()]
    assert "Auto-Submitted: auto-generated" in eml.read_text()
    assert any(CONTEXT["reset_url"] in r.getMessage() for r in caplog.records)


def test_smtp_urls_are_read_with_their_security():
    plain = SmtpTransport("smtp://127.0.0.1:2525")
    assert (plain.hostname, plain.port, plain.use_tls, plain.start_tls) == ("127.0.0.1", 2525, False, None)
    assert plain.username is None
    starttls = SmtpTransport("smtp+starttls://user%40x:p%3Ass@mail.example:587")
    assert (starttls.start_tls, starttls.username, starttls.password) == (True, "user@x", "p:ss")
    tls = SmtpTransport("smtps://mail.example")
    assert (tls.use_tls, tls.port, tls.start_tls) == (True, 465, False)
    with pytest.raises(ValueError):
        SmtpTransport("http://mail.example")


async def test_the_delivery_loop_delivers_on_its_own(rt, app, smtp_sink, make_account):
    account = await make_account()
    async with worker.running(rt, poll_seconds=0.05):
        async with client_at(app) as c:
            await request_reset(GQL(c), account.email)
        letter = (await smtp_sink.wait_for(account.email, timeout=10))[0]
    assert token_from(letter)


async def test_a_crashed_workers_lease_is_taken_over(rt, clock, smtp_sink):
    await drain(rt)
    to = address()
    row = await queue(rt, to)
    token, rows = await claim(rt)  # a worker claims it… and dies before sending
    assert [r.id for r in rows] == [row.id]
    await deliver_due(rt)
    assert (await OutboxMessage.get(id=row.id)).attempts == 1 and smtp_sink.to(to) == []  # the lease still holds
    clock.advance(LEASE_SECONDS + 1)
    assert (await deliver_due(rt)).sent >= 1
    await asyncio.sleep(0.1)
    assert len(await smtp_sink.wait_for(to)) == 1
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.attempts == 2


class SlowSmtp(SmtpTransport):
    """The real SMTP transport to the sink, on a mail server so slow (50 s a letter) that a batch of five
    outlives its 120-s lease; after the third letter a second worker runs a round."""

    def __init__(self, url: str, clock, after_third) -> None:  # type: ignore[no-untyped-def]
        super().__init__(url)
        self.clock = clock
        self.after_third = after_third
        self.sent: list[str] = []

    async def send(self, message, sender, recipient):  # type: ignore[no-untyped-def]
        await super().send(message, sender, recipient)
        self.clock.advance(50)
        self.sent.append(recipient)
        if len(self.sent) == 3:
            await self.after_third()


async def test_a_batch_that_outlives_its_lease_never_sends_a_letter_twice(rt, clock, smtp_sink):
    await drain(rt)
    recipients = [address() for _ in range(5)]
    for to in recipients:
        await queue(rt, to)
    second_worker = []

    async def second_round() -> None:
        second_worker.append(await deliver_due(rt))  # takes over the rows whose lease ran out

    first = await deliver_due(rt, transport=SlowSmtp(rt.settings.smtp_url, clock, second_round))
    assert first.claimed == 5 and first.sent == 3 and first.lost == 2, first
    assert second_worker[0].claimed == 2 and second_worker[0].sent == 2
    for to in recipients:
        assert len(await smtp_sink.wait_for(to)) == 1
    await asyncio.sleep(0.2)
    assert all(len(smtp_sink.to(to)) == 1 for to in recipients)  # each exactly once
    assert await OutboxMessage.filter(to_address__in=recipients, status=OutboxStatus.SENT).count() == 5


async def test_two_workers_deliver_500_letters_each_exactly_once(rt, smtp_sink, on_postgres):
    if not on_postgres:
        pytest.skip("several workers need PostgreSQL (FOR UPDATE SKIP LOCKED); on SQLite one worker delivers")
    await drain(rt)
    batch = unique("w")
    recipients = [f"{batch}-{i}@example.ru" for i in range(500)]
    async with in_transaction():
        for to in recipients:
            await enqueue(rt, template="password_changed", to=to, lang="ru",
                          context={"full_name": "", "changed_at": rt.clock.now(), "forgot_url": "x"})

    async def work() -> int:
        sent = 0
        while True:
            report = await deliver_due(rt)
            sent += report.sent
            if report.claimed == 0:
                return sent

    first, second = await asyncio.gather(work(), work())
    assert first + second == 500 and first > 0 and second > 0, (first, second)
    delivered = [r for letter in smtp_sink.letters for r in letter.rcpt_tos if r.startswith(batch)]
    assert sorted(delivered) == sorted(recipients)
    assert await OutboxMessage.filter(to_address__startswith=batch, status=OutboxStatus.SENT).count() == 500


async def test_portal_worker_delivers_and_stops_cleanly(rt, settings, smtp_sink):
    await drain(rt)
    to = address()
    await queue(rt, to)
    env = {**os.environ, **settings_env(settings), "PORTAL_DELIVER_MAIL_IN_PROCESS": "false"}
    portal = Path(sys.executable).parent / "portal"
    process = subprocess.Popen(  # noqa: ASYNC220 - a real `portal worker` process beside the test
        [str(portal), "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        await smtp_sink.wait_for(to, timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert "mail worker stopped" in output


async def test_a_retried_letter_keeps_its_message_id(rt, clock):
    """docs/security.md #44: the server took the letter but answered with a temporary failure (the classic
    duplicate); the retry carries the same Message-ID, so the receiving side can drop the copy."""
    import email as email_lib

    await drain(rt)
    flaky = SmtpSink(port=free_port())
    seen: list[str] = []
    original = None

    async def temporary_failure_once(server, session, envelope):  # type: ignore[no-untyped-def]
        seen.append(email_lib.message_from_bytes(envelope.content)["Message-ID"])
        if len(seen) == 1:
            return "451 4.3.0 try again later"
        return await original(server, session, envelope)  # type: ignore[misc]

    flaky.start()
    try:
        handler = flaky._controller.handler  # type: ignore[union-attr]
        original = handler.handle_DATA
        handler.handle_DATA = temporary_failure_once
        flaky_rt = other_runtime(rt, smtp_url=f"smtp://127.0.0.1:{flaky.port}")
        to = address()
        row = await queue(rt, to)
        assert (await deliver_due(flaky_rt)).retrying >= 1
        assert (await OutboxMessage.get(id=row.id)).status == OutboxStatus.PENDING
        clock.advance(retry_delay(1) + 1)
        await drain(flaky_rt)
        letters = await flaky.wait_for(to)
        assert len(letters) == 1 and len(seen) == 2
        assert seen[0] == seen[1] == letters[0].message["Message-ID"]
        assert seen[0].startswith(f"<outbox.{row.id}.")
    finally:
        flaky.stop()
