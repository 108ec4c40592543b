"""Stored responses in Postgres (``DATABASE_URL``): follow-ups read them, other keys cannot,
``store: false`` keeps nothing, and the retention setting bounds how long they live."""

from __future__ import annotations

import time

import openai
import pytest

from support.control import Admin
from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.ledger import fetch
from support.mock_upstream import Reply


async def test_stored_responses_live_in_postgres(
    fleet: UpstreamFleet, start_gateway: StartGateway, ledger_db: str
) -> None:
    fleet["chat-a"].default = Reply(content="stored answer", prompt_tokens=7, completion_tokens=3)
    deployment = fleet.deployment("chat", "chat-a")
    deployment["litellm_params"]["model"] = "custom_openai/chat-a"  # served by translation
    config = {
        "model_list": [deployment],
        "general_settings": {"responses_retention_period": "2s"},
    }
    gateway = start_gateway(config, env={"DATABASE_URL": ledger_db})
    with openai.OpenAI(base_url=gateway.v1_url, api_key=gateway.master_key, max_retries=0) as sdk:
        first = sdk.responses.create(model="chat", input="Remember the number 7.")
        second = sdk.responses.create(
            model="chat", input="Which number?", previous_response_id=first.id
        )
        unstored = sdk.responses.create(model="chat", input="Forget me.", store=False)
        sent = fleet["chat-a"].requests[-2].body["messages"]  # the follow-up, rebuilt
        assert [m["content"] for m in sent] == [
            "Remember the number 7.",
            "stored answer",
            "Which number?",
        ]
        rows = await fetch(
            ledger_db,
            "SELECT response_id, deployment_id, model_group, response->>'status'"
            " FROM gateway_responses ORDER BY created_at",
        )
        assert [tuple(r) for r in rows][-2:] == [
            (first.id, "chat-a", "chat", "completed"),
            (second.id, "chat-a", "chat", "completed"),
        ]
        assert unstored.id not in {r[0] for r in rows}
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(unstored.id)
        with Admin(gateway) as admin:
            key = admin.generate_key(models=["chat"])["key"]
        with (
            openai.OpenAI(base_url=gateway.v1_url, api_key=key, max_retries=0) as other,
            pytest.raises(openai.NotFoundError),
        ):
            other.responses.retrieve(second.id)
        assert sdk.responses.retrieve(second.id).output_text == "stored answer"
        time.sleep(2.5)  # past the 2s retention
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(second.id)
