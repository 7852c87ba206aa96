"""What every resolver gets as ``info.context``: the app's parts, never globals.

A Strawberry ``BaseContext`` (a msgspec Struct) so the Litestar integration fills in
``request``; the rest comes from the app's resources through a Litestar dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strawberry.litestar import BaseContext
from strawberry.types import Info

from api.graphql.loaders import similar_loader

if TYPE_CHECKING:
    from strawberry.dataloader import DataLoader

    from api.alerts.service import AlertService
    from api.alerts.watch import AlertWatch
    from api.cache import TieredCache
    from api.events import EventWriter
    from api.graphql.loaders import SimilarKey, SimilarList
    from api.metrics import ApiMetrics
    from api.service import SearchService
    from schemas.auth import KeyRing, Principal
    from schemas.embedding import Embedder
    from schemas.settings import Settings


class Context(BaseContext, kw_only=True):
    """Per-request context; ``request`` is set by strawberry.litestar."""

    settings: Settings
    service: SearchService
    cache: TieredCache
    writer: EventWriter
    keys: KeyRing
    embedder: Embedder
    metrics: ApiMetrics | None = None
    alerts: AlertService | None = None
    watch: AlertWatch | None = None
    client: str = "unknown"
    """Who the request counts against (its API key, else its address): alert caps."""
    principal: Principal | None = None
    """Set by a mutation's permission check: the key it runs as."""
    similar_batch: DataLoader[SimilarKey, SimilarList] | None = None
    """This request's batch of ``similar`` fields, made on first use."""

    def similar(self) -> DataLoader[SimilarKey, SimilarList]:
        """The request's ``similar`` loader (:mod:`api.graphql.loaders`)."""
        if self.similar_batch is None:
            self.similar_batch = similar_loader(self.service)
        return self.similar_batch


ContextInfo = Info[Context, Any]


def header(info: ContextInfo, name: str) -> str | None:
    """A request header (case-insensitive), or None outside an HTTP request."""
    request = info.context.request
    if request is None:
        return None
    value = request.headers.get(name)
    return None if value is None else str(value)
