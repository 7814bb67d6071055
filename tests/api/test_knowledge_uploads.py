"""Knowledge uploads over HTTP (multipart/form-data), on SQLite and PostgreSQL: a text,
a Markdown, an HTML and a real PDF file (made here, with a text layer) each become a
searchable document; the size limit is a 413, an unsupported type a 415, an unreadable
file a 422; the JSON path keeps working."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agio.api.app import create_app
from agio.config.settings import Settings
from tests.conftest import start_client

URL = "/api/knowledge/product_docs/documents"


def make_pdf(*pages: str) -> bytes:
    """A small valid PDF whose pages show `pages` in Helvetica (a real text layer)."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    font = 3 + 2 * len(pages)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    for i, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


async def _upload(
    client: httpx.AsyncClient,
    filename: str,
    data: bytes,
    media_type: str | None = None,
    **fields: str,
) -> httpx.Response:
    file: Any = (filename, data, media_type) if media_type else (filename, data)
    return await client.post(URL, files={"file": file}, data=fields or None)


async def _found(client: httpx.AsyncClient, query: str) -> list[str]:
    response = await client.post(
        "/api/knowledge/product_docs/search", json={"query": query, "top_k": 3}
    )
    assert response.status_code == 200, response.text
    return [r["document"] for r in response.json()["results"]]


async def test_each_kind_of_file_becomes_a_searchable_document(
    client: httpx.AsyncClient,
) -> None:
    cases = [
        ("notes.txt", b"Wombats dig burrows at night.", "text/plain", "text", "wombats"),
        ("guide.md", b"# Quokkas\n\nQuokkas smile for photos.", None, "markdown", "quokkas"),
        (
            "page.html",
            b"<html><head><script>var platypus=1</script></head><body><h1>Echidna</h1>"
            b"<p>Echidnas lay eggs &amp; eat ants.</p></body></html>",
            "text/html; charset=utf-8",
            "html",
            "echidnas",
        ),
        (
            "report.pdf",
            make_pdf("Quarterly numbat census", "Numbats eat termites."),
            "application/pdf",
            "pdf",
            "numbat termites",
        ),
    ]
    for filename, data, media_type, kind, query in cases:
        response = await _upload(client, filename, data, media_type)
        assert response.status_code == 201, (filename, response.text)
        document = response.json()
        assert (document["name"], document["content_type"]) == (filename, kind)
        assert (document["source"], document["size"]) == ("api", len(data))
        assert document["chunk_count"] >= 1
        assert await _found(client, query) == [filename], filename
    # the HTML's script is not text; the PDF's two pages are both indexed
    assert await _found(client, "platypus") == []
    assert await _found(client, "census") == ["report.pdf"]
    # a Markdown file sent as text/plain (as browsers do) is Markdown; `name` renames
    named = await _upload(client, "x.md", b"# Bilby\n\nBilbies.", "text/plain", name="Bilby FAQ")
    assert named.status_code == 201, named.text
    assert (named.json()["name"], named.json()["content_type"]) == ("Bilby FAQ", "markdown")
    # uploading the same name again replaces the document
    again = await _upload(client, "notes.txt", b"Koalas sleep all day.", "text/plain")
    assert again.status_code == 201
    assert await _found(client, "wombats") == []
    assert await _found(client, "koalas") == ["notes.txt"]
    # and the JSON path still works
    plain = await client.post(URL, json={"name": "json-doc", "content": "Dingo facts."})
    assert plain.status_code == 201, plain.text
    assert await _found(client, "dingo") == ["json-doc"]


async def test_unsupported_and_unreadable_files_are_refused(client: httpx.AsyncClient) -> None:
    def error(response: httpx.Response, status: int, type_: str) -> str:
        assert response.status_code == status, response.text
        body = response.json()["error"]
        assert body["type"] == type_, body
        return str(body["message"])

    message = error(
        await _upload(client, "photo.png", b"\x89PNG\r\n", "image/png"), 415, "UnsupportedMediaType"
    )
    assert "photo.png" in message
    error(await _upload(client, "archive", b"PK\x03\x04"), 415, "UnsupportedMediaType")
    error(
        await client.post(URL, content=b"name=x", headers={"content-type": "text/plain"}),
        415,
        "UnsupportedMediaType",
    )
    assert "not a readable PDF" in error(
        await _upload(client, "broken.pdf", b"%PDF-1.4\nnot really", "application/pdf"),
        422,
        "UnreadableDocument",
    )
    assert "no text layer" in error(
        await _upload(client, "scan.pdf", make_pdf(""), "application/pdf"),
        422,
        "UnreadableDocument",
    )
    assert "UTF-8" in error(
        await _upload(client, "latin1.txt", "café".encode("latin-1"), "text/plain"),
        422,
        "UnreadableDocument",
    )
    error(await _upload(client, "empty.md", b"   \n", "text/markdown"), 422, "UnreadableDocument")
    # the form itself: a file is required, other fields are refused
    error(
        await client.post(URL, data={"name": "x"}, files={"other": ("a.txt", b"a")}),
        422,
        "ValidationError",
    )
    error(await client.post(URL, files={"name": (None, b"only a name")}), 422, "ValidationError")
    # files that are the knowledge base's own cannot be replaced by an upload
    listed = (await client.get("/api/knowledge/product_docs/documents")).json()["items"]
    own = next(d["name"] for d in listed if d["source"] == "file")
    error(await _upload(client, "x.md", b"# x", name=own), 422, "ValidationError")
    # malformed JSON is still a validation error; an unknown knowledge base a 404
    error(
        await client.post(URL, content=b"{", headers={"content-type": "application/json"}),
        422,
        "ValidationError",
    )
    missing = await client.post(
        "/api/knowledge/nope/documents", files={"file": ("a.txt", b"a", "text/plain")}
    )
    assert missing.status_code == 404


@pytest.fixture
async def small_limits(make_settings: Callable[..., Settings], settings: Settings) -> Any:
    limited = make_settings(
        database_url=settings.database_url,
        configs_dir=settings.configs_dir,
        max_upload_bytes=4096,
        max_body_bytes=2048,
    )
    app: FastAPI = create_app(limited)
    client, lifespan = await start_client(app)
    try:
        yield client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_uploads_are_limited_by_max_upload_bytes(small_limits: httpx.AsyncClient) -> None:
    client = small_limits
    # larger than AGIO_MAX_BODY_BYTES, within AGIO_MAX_UPLOAD_BYTES: taken
    fits = b"Emus run fast. " * 250  # 3750 bytes
    ok = await _upload(client, "emus.txt", fits, "text/plain")
    assert ok.status_code == 201, ok.text
    # over the upload limit (the body, with its framing, is not): the route says so
    over = await _upload(client, "big.txt", b"x" * 5000, "text/plain")
    assert over.status_code == 413, over.text
    assert over.json()["error"]["type"] == "PayloadTooLarge"
    assert "AGIO_MAX_UPLOAD_BYTES" in over.json()["error"]["message"]
    # a body far over both: refused before the route, by its declared length
    huge = await _upload(client, "huge.txt", b"x" * 200_000, "text/plain")
    assert huge.status_code == 413
    assert "AGIO_MAX_UPLOAD_BYTES" in huge.json()["error"]["message"]
    # the JSON path keeps AGIO_MAX_BODY_BYTES
    json_over = await client.post(URL, json={"name": "j", "content": "y" * 3000})
    assert json_over.status_code == 413
    assert "AGIO_MAX_BODY_BYTES" in json_over.json()["error"]["message"]
