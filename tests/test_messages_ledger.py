"""/v1/messages is metered like /v1/chat: one ledger row per request, streams and failures too."""

from __future__ import annotations

import sqlite3
import time

import anthropic
import pytest

from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Fail, Reply


def _rows(path: object, count: int) -> list[tuple[object, ...]]:
    deadline = time.monotonic() + 20
    rows: list[tuple[object, ...]] = []
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(str(path)) as db:
                rows = db.execute(
                    "SELECT request_id, call_type, status, stream, prompt_tokens, "
                    "completion_tokens, end_user, error_type FROM spend_log"
                ).fetchall()
        except sqlite3.OperationalError:
            rows = []
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    return rows


def test_messages_requests_each_get_a_ledger_row(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["chat-a"].default = Reply(content="hello there", prompt_tokens=12, completion_tokens=4)
    fleet["bad-a"].default = Fail(500, "boom", type="server_error")
    config = {
        "model_list": [fleet.deployment("chat", "chat-a"), fleet.deployment("bad", "bad-a")],
        "router_settings": {"num_retries": 0},
        "general_settings": {"proxy_batch_write_at": 0.2},
    }
    gateway = start_gateway(config)
    ids = []
    with anthropic.Anthropic(
        base_url=gateway.base_url, api_key=gateway.master_key, max_retries=0, timeout=30
    ) as client:
        message = client.messages.with_raw_response.create(
            model="chat",
            max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
            metadata={"user_id": "end-user-7"},
        )
        ids.append(message.headers["x-request-id"])
        with client.messages.stream(
            model="chat", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert stream.get_final_text() == "hello there"
            ids.append(stream.response.headers["x-request-id"])
        with pytest.raises(anthropic.APIStatusError) as raised:
            client.messages.with_raw_response.create(
                model="bad", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
        ids.append(raised.value.response.headers["x-request-id"])
    rows = {row[0]: row[1:] for row in _rows(gateway.workdir / "gateway-data" / "spend.sqlite3", 3)}
    assert set(rows) == set(ids)
    assert rows[ids[0]] == ("messages", 200, 0, 12, 4, "end-user-7", None)
    assert rows[ids[1]][:5] == ("messages", 200, 1, 12, 4)
    assert rows[ids[2]][:2] == ("messages", 500)
    assert rows[ids[2]][6] == "upstream_server_error"
