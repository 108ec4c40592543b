"""The control plane's HTTP surface on FastAPI: one router per resource, one auth policy,
the gateway's own error shape, and the OpenAPI document."""
