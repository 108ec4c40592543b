"""The gateway's one error tree.

Every failure the gateway can report is one of these types. The type is the
metric label (``error_type``); the HTTP status and OpenAI error ``type`` are
decided here, once, and ``api`` turns them into JSON in one place.

The tree, grouped by who is at fault::

    GatewayError
     +-- CallerError                     the request itself is wrong
     |    +-- InvalidRequest             400 invalid_request_error
     |    +-- BodyTooLarge               413
     |    +-- UnsupportedMediaType       415
     |    +-- AuthenticationFailed       401
     |    +-- PermissionDenied           403
     |    +-- ModelNotFound              404 model_not_found
     |    +-- ResourceNotFound           404 (a key, team, model or override)
     |    +-- RouteNotFound              404
     |    +-- MethodNotAllowed           405
     +-- PolicyError                     the gateway's own limits said no
     |    +-- RateLimited                429 (+ Retry-After)
     |    +-- BudgetExceeded             400 budget_exceeded
     +-- UpstreamError                   a provider failed (status from upstream)
     |    +-- UpstreamBadRequest         400
     |    |    +-- ContextWindowExceeded 400 context_length_exceeded
     |    |    +-- ContentPolicyViolation 400 content_policy_violation
     |    +-- UpstreamAuthError          401 / 403
     |    +-- UpstreamNotFound           404
     |    +-- UpstreamTimeout            408 / read timeout
     |    +-- UpstreamRateLimited        429
     |    +-- UpstreamServerError        5xx
     |    +-- UpstreamConnectionError    connect / protocol failure
     +-- GatewayFailure                  the gateway could not finish
          +-- DeadlineExceeded           504
          +-- NoDeploymentAvailable      429 (+ Retry-After)
          +-- InternalError              500
          +-- StorageUnavailable         503 (the spend ledger's database)

What an error *means* for routing (retry? cool down? fall back?) is decided in
``gateway.router.classify``, not here.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Base of every error the gateway reports to a caller."""

    status: ClassVar[int] = 500
    openai_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None
    label: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retry_after = retry_after

    def http_status(self) -> int:
        return self.status


# --- the caller's fault -------------------------------------------------------


class CallerError(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    label = "invalid_request"


class InvalidRequest(CallerError):
    status = 400
    label = "invalid_request"


class BodyTooLarge(CallerError):
    status = 413
    default_code = "request_too_large"
    label = "body_too_large"


class UnsupportedMediaType(CallerError):
    status = 415
    default_code = "unsupported_media_type"
    label = "unsupported_media_type"


class AuthenticationFailed(CallerError):
    status = 401
    openai_type = "authentication_error"
    default_code = "invalid_api_key"
    label = "authentication"


class PermissionDenied(CallerError):
    status = 403
    openai_type = "permission_error"
    default_code = "model_not_allowed"
    label = "permission"


class ModelNotFound(CallerError):
    status = 404
    default_code = "model_not_found"
    label = "model_not_found"


class ResourceNotFound(CallerError):
    """An admin request named something that does not exist."""

    status = 404
    default_code = "not_found"
    label = "resource_not_found"


class RouteNotFound(CallerError):
    status = 404
    default_code = "not_found"
    label = "route_not_found"


class MethodNotAllowed(CallerError):
    status = 405
    default_code = "method_not_allowed"
    label = "method_not_allowed"


# --- the gateway's own policy said no ----------------------------------------


class PolicyError(GatewayError):
    status = 429
    openai_type = "rate_limit_error"
    label = "policy"


class RateLimited(PolicyError):
    status = 429
    default_code = "rate_limit_exceeded"
    label = "rate_limited"


class BudgetExceeded(PolicyError):
    status = 400
    openai_type = "budget_exceeded"
    default_code = "budget_exceeded"
    label = "budget_exceeded"


# --- a provider failed ---------------------------------------------------------


class UpstreamError(GatewayError):
    """A provider answered with an error, or could not be reached.

    ``upstream_status`` is what the provider sent (None when nothing came back);
    ``deployment`` names the deployment that failed, for messages and logs.
    """

    status = 502
    openai_type = "api_error"
    label = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        deployment: str | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, retry_after=retry_after)
        self.upstream_status = upstream_status
        self.deployment = deployment

    def http_status(self) -> int:
        return self.upstream_status or self.status


class UpstreamBadRequest(UpstreamError):
    status = 400
    openai_type = "invalid_request_error"
    label = "upstream_bad_request"


class ContextWindowExceeded(UpstreamBadRequest):
    default_code = "context_length_exceeded"
    label = "context_window_exceeded"


class ContentPolicyViolation(UpstreamBadRequest):
    default_code = "content_policy_violation"
    label = "content_policy_violation"


class UpstreamAuthError(UpstreamError):
    status = 401
    openai_type = "authentication_error"
    label = "upstream_auth"


class UpstreamNotFound(UpstreamError):
    status = 404
    openai_type = "invalid_request_error"
    default_code = "model_not_found"
    label = "upstream_not_found"


class UpstreamTimeout(UpstreamError):
    status = 408
    openai_type = "timeout_error"
    default_code = "timeout"
    label = "upstream_timeout"


class UpstreamRateLimited(UpstreamError):
    status = 429
    openai_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    label = "upstream_rate_limited"


class UpstreamServerError(UpstreamError):
    status = 502
    openai_type = "api_error"
    label = "upstream_server_error"


class UpstreamConnectionError(UpstreamError):
    status = 502
    openai_type = "api_error"
    default_code = "upstream_unreachable"
    label = "upstream_connection"

    def http_status(self) -> int:
        return self.status


# --- the gateway could not finish ------------------------------------------------


class GatewayFailure(GatewayError):
    status = 500
    label = "gateway_failure"


class DeadlineExceeded(GatewayFailure):
    status = 504
    openai_type = "timeout_error"
    default_code = "request_timeout"
    label = "deadline_exceeded"


class NoDeploymentAvailable(GatewayFailure):
    status = 429
    openai_type = "rate_limit_error"
    default_code = "no_deployment_available"
    label = "no_deployment_available"


class InternalError(GatewayFailure):
    status = 500
    default_code = "internal_error"
    label = "internal_error"


class StorageUnavailable(GatewayFailure):
    status = 503
    default_code = "storage_unavailable"
    label = "storage_unavailable"


def upstream_error_for_status(
    status: int,
    message: str,
    *,
    deployment: str | None = None,
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
) -> UpstreamError:
    """The error type for an upstream HTTP status, before provider-specific refinement.

    Providers call this after deciding the special 400s (context window,
    content policy) themselves, since only they can read their own error bodies.
    """
    cls: type[UpstreamError]
    if status in (401, 403):
        cls = UpstreamAuthError
    elif status == 404:
        cls = UpstreamNotFound
    elif status == 408:
        cls = UpstreamTimeout
    elif status == 429:
        cls = UpstreamRateLimited
    elif status >= 500:
        cls = UpstreamServerError
    else:
        cls = UpstreamBadRequest
    return cls(
        message,
        upstream_status=status,
        deployment=deployment,
        code=code,
        param=param,
        retry_after=retry_after,
    )
