"""Azure OpenAI (``azure/<deployment>``): OpenAI's wire format at per-deployment URLs;
and Azure AI Foundry's model inference (``azure_ai/<model>``).

Requests go to ``{api_base}/openai/deployments/{deployment}/{operation}?api-version=...``
with an ``api-key`` header; bodies, answers, streams and errors are OpenAI's,
so the OpenAI-compatible provider carries them (Azure's content-filter
preamble chunk is left out there, and ``content_filter`` errors are
content-policy violations).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from gateway.providers.base import Operation
from gateway.providers.openai_compat import PATHS, OpenAICompatibleProvider
from gateway.providers.transport import UpstreamPool

KEY_ENV = "AZURE_API_KEY"
BASE_ENV = "AZURE_API_BASE"
VERSION_ENV = "AZURE_API_VERSION"
# The newest generally available data-plane version when this was written.
DEFAULT_API_VERSION = "2024-10-21"
RESPONSES_MIN_VERSION = "2025-03-01-preview"
AI_KEY_ENV = "AZURE_AI_API_KEY"
AI_BASE_ENV = "AZURE_AI_API_BASE"
# Azure AI model inference's API version (its ``/models`` endpoint requires one).
AI_API_VERSION = "2024-05-01-preview"
AI_SERVICES_HOST = ".services.ai.azure.com"
RESPONSES_VERSION = "2025-04-01-preview"


def azure_base(api_base: str | None, env: Mapping[str, str]) -> str | None:
    base = (api_base or env.get(BASE_ENV) or "").rstrip("/")
    return base or None


def build_azure(
    *,
    deployment_name: str,
    api_base: str,
    api_key: str | None,
    api_version: str | None,
    extra_headers: Mapping[str, str] | None,
    env: Mapping[str, str],
    pool: UpstreamPool,
    deployment_id: str,
) -> OpenAICompatibleProvider:
    version = api_version or env.get(VERSION_ENV) or DEFAULT_API_VERSION
    key = api_key or env.get(KEY_ENV)
    root = f"{api_base}/openai/deployments/{quote(deployment_name, safe='')}"
    query = "?api-version=" + quote(version, safe="")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["api-key"] = key
    headers.update(extra_headers or {})
    urls = {operation: root + path + query for operation, path in PATHS.items()}
    # The Responses API lives beside the deployments, the deployment named in the body,
    # and only in newer API versions.
    responses_version = version if version >= RESPONSES_MIN_VERSION else RESPONSES_VERSION
    urls[Operation.RESPONSES] = f"{api_base}/openai/responses?api-version=" + quote(
        responses_version, safe=""
    )
    return OpenAICompatibleProvider(
        provider="azure",
        model=deployment_name,
        api_base=api_base,
        urls=urls,
        headers=headers,
        secret=key,
        pool=pool,
        deployment_id=deployment_id,
    )


def azure_ai_base(api_base: str | None, env: Mapping[str, str]) -> str | None:
    """The endpoint; an AI Services resource's inference lives under ``/models``."""
    base = (api_base or env.get(AI_BASE_ENV) or "").rstrip("/")
    if not base:
        return None
    if base.split("//", 1)[-1].split("/", 1)[0].endswith(AI_SERVICES_HOST) and (
        not base.endswith("/models")
    ):
        base += "/models"
    return base


def build_azure_ai(
    *,
    model: str,
    api_base: str,
    api_key: str | None,
    api_version: str | None,
    extra_headers: Mapping[str, str] | None,
    env: Mapping[str, str],
    pool: UpstreamPool,
    deployment_id: str,
) -> OpenAICompatibleProvider:
    """Azure AI Foundry (serverless and AI Services endpoints): OpenAI's chat and
    embeddings bodies with the model in the body, the key as ``api-key`` (AI Services)
    and as a bearer token (serverless endpoints), an ``api-version`` where one is needed."""
    key = api_key or env.get(AI_KEY_ENV)
    version = api_version or (AI_API_VERSION if api_base.endswith("/models") else None)
    query = "?api-version=" + quote(version, safe="") if version else ""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["api-key"] = key
        headers["Authorization"] = f"Bearer {key}"
    headers.update(extra_headers or {})
    return OpenAICompatibleProvider(
        provider="azure_ai",
        model=model,
        api_base=api_base,
        urls={operation: api_base + path + query for operation, path in PATHS.items()},
        headers=headers,
        secret=key,
        pool=pool,
        deployment_id=deployment_id,
    )
