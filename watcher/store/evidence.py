"""Evidence in the database: the HTTP responses behind each hit, kept at match time.

A body is stored once, compressed (zlib) and addressed by the SHA-256 of its bytes as
received (`evidence_bodies`); a capture is one fetch (`captures`: URLs, status line,
headers as received, fetch time, the body's digest), linked to the hits it produced
(`hit_captures`). Nothing here is ever updated: pruning deletes a hit's links, records
when and why in `hit_evidence`, and then the captures and bodies no hit points to.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable
from typing import Any

from watcher.errors import StorageError
from watcher.model import Capture, HitEvidence, Item, Provenance, StoredCapture
from watcher.store.base import StoreBase

CODEC = "zlib"


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in json.loads(text or "[]"))


class EvidenceStore(StoreBase):
    def keep_evidence(
        self, hits: Iterable[tuple[int, Item]], provenance: Provenance, at: str
    ) -> None:
        """Link each new hit (id, its item) to the source's response and its item's captures.

        Runs inside the caller's transaction (save_poll): a hit is never without its evidence.
        """
        ids: dict[int, int] = {}  # id(Capture) -> capture row, so one fetch is one row

        def capture_id(capture: Capture) -> int:
            if id(capture) not in ids:
                ids[id(capture)] = self._add_capture(capture)
            return ids[id(capture)]

        hits = list(hits)
        links = [
            (hit_id, capture_id(capture))
            for hit_id, item in hits
            for capture in [*([provenance.source] if provenance.source else []), *item.captures]
        ]
        self.engine.executemany(
            "INSERT INTO hit_evidence (hit_id, version, config_sha256, recorded_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (hit_id) DO NOTHING",
            [(hit_id, provenance.version, provenance.config_sha256, at) for hit_id, _ in hits],
        )
        self.engine.executemany(
            "INSERT INTO hit_captures (hit_id, capture_id) VALUES (?, ?) "
            "ON CONFLICT (hit_id, capture_id) DO NOTHING",
            links,
        )

    def _add_capture(self, capture: Capture) -> int:
        sha256 = self._put_body(capture.body)
        capture_id = self._insert(
            "INSERT INTO captures (role, url, final_url, status, reason, http_version, headers, "
            "request_headers, fetched_at, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                capture.role,
                capture.url,
                capture.final_url,
                capture.status,
                capture.reason,
                capture.http_version,
                json.dumps(capture.headers, ensure_ascii=False),
                json.dumps(capture.request_headers, ensure_ascii=False),
                capture.fetched_at,
                sha256,
            ],
        )
        assert capture_id is not None
        return capture_id

    def _put_body(self, body: bytes) -> str:
        """Store a body once (compressed); its SHA-256."""
        sha256 = hashlib.sha256(body).hexdigest()
        if self._value("SELECT 1 FROM evidence_bodies WHERE sha256 = ?", [sha256]) is None:
            self._execute(
                "INSERT INTO evidence_bodies (sha256, size, codec, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sha256) DO NOTHING",
                [sha256, len(body), CODEC, zlib.compress(body, 6)],
            )
        return sha256

    def evidence_of(self, hit_id: int) -> HitEvidence:
        """What is held for a hit: its captures (without bodies), provenance, pruning."""
        rows = self._query(
            """SELECT c.*, b.size, length(b.data) AS stored FROM hit_captures hc
               JOIN captures c ON c.id = hc.capture_id
               JOIN evidence_bodies b ON b.sha256 = c.sha256
               WHERE hc.hit_id = ? ORDER BY c.fetched_at, c.id""",
            [hit_id],
        )
        captures = tuple(
            StoredCapture(
                id=r["id"],
                role=r["role"],
                url=r["url"],
                final_url=r["final_url"],
                status=r["status"],
                reason=r["reason"],
                http_version=r["http_version"],
                headers=_pairs(r["headers"]),
                request_headers=_pairs(r["request_headers"]),
                fetched_at=r["fetched_at"],
                sha256=r["sha256"],
                size=r["size"],
                stored=r["stored"],
            )
            for r in rows
        )
        meta = self._query("SELECT * FROM hit_evidence WHERE hit_id = ?", [hit_id])
        m: dict[str, Any] = meta[0] if meta else {}
        return HitEvidence(
            hit_id,
            captures,
            version=m.get("version"),
            config_sha256=m.get("config_sha256"),
            recorded_at=m.get("recorded_at"),
            pruned_at=m.get("pruned_at"),
            pruned_why=m.get("pruned_why"),
        )

    def evidence_body(self, sha256: str) -> bytes:
        """A stored body, decompressed; StorageError if it is missing or damaged."""
        rows = self._query("SELECT codec, data FROM evidence_bodies WHERE sha256 = ?", [sha256])
        if not rows:
            raise StorageError(f"evidence body {sha256} is not in the database")
        if rows[0]["codec"] != CODEC:
            raise StorageError(f"evidence body {sha256}: unknown codec {rows[0]['codec']!r}")
        try:
            body = zlib.decompress(bytes(rows[0]["data"]))
        except zlib.error as exc:
            raise StorageError(f"evidence body {sha256} is damaged: {exc}") from None
        if hashlib.sha256(body).hexdigest() != sha256:
            raise StorageError(
                f"evidence body {sha256} is damaged: its bytes no longer have that digest",
                hint="restore the database from a backup",
            )
        return body

    def prune_evidence(
        self, before: str, *, any_status: bool, why: str, at: str, batch: int = 500
    ) -> int:
        """Drop the evidence of hits stored before `before`; returns how many hits lost it.

        Only hits still `new` unless `any_status` (`vacuum --evidence`): a reviewed hit's
        evidence is the team's record. Each hit keeps when and why (`hit_evidence`).
        """
        status = "" if any_status else " AND h.review_status = 'new'"
        pruned = 0
        with self.writing("pruned evidence"):
            while True:
                ids = [
                    r[0]
                    for r in self._execute(
                        "SELECT DISTINCT hc.hit_id FROM hit_captures hc "
                        f"JOIN hits h ON h.id = hc.hit_id WHERE h.created < ?{status} "
                        f"ORDER BY hc.hit_id LIMIT {int(batch)}",
                        [before],
                    ).fetchall()
                ]
                if not ids:
                    break
                self.forget_evidence(ids, why=why, at=at)
                pruned += len(ids)
            self._drop_unlinked()
        return pruned

    def forget_evidence(self, hit_ids: list[int], *, why: str | None, at: str) -> None:
        """Unlink these hits' captures (inside the caller's transaction); record why if given.

        `why` None: the hits themselves are being deleted, so nothing is recorded.
        """
        marks = ",".join("?" * len(hit_ids))
        if why is not None:
            for hit_id in hit_ids:
                self._execute(
                    "INSERT INTO hit_evidence (hit_id, version, config_sha256, recorded_at) "
                    "VALUES (?, '', '', ?) ON CONFLICT (hit_id) DO NOTHING",
                    [hit_id, at],
                )
            self._execute(
                f"UPDATE hit_evidence SET pruned_at = ?, pruned_why = ? WHERE hit_id IN ({marks})",
                [at, why, *hit_ids],
            )
        else:
            self._execute(f"DELETE FROM hit_evidence WHERE hit_id IN ({marks})", hit_ids)
        self._execute(f"DELETE FROM hit_captures WHERE hit_id IN ({marks})", hit_ids)

    def _drop_unlinked(self) -> None:
        """Delete captures no hit points to, then bodies no capture points to."""
        self._execute(
            "DELETE FROM captures WHERE NOT EXISTS "
            "(SELECT 1 FROM hit_captures hc WHERE hc.capture_id = captures.id)"
        )
        self._execute(
            "DELETE FROM evidence_bodies WHERE NOT EXISTS "
            "(SELECT 1 FROM captures c WHERE c.sha256 = evidence_bodies.sha256)"
        )

    def evidence_totals(self) -> dict[str, int]:
        """Hits with evidence, captures, distinct bodies, their bytes and bytes stored."""
        row = self._query(
            """SELECT (SELECT COUNT(DISTINCT hit_id) FROM hit_captures) AS hits,
                      (SELECT COUNT(*) FROM captures) AS captures,
                      (SELECT COUNT(*) FROM evidence_bodies) AS bodies,
                      (SELECT COALESCE(SUM(size), 0) FROM evidence_bodies) AS body_bytes,
                      (SELECT COALESCE(SUM(length(data)), 0) FROM evidence_bodies) AS stored_bytes"""
        )[0]
        return {k: int(v or 0) for k, v in row.items()}
