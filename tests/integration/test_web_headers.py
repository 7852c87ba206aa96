"""The web UI's origin sends its security headers on every page, asset and error page;
GraphiQL keeps its own page and gets all headers but the content policy."""

from __future__ import annotations

import pytest

from api.web.headers import CONTENT_SECURITY_POLICY
from schemas.settings import Settings
from tests.support.api import app_settings, running_api
from tests.support.sink import make_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HTML = {"accept": "text/html"}


async def test_pages_assets_and_errors_carry_the_security_headers(stack: Settings) -> None:
    topics = await make_topics(stack)
    async with running_api(app_settings(stack, topics, embedder="hash")) as api:
        home = await api.client.get("/", headers=HTML)
        assert home.status_code == 200
        css_url = next(
            part.split('"')[1] for part in home.text.split("<link")[1:] if "stylesheet" in part
        )
        responses = {
            "/": home,
            "/?q=python": await api.client.get("/?q=python", headers=HTML),
            css_url: await api.client.get(css_url),
            "/postings/none-such": await api.client.get("/postings/none-such", headers=HTML),
            "/no/such/page": await api.client.get("/no/such/page", headers=HTML),
            "/?exp_min=-1": await api.client.get("/?exp_min=-1", headers=HTML),
        }
        for path, response in responses.items():
            h = response.headers
            assert h.get("content-security-policy") == CONTENT_SECURITY_POLICY, path
            assert "frame-ancestors 'none'" in h["content-security-policy"]
            assert "'unsafe-inline'" not in h["content-security-policy"]
            assert h.get("x-content-type-options") == "nosniff", path
            assert h.get("referrer-policy") == "strict-origin-when-cross-origin", path
        assert responses["/postings/none-such"].status_code == 404
        assert responses["/no/such/page"].status_code == 404
        assert responses["/?exp_min=-1"].status_code == 400

        graphiql = await api.client.get("/graphql", headers=HTML)
        assert "content-security-policy" not in graphiql.headers  # GraphiQL inlines scripts
        assert graphiql.headers.get("x-content-type-options") == "nosniff"
        health = await api.client.get("/health")
        assert health.headers.get("x-content-type-options") == "nosniff"
