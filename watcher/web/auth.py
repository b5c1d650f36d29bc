"""Signing in to the web view: accounts from [[web.accounts]], Datasette's signed actor cookie.

`/-/login` checks a password against the account's hash and sets Datasette's `ds_actor`
cookie (signed with the instance's secret); Datasette's own `/-/logout` clears it. Both are
POST forms carrying Datasette's CSRF token; the login also insists on the CSRF cookie,
which Datasette only requires of requests that already carry cookies. With
`[web] anonymous = "none"`, `gate` sends every visitor who is not signed in to `/-/login`.
"""

from __future__ import annotations

import asyncio
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

from datasette.utils.asgi import Response

from watcher.passwords import check_password
from watcher.web.site import ACTOR_COOKIE, site_of

# What a visitor who is not signed in may still reach when anonymous = "none".
OPEN_PATHS = ("/-/login", "/-/static/", "/-/static-plugins/", "/favicon.ico")


def safe_next(target: str | None, default: str = "/") -> str:
    """A path on this site to go back to; anything else (another host, //x) is `default`."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


async def login(datasette: Any, request: Any) -> Response:
    """`/-/login`: the sign-in form (GET) and the check of a name and password (POST)."""
    site = site_of(datasette)
    error = ""
    target = safe_next(request.args.get("next"))
    if request.method == "POST":
        form = await request.post_vars()
        target = safe_next(form.get("next"))
        token = request.cookies.get("ds_csrftoken", "")
        if not token or not secrets.compare_digest(form.get("csrftoken", ""), token):
            return Response.html("The sign-in form has expired: reload it.", status=403)
        name = (form.get("name") or "").strip()
        account = site.web.account(name)
        password = form.get("password") or ""
        # Hashing costs the same for an unknown name: the answer time does not tell names.
        stored = account.password_hash if account else _DUMMY
        ok = await asyncio.to_thread(check_password, password, stored)
        if account and ok:
            response = Response.redirect(target)
            response.set_cookie(
                ACTOR_COOKIE,
                datasette.sign({"a": {"id": account.name}}, "actor"),
                httponly=True,
                samesite="lax",
            )
            return response
        error = "Unknown name or wrong password."
    context = {
        "error": error,
        "next": target,
        "accounts": bool(site.web.accounts),
        "anonymous": site.web.anonymous,
    }
    html = await datasette.render_template("regwatch_login.html", context, request=request)
    return Response.html(html, status=401 if error else 200)


def gate(datasette: Any, app: Any) -> Any:
    """ASGI wrapper: with anonymous = "none", only signed-in people get past the login page."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        site = getattr(datasette, "regwatch_site", None)
        if (
            scope["type"] != "http"
            or site is None
            or site.web.anonymous != "none"
            or scope["path"].startswith(OPEN_PATHS)
            or site.account(datasette, _cookies(scope))
        ):
            await app(scope, receive, send)
            return
        path = scope["path"]
        if path.endswith((".json", ".csv", ".atom")) or scope["method"] != "GET":
            response = Response.text("sign in first: " + "/-/login\n", status=401)
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            back = path + (f"?{query}" if query else "")
            response = Response.redirect("/-/login?next=" + quote(back, safe=""))
        await response.asgi_send(send)

    return wrapped


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            jar.load(value.decode("latin-1"))
    return {name: morsel.value for name, morsel in jar.items()}


_DUMMY = "pbkdf2_sha256$480000$regwatch-dummy$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
