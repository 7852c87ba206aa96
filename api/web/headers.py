"""Security headers of every response the web UI's origin sends, set in one place.

The pages load only their own hashed assets (no inline script or style, no third-party
origin), so the policy can be strict: nothing but ``'self'``, no framing
(``frame-ancestors 'none'`` clickjacking guard), no plugins, no ``<base>`` rewriting,
forms posting only back here. ``/graphql`` keeps its own page (GraphiQL's bootstrap
script and style are inline; its files come from /static/), so it gets every header but
the policy.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",  # frame-ancestors for browsers that predate CSP 2
}
OWN_POLICY_PATHS = ("/graphql",)


async def security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: add the headers to each response's start message, error pages
    included; a header a handler set itself is left alone."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    wanted = dict(HEADERS)
    if not str(scope.get("path", "")).startswith(OWN_POLICY_PATHS):
        wanted["content-security-policy"] = CONTENT_SECURITY_POLICY
    for name, value in wanted.items():
        if name not in headers:
            headers[name] = value
