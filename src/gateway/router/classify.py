"""What each upstream outcome means for routing: the error taxonomy, in one place.

| outcome                   | retry same group | cooldown             | fallback                  |
|---------------------------|------------------|----------------------|---------------------------|
| 400 bad request           | no               | no                   | no                        |
|   context window exceeded | no               | no                   | context_window_fallbacks  |
|   content policy          | no               | no                   | content_policy_fallbacks  |
| 401 / 403                 | other deployment | at once              | yes                       |
| 404 model not found       | no               | at once              | yes                       |
| 408 / timeout             | yes              | counts               | yes                       |
| 429 rate limit            | other deployment | at once if the group | yes                       |
|                           |  (or after       |  has another; else   |                           |
|                           |  Retry-After)    |  counts              |                           |
| 5xx / connection          | yes              | counts               | yes                       |

How long to wait between attempts is decided in ``backoff``, not here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
)


class FallbackKind(enum.Enum):
    NONE = "none"
    GENERAL = "general"
    CONTEXT_WINDOW = "context_window"
    CONTENT_POLICY = "content_policy"


class Retry(enum.Enum):
    NEVER = "never"
    OTHER_DEPLOYMENT = "other_deployment"  # only onto a different deployment
    YES = "yes"


class Cooldown(enum.Enum):
    NO = "no"
    COUNTS = "counts"  # toward allowed_fails
    AT_ONCE = "at_once"
    AT_ONCE_IF_GROUP_HAS_OTHERS = "at_once_if_group_has_others"  # 429


@dataclass(frozen=True, slots=True)
class Verdict:
    retry: Retry
    cooldown: Cooldown
    fallback: FallbackKind
    # LiteLLM's error-class name, as used in retry_policy / allowed_fails_policy keys.
    policy_class: str


_BAD_REQUEST = Verdict(Retry.NEVER, Cooldown.NO, FallbackKind.NONE, "BadRequestError")
_CONTEXT = Verdict(Retry.NEVER, Cooldown.NO, FallbackKind.CONTEXT_WINDOW, "BadRequestError")
_POLICY = Verdict(
    Retry.NEVER, Cooldown.NO, FallbackKind.CONTENT_POLICY, "ContentPolicyViolationError"
)
_AUTH = Verdict(
    Retry.OTHER_DEPLOYMENT, Cooldown.AT_ONCE, FallbackKind.GENERAL, "AuthenticationError"
)
_NOT_FOUND = Verdict(Retry.NEVER, Cooldown.AT_ONCE, FallbackKind.GENERAL, "NotFoundError")
_TIMEOUT = Verdict(Retry.YES, Cooldown.COUNTS, FallbackKind.GENERAL, "TimeoutError")
_RATE_LIMIT = Verdict(
    Retry.YES, Cooldown.AT_ONCE_IF_GROUP_HAS_OTHERS, FallbackKind.GENERAL, "RateLimitError"
)
_SERVER = Verdict(Retry.YES, Cooldown.COUNTS, FallbackKind.GENERAL, "InternalServerError")


def classify(error: UpstreamError) -> Verdict:
    """The routing meaning of one failed attempt."""
    if isinstance(error, ContextWindowExceeded):
        return _CONTEXT
    if isinstance(error, ContentPolicyViolation):
        return _POLICY
    if isinstance(error, UpstreamBadRequest):
        return _BAD_REQUEST
    if isinstance(error, UpstreamAuthError):
        return _AUTH
    if isinstance(error, UpstreamNotFound):
        return _NOT_FOUND
    if isinstance(error, UpstreamTimeout):
        return _TIMEOUT
    if isinstance(error, UpstreamRateLimited):
        return _RATE_LIMIT
    return _SERVER
