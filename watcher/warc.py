"""Evidence as standard WARC files (ISO 28500), written and verified with warcio.

A file holds a `warcinfo` record; per captured response a `response` record (WARC-Target-URI
= the URL that answered, WARC-Date = the fetch time, SHA-256 block and payload digests) and
a `request` record with the headers regwatch sent; and per hit a `metadata` record (JSON:
hit id, entity, matched text, field, offsets, item title, link and key, source, regwatch
version and config hash at match time, and the records of its captures).

The body is kept as received after transfer decoding, and httpx also undoes a gzip or br
Content-Encoding; so that replay tools read it right, such a response's Content-Encoding,
Transfer-Encoding and Content-Length headers are written as `X-Archive-Orig-...` (the web
archives' convention) with the body's real Content-Length. The database keeps them as sent.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from watcher import __version__
from watcher.errors import WatcherError
from watcher.model import Hit, HitEvidence, StoredCapture
from watcher.store import Store

# Headers that describe the bytes on the wire, not the body as stored.
WIRE_HEADERS = ("content-encoding", "transfer-encoding", "content-length")


class EvidenceError(WatcherError):
    """Evidence that cannot be exported: an unknown hit, none held, pruned, or a bad --out."""


class _Writer(WARCWriter):
    """warcio's writer with SHA-256 digests (it defaults to SHA-1)."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


@dataclass(frozen=True)
class Exported:
    """What a WARC file holds: hits, responses, bytes written."""

    hits: int
    responses: int
    size: int


def held_evidence(store: Store, hit_ids: list[int]) -> list[tuple[Hit, HitEvidence]]:
    """Each hit with its evidence; EvidenceError naming the first hit that has none to give."""
    out = []
    for hit_id in dict.fromkeys(hit_ids):
        hit = store.get_hit(hit_id)
        if hit is None:
            raise EvidenceError(
                f"no hit with id {hit_id}", hint="`regwatch hits` lists the hit ids"
            )
        evidence = store.evidence_of(hit_id)
        if evidence.pruned_at:
            raise EvidenceError(
                f"hit {hit_id}: its evidence was pruned on {evidence.pruned_at} "
                f"({evidence.pruned_why})",
                hint="nothing of it is left to export; `regwatch evidence "
                f"{hit_id} --show` says what is held",
            )
        if not evidence.captures:
            raise EvidenceError(
                f"hit {hit_id} has no evidence",
                hint="it was stored before regwatch kept evidence, or found by `rematch` "
                "(which fetches nothing)",
            )
        out.append((hit, evidence))
    return out


def warc_date(stamp: str) -> str:
    """A stored ISO 8601 UTC timestamp as WARC writes it: 2024-02-27T12:00:00Z."""
    return stamp.replace("+00:00", "Z") if stamp.endswith("+00:00") else stamp


def archive_headers(capture: StoredCapture, size: int) -> list[tuple[str, str]]:
    """The response headers for a WARC record of the body as stored (see the module doc)."""
    headers = list(capture.headers)
    names = {name.lower(): value for name, value in headers}
    encoded = names.get("content-encoding", "identity").strip().lower() not in ("", "identity")
    if (
        not encoded
        and "transfer-encoding" not in names
        and names.get("content-length") == str(size)
    ):
        return headers
    out = [
        (f"X-Archive-Orig-{name}", value) if name.lower() in WIRE_HEADERS else (name, value)
        for name, value in headers
    ]
    return [*out, ("Content-Length", str(size))]


def write_records(
    stream: IO[bytes], store: Store, held: list[tuple[Hit, HitEvidence]], *, gzip: bool, name: str
) -> int:
    """Write the records of these hits to `stream`; returns how many responses it holds."""
    writer = _Writer(stream, gzip=gzip, warc_version="1.1")
    info = {
        "software": f"regwatch {__version__}",
        "format": "WARC File Format 1.1",
        "description": "evidence of regwatch hits " + ", ".join(str(h.id) for h, _ in held),
    }
    writer.write_record(writer.create_warcinfo_record(name, info))
    written: dict[int, str] = {}  # capture id -> its response record's id
    for hit, evidence in held:
        for capture in evidence.captures:
            if capture.id not in written:
                written[capture.id] = _write_capture(writer, store, capture)
        meta = hit_metadata(hit, evidence, written)
        record = writer.create_warc_record(
            f"urn:regwatch:hit:{hit.id}",
            "metadata",
            payload=io.BytesIO(json.dumps(meta, ensure_ascii=False, indent=2).encode()),
            warc_content_type="application/json",
            warc_headers_dict={
                "WARC-Date": warc_date(evidence.recorded_at or hit.created),
                **({"WARC-Refers-To": next(iter(written.values()))} if written else {}),
            },
        )
        writer.write_record(record)
    return len(written)


def _write_capture(writer: _Writer, store: Store, capture: StoredCapture) -> str:
    body = store.evidence_body(capture.sha256)
    status = f"{capture.status} {capture.reason}".strip()
    http = StatusAndHeaders(
        status, archive_headers(capture, len(body)), protocol=capture.http_version or "HTTP/1.1"
    )
    when = warc_date(capture.fetched_at)
    response = writer.create_warc_record(
        capture.final_url,
        "response",
        payload=io.BytesIO(body),
        length=len(body),
        http_headers=http,
        warc_headers_dict={"WARC-Date": when},
    )
    parts = urlsplit(capture.final_url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = writer.create_warc_record(
        capture.final_url,
        "request",
        http_headers=StatusAndHeaders(
            f"GET {target} {capture.http_version or 'HTTP/1.1'}",
            list(capture.request_headers),
            is_http_request=True,
        ),
        warc_headers_dict={"WARC-Date": when},
    )
    writer.write_request_response_pair(request, response)
    return str(response.rec_headers.get_header("WARC-Record-ID"))


def hit_metadata(hit: Hit, evidence: HitEvidence, records: dict[int, str]) -> dict[str, Any]:
    """The JSON of a hit's metadata record."""
    m = hit.mention
    return {
        "hit_id": hit.id,
        "entity": m.entity,
        "matched": m.matched,
        "field": m.field,
        "start": m.start,
        "end": m.end,
        "alias": m.alias,
        "kind": m.kind,
        "snippet": m.snippet,
        "item": {
            "title": hit.title,
            "link": hit.link,
            "key": hit.item_key,
            "published": hit.published,
        },
        "source": hit.source,
        "story": hit.story,
        "found_at": hit.created,
        "regwatch_version": evidence.version,
        "config_sha256": evidence.config_sha256,
        "captures": [
            {
                "role": c.role,
                "requested_url": c.url,
                "url": c.final_url,
                "fetched_at": c.fetched_at,
                "status": c.status,
                "sha256": c.sha256,
                "size": c.size,
                "warc_record_id": records[c.id],
            }
            for c in evidence.captures
        ],
        "exported_by": f"regwatch {__version__}",
    }


def export_warc(store: Store, hit_ids: list[int], out: Path) -> Exported:
    """Write the evidence of these hits to `out` (gzipped when it ends in .gz), atomically.

    The file is written beside `out` under a temporary name and renamed once complete:
    a failure leaves no partial file behind, and an existing `out` untouched.
    """
    held = held_evidence(store, hit_ids)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise EvidenceError(
            f"cannot write {out}: the folder {folder} does not exist", hint="create it first"
        )
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise EvidenceError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            responses = write_records(
                stream, store, held, gzip=out.name.endswith(".gz"), name=out.name
            )
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, 0o644 & ~_umask())
        os.replace(temp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise EvidenceError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return Exported(len(held), responses, out.stat().st_size)


def warc_bytes(store: Store, hit_ids: list[int]) -> bytes:
    """The evidence of these hits as a gzipped WARC file in memory (the web view's download)."""
    held = held_evidence(store, hit_ids)
    buffer = io.BytesIO()
    name = "regwatch-hit-" + "-".join(str(i) for i in hit_ids) + ".warc.gz"
    write_records(buffer, store, held, gzip=True, name=name)
    return buffer.getvalue()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- verifying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """One record of a WARC file, checked: `problem` is None when its digests match."""

    offset: int
    record_id: str
    type: str
    uri: str
    problem: str | None


def verify_warc(path: Path) -> list[Checked]:
    """Recompute the block and payload digest of every record; one Checked per record.

    A file that cannot be read at all, or stops being readable, ends with a Checked whose
    problem says where.
    """
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror or exc}") from None
    out: list[Checked] = []
    with stream:
        records = ArchiveIterator(stream, check_digests=True)
        try:
            for record in records:
                headers = record.rec_headers
                rec_type = str(headers.get_header("WARC-Type") or "")
                digested = headers.get_header("WARC-Block-Digest") or headers.get_header(
                    "WARC-Payload-Digest"
                )
                content = record.content_stream()
                while content.read(1 << 20):
                    pass
                problem = None
                if record.digest_checker.passed is False:
                    problem = "; ".join(record.digest_checker.problems)
                elif not digested and rec_type in ("response", "request", "metadata"):
                    problem = "no digest to check"
                out.append(
                    Checked(
                        records.get_record_offset(),
                        str(headers.get_header("WARC-Record-ID") or ""),
                        rec_type,
                        str(headers.get_header("WARC-Target-URI") or ""),
                        problem,
                    )
                )
        except (ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error) as exc:
            where = out[-1].offset if out else 0
            out.append(
                Checked(where, "", "", "", f"unreadable after offset {where}: {exc}".strip())
            )
    if not out:
        out.append(Checked(0, "", "", "", "no WARC record in this file"))
    return out
