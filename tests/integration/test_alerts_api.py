"""The API side of job alerts (issue #13) on the real stack: saveSearch writes the event
(hashed secret, the query's embedding), every bad field is named, a wrong secret and an
unknown id are the same UNAUTHENTICATED everywhere, alerts page newest first, and the
subscription over a real WebSocket resumes without gap or repeat. The read model is
filled by hand here (tests/support/alerts.py): the materialiser and matcher are tested
on their own."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import feedparser
import numpy as np
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect

from api.alerts.service import CONTENT_TYPE_SAVED_SEARCH
from schemas.embedding import make_embedder
from schemas.settings import Settings
from tests.integration.test_query_limits import served
from tests.support.alerts import add_alert, materialise, records, saved_searches_topic
from tests.support.api import Api, app_settings, running_api
from tests.support.corpus import CORPUS
from tests.support.sink import Topics

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

SAVE = """
mutation Save($query: String, $filter: PostingFilter, $mode: SearchMode! = HYBRID,
              $minScore: Float, $delivery: DeliveryInput, $backfillDays: Int) {
  saveSearch(query: $query, filter: $filter, mode: $mode, minScore: $minScore,
             delivery: $delivery, backfillDays: $backfillDays) {
    id secret webhookSigningSecret pageUrl feedUrl
    savedSearch { id query filter mode minScore backfillDays
                  delivery { webhookUrl email emailSchedule } }
  }
}
"""
DELETE = "mutation D($id: ID!, $secret: String!) { deleteSavedSearch(id: $id, secret: $secret) }"
SAVED = "query S($id: ID!, $secret: String!) { savedSearch(id: $id, secret: $secret) { id query } }"
ALERTS = """
query A($id: ID!, $secret: String!, $first: Int, $after: String) {
  alerts(savedSearchId: $id, secret: $secret, first: $first, after: $after) {
    edges { cursor node { id postingId score backfill closed matchedAt
                          posting { id title } highlights { field text ranges { start length } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
SUBSCRIBE = """
subscription W($id: ID!, $secret: String!, $after: String) {
  alerts(savedSearchId: $id, secret: $secret, after: $after) { cursor postingId posting { id } }
}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def alert_settings(stack: Settings, topics: Topics, api: Api) -> Settings:
    """An app's settings on the corpus topics (``api`` landed the corpus) with a private
    saved-searches topic and the fast hash embedder."""
    topic = await saved_searches_topic(stack)
    return app_settings(
        stack,
        topics,
        topic_saved_searches=topic,
        embedder="hash",
        alerts_max_saves_per_hour=1000,  # one test client saves them all (the cap: below)
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(alert_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(alert_settings) as client:
        yield client


async def save(app: Api, **variables: Any) -> dict[str, Any]:
    data = await app.gql(SAVE, variables)
    created: dict[str, Any] = data["saveSearch"]
    return created


async def saved_and_materialised(app: Api, settings: Settings, **variables: Any) -> dict[str, Any]:
    """saveSearch, then its record applied to saved_searches as the materialiser would."""
    created = await save(app, **variables)
    [record] = [
        r
        for r in await records(settings, settings.topic_saved_searches)
        if r.key == created["id"].encode()
    ]
    await materialise(settings, record)
    return created


async def test_save_search_writes_the_event_with_hashed_secret_and_embedding(
    app: Api, alert_settings: Settings
) -> None:
    created = await save(
        app,
        query="  Python   Backend ",
        filter={"countryCode": "de", "skillsAll": ["K8s"]},
        delivery={
            "webhookUrl": "https://hooks.example.com/a?b=1",
            "email": "Job.Seeker@Example.com",
        },
        backfillDays=7,
    )
    assert created["id"].startswith("ss_")
    assert len(created["id"]) == 25
    assert len(created["secret"]) == 32
    assert created["webhookSigningSecret"].startswith("whsec_")
    assert (
        created["pageUrl"]
        == f"http://127.0.0.1:8000/alerts/{created['id']}?secret={created['secret']}"
    )
    saved = created["savedSearch"]
    assert saved["query"] == "python backend"
    assert saved["filter"] == {"country_code": "DE", "skills_all": ["kubernetes"]}
    assert saved["minScore"] == pytest.approx(0.2)  # the hash embedder's match floor
    assert saved["delivery"]["emailSchedule"] == "IMMEDIATE"

    [record] = [
        r
        for r in await records(alert_settings, alert_settings.topic_saved_searches)
        if r.key == created["id"].encode()
    ]
    msg = record.value
    assert record.headers["content-type"] == CONTENT_TYPE_SAVED_SEARCH.encode()
    assert msg.secret_sha256 == hashlib.sha256(created["secret"].encode()).digest()
    assert created["secret"].encode() not in record.value.SerializeToString()
    assert (msg.query, msg.backfill_days, msg.deleted) == ("python backend", 7, False)
    assert json.loads(msg.filter_json) == saved["filter"]
    assert msg.delivery.webhook_url == "https://hooks.example.com/a?b=1"
    assert msg.delivery.email == "Job.Seeker@example.com"  # the domain normalised
    assert msg.webhook_signing_secret == created["webhookSigningSecret"]
    assert len(msg.unsubscribe_token) >= 32
    embedder = make_embedder("hash", alert_settings.embedding_dim)
    expected = np.asarray(embedder.embed(["python backend"], "query")[0], dtype="<f4")
    got = np.frombuffer(msg.query_embedding, dtype="<f4")
    assert msg.embedding_model == embedder.name
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"query": "x" * 1001}, "query"),
        ({"query": "ok\x00"}, "query"),
        ({}, "query"),  # neither a query nor a filter
        ({"query": "go", "filter": {"experienceMinYears": -1}}, "filter.experienceMinYears"),
        ({"query": "go", "filter": {"countryCode": "XX"}}, "filter.countryCode"),
        ({"query": "go", "minScore": 1.5}, "minScore"),
        ({"query": "go", "backfillDays": 31}, "backfillDays"),
        (
            {"query": "go", "delivery": {"webhookUrl": "http://example.com/h"}},
            "delivery.webhookUrl",
        ),
        (
            {"query": "go", "delivery": {"webhookUrl": "https://u:p@example.com/"}},
            "delivery.webhookUrl",
        ),
        ({"query": "go", "delivery": {"webhookUrl": "ftp://example.com/"}}, "delivery.webhookUrl"),
        ({"query": "go", "delivery": {"email": "not-an-address"}}, "delivery.email"),
        ({"query": "go", "delivery": {"webhookUrl": "https://10.1.2.3/h"}}, "delivery.webhookUrl"),
    ],
)
async def test_bad_input_names_the_field(app: Api, variables: dict[str, Any], field: str) -> None:
    [error] = await app.errors(SAVE, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field, error


async def test_a_loopback_http_webhook_is_accepted(app: Api) -> None:
    created = await save(app, query="go", delivery={"webhookUrl": "http://127.0.0.1:9/hook"})
    assert created["savedSearch"]["delivery"]["webhookUrl"] == "http://127.0.0.1:9/hook"


async def test_wrong_secret_and_unknown_id_get_the_same_unauthenticated(
    app: Api, alert_settings: Settings
) -> None:
    created = await saved_and_materialised(app, alert_settings, query="data engineer")
    ok = await app.gql(SAVED, {"id": created["id"], "secret": created["secret"]})
    assert ok["savedSearch"] == {"id": created["id"], "query": "data engineer"}
    unknown = "ss_" + "A" * 22
    answers = []
    for document in (SAVED, ALERTS, DELETE):
        for id_, secret in ((created["id"], "wrong"), (unknown, created["secret"]), ("x", "y")):
            [error] = await app.errors(document, {"id": id_, "secret": secret})
            answers.append((error["message"], error["extensions"]))
    assert {json.dumps(a) for a in answers} == {
        json.dumps(("unknown saved search or wrong secret", {"code": "UNAUTHENTICATED"}))
    }


async def test_delete_writes_the_deleted_record(app: Api, alert_settings: Settings) -> None:
    created = await saved_and_materialised(app, alert_settings, query="designer")
    data = await app.gql(DELETE, {"id": created["id"], "secret": created["secret"]})
    assert data == {"deleteSavedSearch": True}
    mine = [
        r
        for r in await records(alert_settings, alert_settings.topic_saved_searches)
        if r.key == created["id"].encode()
    ]
    assert [r.value.deleted for r in mine] == [False, True]
    assert mine[1].value.query == "designer"  # the whole record again: compaction keeps it


async def test_alerts_page_newest_first_with_postings_and_highlights(
    app: Api, alert_settings: Settings
) -> None:
    created = await saved_and_materialised(app, alert_settings, query="engineer")
    ids = [doc.id for doc in CORPUS[:3]]
    highlight = [{"field": "title", "fragment": "Senior engineer", "ranges": [[7, 15]]}]
    for pid in ids:
        await add_alert(alert_settings, created["id"], pid, highlights=highlight)
    variables = {"id": created["id"], "secret": created["secret"], "first": 2}
    page = (await app.gql(ALERTS, variables))["alerts"]
    nodes = [e["node"] for e in page["edges"]]
    assert [n["postingId"] for n in nodes] == ids[::-1][:2]
    assert nodes[0]["posting"]["id"] == ids[2]
    assert nodes[0]["id"] == f"{created['id']}/{ids[2]}"
    assert nodes[0]["highlights"] == [
        {"field": "TITLE", "text": "Senior engineer", "ranges": [{"start": 7, "length": 8}]}
    ]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (await app.gql(ALERTS, {**variables, "after": page["pageInfo"]["endCursor"]}))["alerts"]
    assert [e["node"]["postingId"] for e in rest["edges"]] == ids[:1]
    assert rest["pageInfo"]["hasNextPage"] is False
    [error] = await app.errors(ALERTS, {**variables, "after": "garbage"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


async def test_creations_per_address_are_capped(stack: Settings, alert_settings: Settings) -> None:
    settings = Settings(**{**alert_settings.model_dump(), "alerts_max_saves_per_hour": 2})
    async with running_api(settings) as capped:
        await save(capped, query="one")
        await save(capped, query="two")
        [error] = await capped.errors(SAVE, {"query": "three"})
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert "JOBSTREAM_ALERTS_MAX_SAVES_PER_HOUR" in error["message"]
        form = await capped.client.post(
            "/alerts", data={"q": "four"}, headers=HTML, follow_redirects=False
        )
        assert form.status_code == 429
        assert int(form.headers["retry-after"]) > 3000  # an hour's cap
        assert "JOBSTREAM_ALERTS_MAX_SAVES_PER_HOUR" in form.text


# --- the subscription over a real WebSocket ----------------------------------------


async def subscribe(ws: ClientConnection, variables: dict[str, Any]) -> None:
    await ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    payload = {"query": SUBSCRIBE, "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


async def next_alert(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert message["type"] == "next", message
    alert: dict[str, Any] = message["payload"]["data"]["alerts"]
    return alert


async def nothing_more(ws: ClientConnection, wait: float = 1.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), wait)


async def test_subscription_resumes_without_gap_or_repeat(
    app: Api, alert_settings: Settings
) -> None:
    created = await saved_and_materialised(app, alert_settings, query="analyst")
    sid, secret = created["id"], created["secret"]
    pids = [doc.id for doc in CORPUS[3:9]]
    first = await add_alert(alert_settings, sid, pids[0])
    await add_alert(alert_settings, sid, pids[1])
    await add_alert(alert_settings, sid, pids[2])
    async with served(alert_settings) as url:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await subscribe(ws, {"id": sid, "secret": secret, "after": str(first)})
            got = [await next_alert(ws), await next_alert(ws)]
            assert [a["postingId"] for a in got] == pids[1:3]  # after the cursor, in order
            await add_alert(alert_settings, sid, pids[3])  # lands while connected
            live = await next_alert(ws)
            assert (live["postingId"], live["posting"]["id"]) == (pids[3], pids[3])
            last_seen = live["cursor"]
        await add_alert(alert_settings, sid, pids[4])  # while the client is away
        async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await subscribe(ws, {"id": sid, "secret": secret, "after": last_seen})
            assert (await next_alert(ws))["postingId"] == pids[4]  # no gap
            await nothing_more(ws)  # and no repeat
            await add_alert(alert_settings, sid, pids[5])
            assert (await next_alert(ws))["postingId"] == pids[5]


async def test_subscription_with_a_wrong_secret_is_unauthenticated(
    app: Api, alert_settings: Settings
) -> None:
    created = await saved_and_materialised(app, alert_settings, query="nurse")
    async with served(alert_settings) as url:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        for id_, secret in ((created["id"], "wrong"), ("ss_" + "B" * 22, created["secret"])):
            async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                await subscribe(ws, {"id": id_, "secret": secret})
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert message["type"] in ("error", "next"), message
                errors = (
                    message["payload"]
                    if message["type"] == "error"
                    else message["payload"]["errors"]
                )
                assert errors[0]["message"] == "unknown saved search or wrong secret"
                assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- the web side: feed, page, unsubscribe, the search page's form -------------------

HTML = {"accept": "text/html"}


def main_of(page: str) -> str:
    """The page's own content (the header's language links repeat the request's URL)."""
    return page[page.index("<main") : page.index("</main>")]


async def test_atom_feed_is_valid_newest_first_with_posting_links(
    app: Api, alert_settings: Settings
) -> None:
    created = await saved_and_materialised(app, alert_settings, query="frontend developer")
    pids = [doc.id for doc in CORPUS[10:13]]
    for pid in pids:
        await add_alert(alert_settings, created["id"], pid)
    response = await app.client.get(
        f"/alerts/{created['id']}.atom", params={"secret": created["secret"]}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert response.headers["cache-control"] == "no-store"
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.bozo_exception
    assert feed.version == "atom10"
    titles = {doc.id: doc.title for doc in CORPUS}
    assert [e.title for e in feed.entries] == [titles[p] for p in pids[::-1]]
    assert [e.link for e in feed.entries] == [
        f"http://127.0.0.1:8000/postings/{p}" for p in pids[::-1]
    ]
    entry_id = feed.entries[0].id
    assert entry_id.startswith("tag:127.0.0.1,")
    assert entry_id.endswith(f":alert/{created['id']}/{pids[2]}")
    wrong = await app.client.get(f"/alerts/{created['id']}.atom", params={"secret": "nope"})
    unknown = await app.client.get(
        f"/alerts/ss_{'C' * 22}.atom", params={"secret": created["secret"]}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content


async def test_alerts_page_lists_alerts_marked_and_refuses_wrong_secrets_alike(
    app: Api, alert_settings: Settings
) -> None:
    created = await saved_and_materialised(app, alert_settings, query="engineer")
    doc = CORPUS[14]
    start = doc.title.index(doc.title.split()[0])
    word = doc.title.split()[0]
    highlights = [{"field": "title", "fragment": doc.title, "ranges": [[start, start + len(word)]]}]
    await add_alert(alert_settings, created["id"], doc.id, highlights=highlights)
    url = f"/alerts/{created['id']}"
    response = await app.client.get(url, params={"secret": created["secret"]}, headers=HTML)
    assert response.status_code == 200, response.text
    assert f"<mark>{word}</mark>" in response.text
    assert f'href="/postings/{doc.id}"' in response.text
    assert ".atom?secret=" in response.text  # the feed link
    assert f'action="/alerts/{created["id"]}/delete"' in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    korean = await app.client.get(
        url, params={"secret": created["secret"], "lang": "ko"}, headers=HTML
    )
    assert "이 알림 삭제" in korean.text
    wrong = await app.client.get(url, params={"secret": "nope"}, headers=HTML)
    unknown = await app.client.get(
        f"/alerts/ss_{'D' * 22}", params={"secret": created["secret"]}, headers=HTML
    )
    assert wrong.status_code == unknown.status_code == 401
    assert main_of(wrong.text) == main_of(unknown.text)  # not even the shape differs


async def test_one_click_unsubscribe_clears_the_email(app: Api, alert_settings: Settings) -> None:
    created = await saved_and_materialised(
        app, alert_settings, query="chef", delivery={"email": "cook@example.com"}
    )
    topic = alert_settings.topic_saved_searches
    [record] = [r for r in await records(alert_settings, topic) if r.key == created["id"].encode()]
    token = record.value.unsubscribe_token
    url = f"/alerts/{created['id']}/unsubscribe"
    confirm = await app.client.get(url, params={"token": token}, headers=HTML)
    assert confirm.status_code == 200
    assert "cook@example.com" in confirm.text
    assert 'method="post"' in confirm.text
    bad = await app.client.post(url, params={"token": "nope"}, headers=HTML)
    assert bad.status_code == 401
    done = await app.client.post(
        url,
        params={"token": token},
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200, done.text
    mine = [
        r.value for r in await records(alert_settings, topic) if r.key == created["id"].encode()
    ]
    assert [m.delivery.email for m in mine] == ["cook@example.com", ""]
    assert mine[1].unsubscribe_token == ""
    assert (mine[1].query, mine[1].deleted) == ("chef", False)  # the alert itself goes on


async def test_the_search_page_form_creates_a_saved_search(
    app: Api, alert_settings: Settings
) -> None:
    search = await app.client.get("/", params={"q": "python", "country": "de"}, headers=HTML)
    assert 'action="/alerts"' in search.text
    assert '<input type="hidden" name="q" value="python">' in search.text
    form = {"q": "python", "country": "DE", "email": "me@example.org", "webhook": ""}
    response = await app.client.post("/alerts", data=form, headers=HTML, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/alerts/ss_")
    sid = location.split("/")[2]
    secret = location.split("secret=")[1]
    topic = alert_settings.topic_saved_searches
    [record] = [r.value for r in await records(alert_settings, topic) if r.key == sid.encode()]
    assert record.secret_sha256 == hashlib.sha256(secret.encode()).digest()
    assert (record.query, json.loads(record.filter_json)) == ("python", {"country_code": "DE"})
    assert record.delivery.email == "me@example.org"
    shown = await app.client.get(location, headers=HTML)
    assert shown.status_code == 200
    assert f"http://127.0.0.1:8000/alerts/{sid}?secret={secret}" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    bad = await app.client.post(
        "/alerts", data={**form, "email": "nope"}, headers=HTML, follow_redirects=False
    )
    assert bad.status_code == 400
    assert "<strong>email</strong>" in bad.text


async def test_open_subscriptions_are_bounded_per_address_and_alerts_arrive_quickly(
    app: Api, alert_settings: Settings
) -> None:
    created = await saved_and_materialised(app, alert_settings, query="welder")
    sid, secret = created["id"], created["secret"]
    settings = Settings(
        **{**alert_settings.model_dump(), "alerts_max_subscriptions_per_address": 1}
    )
    async with served(settings) as url:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with (
            connect(ws_url, subprotocols=["graphql-transport-ws"]) as first,  # type: ignore[list-item]
            connect(ws_url, subprotocols=["graphql-transport-ws"]) as second,  # type: ignore[list-item]
        ):
            await subscribe(first, {"id": sid, "secret": secret})
            await nothing_more(first, 0.5)  # open, nothing to send yet
            await subscribe(second, {"id": sid, "secret": secret})
            message = json.loads(await asyncio.wait_for(second.recv(), 5))
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
            assert "JOBSTREAM_ALERTS_MAX_SUBSCRIPTIONS_PER_ADDRESS" in errors[0]["message"]
            latencies = []
            for doc in CORPUS[15:23]:  # the ledger's commit to the client, over the socket
                started = time.perf_counter()
                await add_alert(alert_settings, sid, doc.id)
                assert (await next_alert(first))["postingId"] == doc.id
                latencies.append(time.perf_counter() - started)
            # one poll interval (0.5 s) plus the statements and the socket
            assert max(latencies) < 1.5, latencies
            print(f"alert latency over the subscription: {sorted(latencies)}")


async def test_a_subscription_completes_once_its_saved_search_is_deleted(
    app: Api, alert_settings: Settings
) -> None:
    created = await saved_and_materialised(app, alert_settings, query="baker")
    sid, secret = created["id"], created["secret"]
    settings = Settings(**{**alert_settings.model_dump(), "alerts_poll_interval_s": 0.02})
    async with served(settings) as url:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await subscribe(ws, {"id": sid, "secret": secret})
            await nothing_more(ws, 0.5)
            await app.gql(DELETE, {"id": sid, "secret": secret})
            topic = alert_settings.topic_saved_searches
            [*_, deletion] = [
                r for r in await records(alert_settings, topic) if r.key == sid.encode()
            ]
            await materialise(alert_settings, deletion)
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))  # 60 x 0.02 s
            assert message == {"id": "1", "type": "complete"}
