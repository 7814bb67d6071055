"""The text of a knowledge document, whatever it came as: Markdown and plain text as they
are (UTF-8), HTML by `html-text` (the visible text, scripts and styles dropped, block
elements on lines of their own), PDF by `pypdf` (the text layer, page by page).

`kind_of` decides what an uploaded file is, from its declared media type and its name;
`text_of` reads it. Both raise domain errors that the API reports as 415 and 422.
"""

from __future__ import annotations

import io
import re
from pathlib import PurePosixPath

import html_text
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from agio.domain.errors import UnreadableDocument, UnsupportedMediaType

#: what a document is stored as (`content_type`), by file suffix
SUFFIXES = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
#: and by declared media type
MEDIA_TYPES = {
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
#: media types that say nothing about the content (the name decides)
_UNSPECIFIC = {"", "application/octet-stream", "binary/octet-stream"}
KINDS = ("markdown", "text", "html", "pdf")
MAX_PDF_PAGES = 2000


def kind_of(filename: str, media_type: str | None) -> str:
    """`markdown`, `text`, `html` or `pdf` for an uploaded file; else 415."""
    declared = (media_type or "").split(";", 1)[0].strip().lower()
    by_suffix = SUFFIXES.get(PurePosixPath(filename).suffix.lower())
    if declared in MEDIA_TYPES:
        kind = MEDIA_TYPES[declared]
        # a plain-text type with a Markdown name is Markdown (browsers send text/plain)
        return by_suffix if kind == "text" and by_suffix == "markdown" else kind
    if declared in _UNSPECIFIC and by_suffix is not None:
        return by_suffix
    what = f"'{declared}'" if declared else "no media type"
    raise UnsupportedMediaType(
        f"'{filename}' ({what}) is not a supported document: upload text, Markdown, HTML "
        f"or PDF ({', '.join(sorted(SUFFIXES))})"
    )


def decoded(data: bytes, filename: str) -> str:
    """UTF-8 text (a byte-order mark dropped); else 422."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableDocument(f"'{filename}' is not UTF-8 text") from None
    if "\x00" in text:
        raise UnreadableDocument(f"'{filename}' holds NUL characters: it is not text")
    return text


def html_to_text(content: str) -> str:
    if not content.strip():
        return ""
    try:
        return str(html_text.extract_text(content, guess_layout=True))
    except Exception:  # lxml's ParserError (an empty document), lone surrogates: no text
        return ""


def pdf_text(data: bytes, filename: str) -> str:
    """The text layer of a PDF, pages separated by blank lines; 422 when it cannot be read,
    is encrypted with a password, or has no text (a scan)."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument(f"'{filename}' is encrypted with a password")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise UnreadableDocument(f"'{filename}' has more than {MAX_PDF_PAGES} pages")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise UnreadableDocument(
            f"'{filename}' is not a readable PDF ({type(exc).__name__})"
        ) from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise UnreadableDocument(f"'{filename}' has no text layer (a scanned PDF needs OCR first)")
    return text


def normalised(text: str) -> str:
    """Line ends, runs of blanks and of empty lines made uniform."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def plain_text(content: str, content_type: str) -> str:
    """The indexable text of a document given as text (`pdf`: its extracted text)."""
    if content_type == "html":
        content = html_to_text(content)
    return normalised(content)


def text_of(data: bytes, filename: str, kind: str) -> str:
    """The text of an uploaded file of `kind` (before `plain_text`)."""
    if kind == "pdf":
        return pdf_text(data, filename)
    return decoded(data, filename)
