"""One poll cycle, the same for `regwatch run`, `regwatch poll` and `regwatch demo`:

    poll the sources -> re-judge their health -> queue due digests -> send what is due.

The daemon runs a cycle per source at that source's interval, without waiting for the
sends (each channel's sender works in the background); `poll` and `demo` wait for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from watcher.alert.health import check_health
from watcher.config.model import Config, Source
from watcher.model import PollResult
from watcher.pipeline.poll import Poller
from watcher.store import Store
from watcher.timeparse import utcnow

if TYPE_CHECKING:
    from watcher.alert.outbox import Dispatcher


@dataclass
class CycleResult:
    """What a cycle did: each source's poll, and the sends it waited for."""

    polls: list[PollResult] = field(default_factory=list, repr=False)  # see model.Item
    health_changes: int = 0
    sent: int = 0
    failed: int = 0


async def run_cycle(
    config: Config,
    store: Store,
    poller: Poller,
    dispatcher: Dispatcher,
    sources: list[Source] | None = None,
    *,
    force: bool = False,
    wait: bool = True,
    on_done: Callable[[PollResult], None] | None = None,
) -> CycleResult:
    """Poll `sources` (all enabled ones by default), then judge health, queue and send.

    `wait` false starts the sends and returns (the daemon); `force` polls sources that are
    backing off too (`regwatch poll` without --due).
    """
    chosen = [s for s in (config.sources if sources is None else sources) if s.enabled]
    result = CycleResult(await poller.poll_all(chosen, on_done, force=force))
    polled = {p.source for p in result.polls if not p.skipped}  # not by another daemon
    for source in chosen:
        if source.name in polled and check_health(config, store, source, utcnow()):
            result.health_changes += 1
    if not config.channels:
        return result
    from watcher.alert.digest import queue_digests  # only with channels to send to

    queue_digests(store, config.channels, utcnow(), base_url=config.web.base_url)
    if wait:
        result.sent, result.failed = await dispatcher.drain()
    elif result.health_changes or any(p.hit_ids and p.alerted for p in result.polls):
        dispatcher.kick()
    return result


def print_hits(result: PollResult) -> None:
    """Without channels, hits go to standard output (one line each)."""
    for line in hit_lines(result):
        print(line, flush=True)


def hit_lines(result: PollResult) -> list[str]:
    """The lines `print_hits` prints for a poll's hits."""
    return [
        f"HIT {mention.entity} [{result.source}] {item.title} <{item.link or ''}> "
        f"({mention.matched!r})"
        for item, mention in result.hits
    ]
