"""Which provider a deployment's ``model`` means, as LiteLLM reads it.

``custom_llm_provider`` wins; then the model's ``provider/`` prefix; then, for a
bare name, what the name is known to be: a Claude id is Anthropic's, a Gemini id
Google AI Studio's (Vertex AI's when the deployment names a Vertex project), a
Bedrock model id (``anthropic.claude-...``, ``us.anthropic....``, ``amazon.titan-...``)
Bedrock's. Any other bare name is OpenAI's. ``check-config`` says which
deployments were inferred, and as what.
"""

from __future__ import annotations

import re

from gateway.config.schema import LiteLLMParams

DEFAULT_PROVIDER = "openai"

# Bedrock model ids: a vendor, a dot, a model (with an optional cross-region prefix).
_BEDROCK_ID = re.compile(
    r"^(?:(?:us|eu|apac|us-gov|global)\.)?"
    r"(?:anthropic|amazon|meta|cohere|mistral|ai21|deepseek|writer|qwen|openai|twelvelabs)\."
)


def provider_and_model(params: LiteLLMParams) -> tuple[str, str, str | None]:
    """(provider, upstream model, how the provider was inferred or None when it was said)."""
    model = params.model
    if params.custom_llm_provider:
        provider = params.custom_llm_provider
        prefix = f"{provider}/"
        return provider, model.removeprefix(prefix), None
    provider, sep, name = model.partition("/")
    if sep:
        return provider, name, None
    inferred = infer_provider(model, vertex=params.vertex_project is not None)
    if inferred is None:
        return DEFAULT_PROVIDER, model, None
    return inferred, model, f"a bare {model!r} is read as {inferred}/{model}, as LiteLLM reads it"


def infer_provider(model: str, *, vertex: bool) -> str | None:
    """The provider a bare model name belongs to, when it is recognisably not OpenAI's."""
    lowered = model.lower()
    if lowered.startswith("claude-"):
        return "anthropic"
    if lowered.startswith(("gemini-", "gemma-")):
        return "vertex_ai" if vertex else "gemini"
    if _BEDROCK_ID.match(lowered):
        return "bedrock"
    return None


def speaks_anthropic(provider: str, model: str) -> bool:
    """Whether a deployment's upstream is Anthropic's Messages API: ``anthropic/``, or a
    Claude model on Vertex AI (``vertex_ai/claude-…``, served through ``rawPredict``)."""
    return provider == "anthropic" or (
        provider == "vertex_ai" and model.lower().startswith("claude")
    )
