"""Passwords out of what is printed: URLs with credentials, as they appear in status output,
error messages and logs.

One helper for every surface (``jobstream status``, the operator tools' errors, the stack's
messages), so a DATABASE_URL or REDIS_URL printed anywhere shows who and where, never
the password.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@ -- the user may be empty (redis://:password@host); the password
# runs to the token's last "@", so an unencoded "@" or "/" in it is masked too.
_CREDENTIALS = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:@/\s]*):\S*@", re.I)


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _CREDENTIALS.sub(lambda m: f"{m['head']}:{MASK}@", text)


def address(url: str) -> str:
    """Where a URL points (``host:port/database``), without scheme, user or password: the
    short form for a sentence such as "cannot reach PostgreSQL at ..."."""
    return url.split("://", 1)[-1].rsplit("@", 1)[-1]
