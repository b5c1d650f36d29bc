"""The [web] table: the web view's address, who may sign in to review, anonymous access."""

from __future__ import annotations

import re
from typing import Any

from watcher.config.model import Account, Web
from watcher.config.schema import ACCOUNT, WEB, Checker

ANONYMOUS = ("read", "none")
_HASH = re.compile(r"^pbkdf2_sha256\$\d+\$[^$]+\$[^$]+$")


def parse_web(w: dict[str, Any], check: Checker) -> Web:
    """The [web] table: base_url, anonymous access and the [[web.accounts]] who may review."""
    check.table(w, WEB, "web.")
    base_url = w.get("base_url")
    if base_url is not None and not re.match(r"^https?://[^/\s]+", base_url, re.I):
        raise check.fail(
            "web.base_url",
            f"{base_url!r} is not an http:// or https:// URL",
            hint='the address people open the web view at, e.g. "https://regwatch.example.org"',
        )
    anonymous = w.get("anonymous", "read")
    if anonymous not in ANONYMOUS:
        raise check.fail(
            "web.anonymous", f"{anonymous!r} is not one of {', '.join(map(repr, ANONYMOUS))}"
        )
    accounts = []
    for i, a in enumerate(w.get("accounts", [])):
        at = f"web.accounts[{i}]."
        check.table(a, ACCOUNT, at)
        if not _HASH.match(a["password_hash"]):
            raise check.fail(
                at + "password_hash",
                "not a password hash (pbkdf2_sha256$...)",
                hint="paste what `regwatch web-password` prints; never the password itself",
            )
        accounts.append(Account(a["name"], a["password_hash"]))
    check.unique([a.name for a in accounts], "web.accounts")
    if anonymous == "none" and not accounts:
        raise check.fail(
            "web.anonymous",
            '"none" refuses everyone who is not signed in, and no [[web.accounts]] can sign in',
            hint="add an account (`regwatch web-password --name NAME` prints one)",
        )
    return Web(
        base_url=base_url.rstrip("/") if base_url else None,
        anonymous=anonymous,
        accounts=tuple(accounts),
    )
