"""Knowledge documents and search hits as records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Document:
    id: str
    knowledge: str
    name: str
    source: str
    content_type: str
    digest: str
    size: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Hit:
    document_id: str
    document: str
    ordinal: int
    content: str
    score: float


#: k of reciprocal rank fusion: a document at rank r of a list adds 1 / (k + r). 60 is the
#: value of the original paper (Cormack, Clarke and Büttcher, 2009), which damps the
#: difference between the very first ranks so that agreement between lists counts most.
RRF_K = 60


def reciprocal_rank_fusion(rankings: list[list[Hit]], limit: int, k: int = RRF_K) -> list[Hit]:
    """Merge ranked lists of hits (best first) into one: each chunk scores the sum of
    1 / (k + rank) over the lists it is in (rank from 1); ties by document and position."""
    scores: dict[tuple[str, int], float] = {}
    first: dict[tuple[str, int], Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            key = (hit.document_id, hit.ordinal)
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
            first.setdefault(key, hit)
    order = sorted(scores, key=lambda key: (-scores[key], first[key].document, key[1]))
    return [
        Hit(first[key].document_id, first[key].document, key[1], first[key].content, scores[key])
        for key in order[:limit]
    ]
