"""Token authentication (docs/server.md, "Authentication").

A token comes from `Authorization: Bearer T`, the `token` query parameter (Crashpad and Breakpad
clients can only put it in the upload URL) or the `btengine_token` cookie (set by the web UI).
Roles: "read" needs a read token; "upload" an upload token or a read token (a team member may
upload; a token shipped inside a product for its crash handler cannot read). No token configured
at all: authentication is off (the CLI allows that only on a loopback address).
"""

from __future__ import annotations

import functools
import hmac
from typing import Any, Callable, Iterable, Optional, TypeVar

from flask import current_app, jsonify, request

F = TypeVar("F", bound=Callable[..., Any])
COOKIE = "btengine_token"


def request_token() -> Optional[str]:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.args.get("token") or request.cookies.get(COOKIE) or None


def _matches(token: str, tokens: Iterable[str]) -> bool:
    # Compare with every configured token, in constant time each: no early exit on a match
    # position that would tell an attacker how many tokens there are or which one is close.
    ok = False
    for t in tokens:
        ok |= hmac.compare_digest(token.encode(), t.encode())
    return ok


def allowed(role: str, token: Optional[str] = None) -> bool:
    """Whether the current request (or `token`) may act as `role` ("read" or "upload")."""
    config = current_app.extensions["btengine.config"]
    if not config.auth_enabled:
        return True
    token = request_token() if token is None else token
    if not token:
        return False
    if role == "read":
        return _matches(token, config.read_tokens)
    if role == "upload":
        return _matches(token, list(config.upload_tokens) + list(config.read_tokens))
    raise ValueError(f"unknown role {role!r} (read or upload)")


def require(role: str) -> Callable[[F], F]:
    """View decorator: 401 with a JSON error unless the request has a token for `role`."""
    if role not in ("read", "upload"):
        raise ValueError(f"unknown role {role!r} (read or upload)")

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not allowed(role):
                what = "a read token" if role == "read" else "an upload (or read) token"
                resp = jsonify(error=f"authentication required: {what} as 'Authorization: Bearer TOKEN', "
                                     "?token=TOKEN or the btengine_token cookie")
                resp.status_code = 401
                resp.headers["WWW-Authenticate"] = 'Bearer realm="btengine"'
                return resp
            return view(*args, **kwargs)
        return checked  # type: ignore[return-value]
    return wrap
