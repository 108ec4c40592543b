"""Real LiteLLM configs load as they are, and the share of their keys the gateway honours
never drops (``tests/corpus/litellm``, each file with its source)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.config.loader import build_config, read_config_file
from gateway.config.report import (
    IGNORED,
    REFERENCE_BEGIN,
    REFERENCE_END,
    classify_keys,
    reference_markdown,
    summary,
)
from support.gateway_process import run_gateway

CORPUS = Path(__file__).parent / "corpus" / "litellm"
CONFIGS = sorted(CORPUS.glob("*.yaml"))
# The share of all the corpus's keys honoured (as they are, or under another name) when
# this baseline was recorded; raise it as the gateway honours more.
HONOURED_SHARE_BASELINE = 0.80


def _env_for(path: Path) -> dict[str, str]:
    """A value for every variable the file references (as a deployment would have)."""
    names = re.findall(r"os\.environ/([A-Za-z0-9_]+)", path.read_text(encoding="utf-8"))
    return {name: f"test-{name.lower()}" for name in names}


def test_the_corpus_is_there() -> None:
    assert len(CONFIGS) >= 14
    for path in CONFIGS:
        assert path.read_text(encoding="utf-8").startswith("# From "), f"{path.name}: no source"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_config_loads_and_every_ignored_key_says_why(path: Path) -> None:
    data = read_config_file(path)
    build_config(data, _env_for(path), str(path))
    for verdict in classify_keys(data):
        if verdict.verdict == IGNORED:
            assert verdict.detail, verdict.path


def test_the_honoured_share_does_not_drop() -> None:
    verdicts = [v for path in CONFIGS for v in classify_keys(read_config_file(path))]
    counted = summary(verdicts)
    assert counted["honoured_share"] >= HONOURED_SHARE_BASELINE, counted


def test_check_config_reports_every_key_as_json() -> None:
    path = CORPUS / "oai_misc_config.yaml"
    checked = run_gateway(
        ["check-config", str(path), "--report", "--format", "json"], env=_env_for(path)
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["loads"] is True
    by_path = {entry["path"]: entry for entry in report["keys"]}
    assert by_path["model_list[1].model_name"]["verdict"] == "honoured"
    assert by_path["litellm_settings.telemetry"]["verdict"] == "ignored"
    assert by_path["litellm_settings.request_timeout"]["verdict"] == "approximated"
    assert report["summary"]["keys"] == len(report["keys"])


def test_renamed_keys_count_once_and_an_overridden_one_is_ignored() -> None:
    verdicts = classify_keys(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {
                        "model": "vertex_ai/gemini-2.5-flash",
                        "vertex_ai_project": "p",
                        "vertex_project": "q",
                        "vertex_ai_location": "eu",
                    },
                }
            ]
        }
    )
    found = {v.path: v.verdict for v in verdicts}
    assert found == {
        "model_list[0].litellm_params.vertex_ai_project": "ignored",
        "model_list[0].litellm_params.vertex_ai_location": "renamed",
        "model_list[0].model_name": "honoured",
        "model_list[0].litellm_params.model": "honoured",
        "model_list[0].litellm_params.vertex_project": "honoured",
    }


def test_the_readme_reference_is_the_generated_one() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index(REFERENCE_BEGIN)
    end = readme.index(REFERENCE_END) + len(REFERENCE_END)
    assert readme[start:end] == reference_markdown()
