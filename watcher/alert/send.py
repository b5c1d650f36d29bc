"""Sending one message through apprise, and what a channel's service accepts.

apprise is imported on first use: a poll with nothing to send never loads its plugins.

apprise does not pass on a service's answer, so a 429 or 503 with Retry-After would be
lost: while `send` runs, `_watch_answers` notes the Retry-After of such answers to the
requests that apprise's HTTP plugins make (through requests.Session.send, wrapped once;
the notes go to the current send only, through a context variable that apprise copies
into its worker threads). The failure carries it, and the outbox waits at least that long.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from watcher.config.model import Channel
from watcher.model import Message
from watcher.timeparse import parse_retry_after

TITLE_MAX = 250


class Failure(str):
    """Why a send failed (a str, as every sender returns), and how long the service asked
    us to wait before the next attempt (Retry-After, seconds), if it did."""

    retry_after: float | None = None

    @classmethod
    def of(cls, text: str, retry_after: float | None = None) -> Failure:
        failure = cls(text)
        failure.retry_after = retry_after
        return failure


def send(channel: Channel, message: Message, timeout: float = 30.0) -> str | None:
    """Send one message; returns None on success or the reason it failed (never raises).

    apprise 2.x returns an AppriseResult whose truth is its status: only SUCCESS is true
    (PARTIAL, TIMEOUT and NOMATCH count as failures); apprise 1.x returned a bool. A
    failure is a `Failure`, with the service's Retry-After when it answered 429 or 503.
    """
    import apprise

    with _watch_answers() as answers:
        try:
            sender = apprise.Apprise()
            if not sender.add(channel.url):
                return f"apprise rejected the URL of channel {channel.name!r}"
            result = sender.notify(
                body=message.body,
                title=message.title,
                body_format=message.body_format,
                timeout=timeout,
            )
        except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; record it instead
            return Failure.of(_masked(channel, f"{type(exc).__name__}: {exc}"), answers.retry_after)
    if result:
        return None
    text = _masked(channel, f"{channel.name}: delivery failed ({_describe(result)})")
    if answers.certificate:
        text += (
            f"; the server's TLS certificate was not accepted ({answers.certificate}): fix "
            "the certificate, or the host name in the URL; nothing is sent unverified"
        )
    if answers.retry_after is not None:
        text += f"; the service asked to wait {answers.retry_after:.0f} s (Retry-After)"
    return Failure.of(text, answers.retry_after)


class _Answers:
    """What the services answered during one send: the Retry-After of a 429 or 503, and
    why a server's certificate was refused (apprise logs only "connection error")."""

    retry_after: float | None = None
    certificate: str | None = None

    def note_error(self, exc: BaseException) -> None:
        found = _CERTIFICATE.search(str(exc))
        if found:
            self.certificate = found.group(1).strip()


_CERTIFICATE = re.compile(r"certificate verify failed: ([^(\]\n'\"]+)", re.I)


_ANSWERS: contextvars.ContextVar[_Answers | None] = contextvars.ContextVar(
    "regwatch_answers", default=None
)
_WRAPPED = threading.Lock()
_wrapped = False


@contextlib.contextmanager
def _watch_answers() -> Iterator[_Answers]:
    """Note the Retry-After answers of the HTTP requests made in this context."""
    _wrap_requests()
    answers = _Answers()
    token = _ANSWERS.set(answers)
    try:
        yield answers
    finally:
        _ANSWERS.reset(token)


def _wrap_requests() -> None:
    """Wrap, once, requests.Session.send (every requests call goes through it) and the two
    places smtplib checks a certificate (connect for SMTPS, starttls)."""
    global _wrapped
    with _WRAPPED:
        if _wrapped:
            return
        import smtplib

        import requests

        original = requests.Session.send

        def send_noting(self: Any, request: Any, **kwargs: Any) -> Any:
            try:
                response = original(self, request, **kwargs)
            except Exception as exc:
                _note_error(exc)
                raise
            answers = _ANSWERS.get()
            if answers is not None and response.status_code in (429, 503):
                header = response.headers.get("Retry-After")
                wait = parse_retry_after(header)
                if wait is not None:
                    answers.retry_after = max(wait, answers.retry_after or 0.0)
            return response

        requests.Session.send = send_noting  # type: ignore[method-assign]
        smtplib.SMTP.connect = _noting(smtplib.SMTP.connect)  # type: ignore[method-assign]
        smtplib.SMTP.starttls = _noting(smtplib.SMTP.starttls)  # type: ignore[method-assign]
        _wrapped = True


def _note_error(exc: BaseException) -> None:
    answers = _ANSWERS.get()
    if answers is not None:
        answers.note_error(exc)


def _noting(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method`, noting the certificate errors it raises for the current send."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            _note_error(exc)
            raise

    return call


def title_limit(channel: Channel) -> int:
    """The longest title the channel's service accepts (ours is never above TITLE_MAX)."""
    service = _service_title_max(channel)
    return min(TITLE_MAX, service) if service > 0 else TITLE_MAX


def title_apart(channel: Channel) -> bool:
    """True when the service keeps the title apart from the body (an email's Subject).

    apprise blends the title into the body (converted like the body) only for services
    without a title of their own (title_maxlen 0); elsewhere the title is sent as given.
    """
    return _service_title_max(channel) > 0


def _service_title_max(channel: Channel) -> int:
    """apprise's title_maxlen for the channel's service; 0 when it has none or cannot say."""
    import apprise

    try:
        plugin = apprise.Apprise.instantiate(channel.url, suppress_exceptions=True)
        return int(getattr(plugin, "title_maxlen", 0) or 0) if plugin else 0
    except Exception:  # noqa: BLE001 - a plugin that cannot say: treated as blending
        return 0


def _masked(channel: Channel, text: str) -> str:
    """`text` with the channel's URL (and its secrets) replaced by the masked form."""
    return text.replace(channel.url, channel.masked_url)


def _describe(result: Any) -> str:
    status = getattr(result, "status", None)
    text = str(getattr(status, "name", status) or "failure").lower()
    try:
        logs = [str(getattr(e, "message", e)) for e in result.logs()][-2:]
    except Exception:  # noqa: BLE001 - older apprise: no logs
        logs = []
    return "; ".join([text, *logs])[:500]
