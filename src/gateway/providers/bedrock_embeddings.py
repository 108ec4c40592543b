"""Embeddings on Amazon Bedrock (``InvokeModel``), in the two families it serves.

Titan text embeddings (``amazon.titan-embed-text-*``) take one text per call
(``inputText``, with ``dimensions`` on v2) and count its tokens in the answer;
Cohere embed (``cohere.embed-*``) takes the texts at once (``texts``,
``input_type: search_document``), and Bedrock counts the input tokens in the
``X-Amzn-Bedrock-Input-Token-Count`` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.providers.translate import TranslationError

TITAN, COHERE = "titan", "cohere"
TOKEN_COUNT_HEADER = "X-Amzn-Bedrock-Input-Token-Count"  # noqa: S105 - a header name
# The embeddings parameters these families express; others are refused or dropped.
SUPPORTED_PARAMS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


def embedding_family(model: str) -> str | None:
    bare = model.split(".", 1)[1] if model.startswith(("us.", "eu.", "apac.")) else model
    if bare.startswith("amazon.titan-embed"):
        return TITAN
    if bare.startswith("cohere.embed"):
        return COHERE
    return None


def titan_request(text: str, dimensions: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"inputText": text}
    if dimensions is not None:
        request["dimensions"] = dimensions
    return request


def cohere_request(texts: list[str], dimensions: Any) -> dict[str, Any]:
    if dimensions is not None:
        raise TranslationError(
            "'dimensions' is not something Cohere embed on bedrock takes", param="dimensions"
        )
    return {"texts": texts, "input_type": "search_document"}


def titan_vector(answer: Mapping[str, Any]) -> tuple[list[float], int]:
    vector = answer.get("embedding")
    tokens = answer.get("inputTextTokenCount")
    return (
        list(vector) if isinstance(vector, list) else [],
        tokens if isinstance(tokens, int) else 0,
    )


def cohere_vectors(answer: Mapping[str, Any]) -> list[list[float]]:
    vectors = answer.get("embeddings")
    if isinstance(vectors, dict):  # embedding_types asked: {"float": [...]}
        vectors = vectors.get("float")
    return [list(v) for v in vectors] if isinstance(vectors, list) else []
