"""The team's record: a hit's evidence (evidence), its review (review, review-log), and the
password hashes of the web view's accounts (web-password)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from watcher.cli.base import (
    cli,
    config_option,
    format_option,
    open_readonly,
    open_store,
    reports_errors,
    since,
)
from watcher.model import REVIEW_STATUSES, Hit, HitEvidence
from watcher.output import FORMATS, render


@cli.command()
@config_option
@click.argument("hit_ids", nargs=-1, type=int)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the hits' evidence to this WARC file (.warc.gz: gzipped).",
)
@click.option("--show", is_flag=True, help="Print what is held for each hit.")
@click.option(
    "--verify",
    "verify",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Recompute every digest of a WARC file; exit 1 if any record does not match.",
)
@click.pass_context
@reports_errors
def evidence(
    ctx: click.Context, hit_ids: tuple[int, ...], out: Path | None, show: bool, verify: Path | None
) -> None:
    """The evidence kept when hits were found: the responses as the servers sent them.

    \b
    Examples:
      regwatch evidence 12 --show
      regwatch evidence 12 13 --out microsoft-2024-02.warc.gz
      regwatch evidence --verify microsoft-2024-02.warc.gz
    """
    from watcher.warc import EvidenceError, export_warc, verify_warc

    if verify is not None:
        if hit_ids or out or show:
            raise click.UsageError("--verify takes a file and nothing else")
        checked = verify_warc(verify)
        bad = [c for c in checked if c.problem]
        for c in checked:
            mark = "ok " if c.problem is None else "BAD"
            label = f"{c.type} {c.uri}".strip() or "(no record)"
            click.echo(f"{mark} offset {c.offset}: {label} {c.record_id}".rstrip())
            if c.problem:
                click.echo(f"    {c.problem}")
        if bad:
            click.echo(f"{verify}: {len(bad)} of {len(checked)} records do not match", err=True)
            sys.exit(1)
        click.echo(f"{verify}: all {len(checked)} records match their digests")
        return
    if not hit_ids:
        raise click.UsageError("give one or more hit ids (or --verify FILE)")
    if not out and not show:
        raise click.UsageError("say what to do: --out FILE.warc.gz, or --show")
    store = open_readonly(ctx)
    hits: dict[int, Hit] = {}
    for hit_id in hit_ids:
        hit = store.get_hit(hit_id)
        if hit is None:
            raise EvidenceError(
                f"no hit with id {hit_id}", hint="`regwatch hits` lists the hit ids"
            )
        hits[hit_id] = hit
    if show:
        for i, (hit_id, hit) in enumerate(hits.items()):
            if i:
                click.echo("")
            click.echo("\n".join(_show(hit, store.evidence_of(hit_id))))
    if out is not None:
        done = export_warc(store, list(hit_ids), out)
        click.echo(
            f"wrote {out}: {done.hits} hits, {done.responses} responses, {done.size:,} bytes"
        )


def _show(hit: Hit, evidence: HitEvidence) -> list[str]:
    """What `evidence --show` prints for one hit."""
    lines = [
        f"hit {hit.id}: {hit.entity} in {hit.title!r}",
        f"source: {hit.source}; found {hit.created}; link: {hit.link or '(none)'}",
    ]
    if evidence.version is not None:
        lines.append(
            f"matched by regwatch {evidence.version or '?'}, "
            f"config sha256:{evidence.config_sha256 or '?'}"
        )
    if evidence.pruned_at:
        lines.append(f"evidence pruned on {evidence.pruned_at}: {evidence.pruned_why}")
        return lines
    if not evidence.captures:
        lines.append("no evidence held (found before evidence was kept, or by rematch)")
        return lines
    for c in evidence.captures:
        moved = f" -> {c.final_url}" if c.final_url != c.url else ""
        lines += [
            f"  {c.role}: {c.url}{moved}",
            f"    {c.http_version} {c.status} {c.reason}".rstrip()
            + f", fetched {c.fetched_at}, {c.size:,} bytes ({c.stored:,} stored compressed)",
            f"    sha256:{c.sha256}",
        ]
    return lines


@cli.command()
@config_option
@click.argument("hit_ids", nargs=-1, type=int)
@click.option(
    "--status",
    "-s",
    required=True,
    type=click.Choice(REVIEW_STATUSES),
    help="The hits' new status.",
)
@click.option("--note", "-m", help="Why, or what was done (kept in the review log).")
@click.option("--by", help="Who reviews (default: your login name).")
@click.option("--story", type=int, help="Review every hit of this story.")
@click.pass_context
@reports_errors
def review(
    ctx: click.Context,
    hit_ids: tuple[int, ...],
    status: str,
    note: str | None,
    by: str | None,
    story: int | None,
) -> None:
    """Record a review of hits: new, reviewed, actioned or dismissed, by whom, with a note.

    Every change is appended to the review log (`regwatch review-log`). All the hits
    are reviewed, or none (an unknown id changes nothing).

    \b
    Examples:
      regwatch review 12 13 --status actioned --note "sent to the client"
      regwatch review --story 7 --status dismissed --note "not about our client"
    """
    store = open_store(ctx)
    ids = list(hit_ids)
    if story is not None:
        ids += store.story_hit_ids(story)
    if not ids:
        raise click.UsageError("give hit ids, or --story STORY_ID")
    done = store.review_hits(ids, status, by or getpass.getuser(), note)
    for r in done:
        click.echo(f"hit {r.hit_id}: {r.from_status} -> {r.to_status} by {r.by}")


@cli.command("review-log")
@config_option
@click.option("--since", "since_", help="Only changes since: 7d, 12h, or a date (2024-02-01).")
@click.option("--hit", "hit_id", type=int, help="Only the changes of this hit.")
@click.option("--limit", "-n", default=0, help="At most N changes (0: all).")
@format_option(FORMATS)
@click.pass_context
@reports_errors
def review_log(
    ctx: click.Context, since_: str | None, hit_id: int | None, limit: int, fmt: str
) -> None:
    """The review log, newest first: who changed which hit's status, when, and why.

    \b
    Examples:
      regwatch review-log --since 7d
      regwatch review-log --hit 12 --format json
    """
    store = open_readonly(ctx)
    rows = []
    for r in store.review_log(since=since(since_), hit_id=hit_id, limit=limit or None):
        hit = store.get_hit(r.hit_id)
        rows.append(
            {
                "at": r.at,
                "hit": r.hit_id,
                "by": r.by,
                "from": r.from_status,
                "to": r.to_status,
                "note": r.note,
                "entity": hit.entity if hit else None,
                "title": hit.title if hit else None,
            }
        )
    click.echo(render(rows, fmt))


@cli.command("web-password")
@click.option("--name", default="", help="The account's name, to print a ready [[web.accounts]].")
def web_password(name: str) -> None:
    """Print the hash of a password for a [[web.accounts]] table of the config.

    The password is asked twice, never shown, and not kept anywhere: paste the hash.

    Example: regwatch web-password --name alice
    """
    from watcher.passwords import hash_password

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    if len(password) < 8:
        raise click.UsageError("use at least 8 characters")
    hashed = hash_password(password)
    if name:
        click.echo(f'[[web.accounts]]\nname = "{name}"\npassword_hash = "{hashed}"')
    else:
        click.echo(hashed)
