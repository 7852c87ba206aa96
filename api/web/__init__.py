"""The web UI: server-rendered search and posting pages on the API's own service layer.

Wire it into an app with :func:`web_router` (the routes, with an HTML 500 page),
:func:`compression_config` (gzip for the pages only), :func:`template_config` (Jinja2
through Litestar's template engine) and :data:`HTTP_ERROR_HANDLERS` (HTML 404/405 for
browsers, JSON for API clients), and put an :class:`~api.web.assets.Assets` on
``app.state.web_assets``. See api/web/README.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Router
from litestar.config.compression import CompressionConfig
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from api.web.alerts import ALERT_ROUTES
from api.web.assets import Assets
from api.web.i18n import template_globals
from api.web.routes import (
    ROUTES,
    http_error_handler,
    internal_error_handler,
    jobstream_error_handler,
)
from api.web.tracing import PageSpan
from schemas.errors import JobStreamError

TEMPLATES = Path(__file__).resolve().parent / "templates"

HTTP_ERROR_HANDLERS: dict[Any, Any] = {
    NotFoundException: http_error_handler,
    MethodNotAllowedException: http_error_handler,
}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 with autoescaping on, whitespace trimmed, templates from api/web/templates,
    texts through gettext in each render's ``lang`` (see :mod:`api.web.i18n`)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # as catalog.py extracts them
    env.install_gettext_callables(**template_globals(), newstyle=True)  # type: ignore[attr-defined]
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def compression_config() -> CompressionConfig:
    """gzip for the pages and assets (HTML is ~13 KB, ~3 KB gzipped); the API's own routes
    are left as they were (GraphQL answers are small and latency-bound)."""
    return CompressionConfig(
        backend="gzip",
        minimum_size=1024,
        gzip_compress_level=6,
        exclude=["^/graphql", "^/metrics", "^/health"],
    )


def web_router() -> Router:
    """The pages; a known error is its kind's page, an unexpected one an HTML 500 page,
    never a trace."""
    return Router(
        path="/",
        route_handlers=[*ROUTES, *ALERT_ROUTES],
        exception_handlers={
            JobStreamError: jobstream_error_handler,
            Exception: internal_error_handler,
        },
        middleware=[PageSpan],
    )


__all__ = ["HTTP_ERROR_HANDLERS", "Assets", "compression_config", "template_config", "web_router"]
