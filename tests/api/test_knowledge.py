"""Knowledge: a fixed corpus answers a fixed set of queries with the expected documents
first, on SQLite and on PostgreSQL; adding, changing and removing documents (through the
API and as files) changes the results; the demo conversation works end to end over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from agio.services.knowledge import plain_text, split

CORPUS = {
    "billing.md": "# Billing\n\nInvoices are sent on the first day of each month. You can pay "
    "by credit card or bank transfer. Refunds are processed within ten business days.",
    "security.md": "# Security\n\nEnable two-factor authentication in your profile. We "
    "encrypt data at rest with AES-256 and rotate keys every ninety days.",
    "shipping.txt": "Shipping\n\nParcels leave our warehouse within two days. International "
    "delivery takes one to three weeks; tracking numbers arrive by email.",
    "api.html": "<html><head><style>p {color: red}</style><script>var refund = 1;</script>"
    "</head><body><h1>API</h1><p>Authenticate every API request with a bearer token. "
    "Rate limits allow sixty requests per minute.</p></body></html>",
}

QUERIES = [
    ("When will I get my refund?", "billing.md"),
    ("how to turn on two-factor authentication", "security.md"),
    ("international delivery tracking", "shipping.txt"),
    ("API rate limits per minute", "api.html"),
    ("invoices monthly", "billing.md"),
]


@pytest.fixture
def configs_dir(configs_dir: Path) -> Path:
    docs = configs_dir / "knowledge" / "corpus"
    docs.mkdir(parents=True)
    for name, text in CORPUS.items():
        (docs / name).write_text(text)
    (configs_dir / "knowledge" / "corpus.yaml").write_text(
        yaml.safe_dump(
            {
                "type": "knowledge",
                "name": "corpus",
                "paths": ["knowledge/corpus"],
                "chunk_size": 400,
                "chunk_overlap": 40,
            }
        )
    )
    return configs_dir


async def _search(client: httpx.AsyncClient, query: str, **extra: Any) -> list[dict[str, Any]]:
    response = await client.post("/api/knowledge/corpus/search", json={"query": query, **extra})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _names(results: list[dict[str, Any]]) -> list[str]:
    return [r["document"].rsplit("/", 1)[-1] for r in results]


async def test_fixed_queries_find_the_expected_documents_first(client: httpx.AsyncClient) -> None:
    bases = (await client.get("/api/knowledge")).json()["items"]
    corpus = next(b for b in bases if b["name"] == "corpus")
    assert corpus["documents"] == 4
    for query, expected in QUERIES:
        results = await _search(client, query)
        assert results, query
        assert _names(results)[0] == expected, (query, _names(results))
        scores = [r["score"] for r in results]
        assert scores == sorted(scores, reverse=True)
    # the HTML's script and style are not indexed, and odd input is only words
    assert await _search(client, "var") == []
    assert await _search(client, '"; DROP TABLEX zzyzx; -- NEAR( xyzzy*') == []
    assert await _search(client, "***") == []
    assert len(await _search(client, "the and of", top_k=1)) <= 1


async def test_documents_added_changed_and_removed_change_the_results(
    client: httpx.AsyncClient, app: FastAPI, configs_dir: Path
) -> None:
    assert await _search(client, "kangaroo") == []
    added = await client.post(
        "/api/knowledge/corpus/documents",
        json={
            "name": "zoo",
            "content": "The kangaroo enclosure opens at nine.",
            "content_type": "text",
        },
    )
    assert added.status_code == 201, added.text
    document = added.json()
    assert document["source"] == "api"
    assert _names(await _search(client, "kangaroo")) == ["zoo"]
    changed = await client.post(
        "/api/knowledge/corpus/documents",
        json={"name": "zoo", "content": "The penguin pool is closed for cleaning."},
    )
    assert changed.json()["id"] == document["id"]
    assert await _search(client, "kangaroo") == []
    assert _names(await _search(client, "penguin")) == ["zoo"]
    listed = (await client.get("/api/knowledge/corpus/documents?limit=100")).json()
    assert listed["total"] == 5
    removed = await client.delete(f"/api/knowledge/corpus/documents/{document['id']}")
    assert removed.status_code == 204
    assert await _search(client, "penguin") == []
    assert (
        await client.delete(f"/api/knowledge/corpus/documents/{document['id']}")
    ).status_code == 404

    # files: changed, added and deleted on disk, picked up when the folder is read again
    docs = configs_dir / "knowledge" / "corpus"
    (docs / "billing.md").write_text("# Billing\n\nWe accept payment in seashells only.")
    (docs / "new.md").write_text("# Returns\n\nReturn a parcel within thirty days.")
    (docs / "shipping.txt").unlink()
    await app.state.agio.config_files.reload()
    assert _names(await _search(client, "seashells")) == ["billing.md"]
    assert await _search(client, "invoices") == []
    assert _names(await _search(client, "return parcel"))[0] == "new.md"
    assert await _search(client, "warehouse") == []
    file_doc = next(
        d
        for d in (await client.get("/api/knowledge/corpus/documents")).json()["items"]
        if d["name"].endswith("billing.md")
    )
    refused = await client.delete(f"/api/knowledge/corpus/documents/{file_doc['id']}")
    assert refused.status_code == 409
    reindexed = await client.post("/api/knowledge/corpus/reindex")
    assert reindexed.json()["documents"] == 4
    assert _names(await _search(client, "seashells")) == ["billing.md"]


async def test_knowledge_errors(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/knowledge/nope/search", json={"query": "x"})).status_code == 404
    assert (await client.get("/api/knowledge/calculator/documents")).status_code == 404
    clash = await client.post(
        "/api/knowledge/corpus/documents",
        json={"name": "knowledge/corpus/billing.md", "content": "x"},
    )
    assert clash.status_code == 422
    assert (
        await client.post("/api/knowledge/corpus/search", json={"query": ""})
    ).status_code == 422


def test_html_and_chunks() -> None:
    assert plain_text("<p>a &amp; b</p><script>x()</script><p>c</p>", "html") == "a & b\n\nc"
    text = "\n\n".join(["# One", "alpha " * 50, "# Two", "beta " * 300])
    chunks = split(text, 400, 40)
    assert all(len(c) <= 400 for c in chunks)
    assert chunks[0].startswith("# One")
    assert any(c.startswith("# Two") for c in chunks)
    # a cut paragraph's next chunk repeats the end of the one before
    long = [c for c in chunks if "beta" in c]
    assert len(long) > 2
    assert long[1].split()[0] == "beta"


async def test_the_demo_answers_from_the_faq_over_http(client: httpx.AsyncClient) -> None:
    """On the bundled configs: 'How do I reset my password?' streams an answer from the
    product FAQ through a visible search_knowledge call."""
    events: list[tuple[str, dict[str, Any]]] = []
    async with client.stream(
        "POST",
        "/api/chat",
        json={"agent_id": "customer_support", "message": "How do I reset my password?"},
    ) as response:
        assert response.status_code == 200
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event:
                events.append((event, json.loads(line[5:])))
    started = [d for e, d in events if e == "tool_call_started"]
    assert [d["tool"] for d in started] == ["search_knowledge"]
    assert started[0]["args"] == {"query": "How do I reset my password?"}
    completed = next(d for e, d in events if e == "tool_call_completed")
    assert "faq.md" in completed["result"]["results"][0]["document"]
    answer = "".join(d["content"] for e, d in events if e == "content_delta")
    assert "Forgot password" in answer
    assert "reset link" in answer
    assert events[-1][0] == "run_completed"
