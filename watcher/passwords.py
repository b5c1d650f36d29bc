"""Password hashes for the web view's accounts: PBKDF2-SHA256, as Django and
datasette-auth-passwords write them (``pbkdf2_sha256$iterations$salt$hash``).

The config holds only the hash; `regwatch web-password` prints one to paste.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 480_000  # Django 4.2's default: about 0.3 s per sign-in on a small machine


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: str | None = None) -> str:
    """A hash of `password` to write in [[web.accounts]] password_hash."""
    salt = salt or secrets.token_urlsafe(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode('ascii')}"


def check_password(password: str, stored: str) -> bool:
    """True when `password` is the one `stored` (a hash_password result) was made from."""
    try:
        algorithm, iterations, salt, _ = stored.split("$", 3)
        rounds = int(iterations)
    except ValueError:
        return False
    if algorithm != "pbkdf2_sha256" or not 0 < rounds <= 10_000_000:
        return False
    return hmac.compare_digest(hash_password(password, iterations=rounds, salt=salt), stored)
