"""``gateway loadtest``: load a running gateway the way an on-call engineer would.

A client tool: it talks to a gateway over HTTP at its base URL and knows
nothing of the gateway's internals (an import-linter contract keeps it so).

- ``records``: one request's outcome, as measured by the client.
- ``stats``: the arithmetic (percentiles, req/s, error counts), pure.
- ``bodies``: chat bodies from fixtures or generated, stamped per request.
- ``client``: the concurrent HTTP loop (aiohttp).
- ``progress``, ``table``: what the user sees while and after it runs.
- ``command``: the CLI options and the exit code.
"""
