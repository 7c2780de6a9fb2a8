"""The JSON output matches the published JSON schema (prober/schema/result.schema.json)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from prober.cli import main
from prober.explanation.explain import explain_text

SCHEMA = json.loads(
    resources.files("prober").joinpath("schema").joinpath("result.schema.json").read_text()
)


def validate(data: Any) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(data)


def test_schema_is_itself_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_demo_result_matches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--json"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 10
    for line in lines:
        validate(json.loads(line))


@pytest.mark.parametrize("text", ["550", "5.7.26", "421 4.7.0 Try again later", "111", "hello"])
def test_explanations_match(text: str) -> None:
    validate(explain_text(text).to_dict())


def test_schema_rejects_a_wrong_verdict() -> None:
    bad = {
        "address": "a@b.test",
        "normalized": None,
        "verdict": "maybe",
        "reason": "accepted",
        "summary": "",
        "explanation": None,
        "mx": None,
        "attempts": [],
        "elapsed_ms": 0.0,
    }
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
