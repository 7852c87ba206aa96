"""``IsAdmin``: admin-only fields require ``authorization: Bearer <JOBSTREAM_ADMIN_TOKEN>``.

The token is compared with :func:`hmac.compare_digest` (no timing leak). With no token
configured admin operations are disabled altogether: every call is UNAUTHENTICATED,
which is safer than an open admin surface on a misconfigured deployment.
"""

from __future__ import annotations

import hmac
from typing import Any

from strawberry.permission import BasePermission

from api.graphql.context import ContextInfo, header
from api.graphql.errors import Unauthenticated

ADMIN_DISABLED = "admin operations are disabled: JOBSTREAM_ADMIN_TOKEN is not set"
MISSING = "this operation needs an admin token: send `authorization: Bearer <token>`"
WRONG = "the admin token is not valid"


def check_admin(configured: str | None, authorization: str | None) -> None:
    """Raise Unauthenticated unless ``authorization`` carries the configured token."""
    if not configured:
        raise Unauthenticated(ADMIN_DISABLED)
    if not authorization:
        raise Unauthenticated(MISSING)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(MISSING)
    if not hmac.compare_digest(token.strip().encode("utf-8"), configured.encode("utf-8")):
        raise Unauthenticated(WRONG)


class IsAdmin(BasePermission):
    """Put on a field with ``permission_classes=[IsAdmin]`` (or use ``admin_mutation``)."""

    message = MISSING
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: ContextInfo, **kwargs: Any) -> bool:
        secret = info.context.settings.admin_token
        check_admin(
            None if secret is None else secret.get_secret_value(),
            header(info, "authorization"),
        )
        return True
