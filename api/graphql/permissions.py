"""Who may call a mutation: a bearer API key with the field's scope (schemas.auth).

``CanPublish`` guards ``publishPosting`` and ``deletePosting`` (scope ``publish``);
``IsAdmin`` guards the admin mutations (scope ``admin``). Both run the one check the gRPC
gateway runs too (:meth:`schemas.auth.KeyRing.authorize`): keys from ``jobstream keys``,
plus the bootstrap tokens JOBSTREAM_INGEST_TOKEN (publish) and JOBSTREAM_ADMIN_TOKEN
(admin). No key for the scope configured means the mutation is refused with how to create
one -- never an open write surface on a misconfigured deployment. The principal is kept
on the context (``info.context.principal``) for what keys on it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from api.graphql.context import ContextInfo, header
from schemas.auth import Scope
from schemas.errors import UNAUTHENTICATED


class _HasScope(BasePermission):
    scope: ClassVar[Scope]
    error_extensions = {"code": UNAUTHENTICATED}

    def has_permission(self, source: Any, info: ContextInfo, **kwargs: Any) -> bool:
        """Raise the check's error (it names what is missing); True otherwise."""
        principal = info.context.keys.authorize(header(info, "authorization"), self.scope)
        info.context.principal = principal
        return True


class CanPublish(_HasScope):
    """Put on a field with ``permission_classes=[CanPublish]``: needs the publish scope."""

    message = "this mutation needs an API key with the publish scope"
    scope = Scope.PUBLISH


class IsAdmin(_HasScope):
    """Put on a field with ``permission_classes=[IsAdmin]`` (or use ``admin_mutation``)."""

    message = "this mutation needs an API key with the admin scope"
    scope = Scope.ADMIN
