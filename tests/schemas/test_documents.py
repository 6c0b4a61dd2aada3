"""All 14 WB documents through the engine: every JSON body and response converts, generates and validates,
and every documented example passes (or is listed below with the reason it cannot)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.schemas.specs import VERBS, Media, defs, deref, documents, json_media, operations
from wbseller.schemas.convert import to_json_schema
from wbseller.schemas.generate import generate
from wbseller.schemas.validate import SchemaViolation, Validator

FILES = sorted(documents())
COMMISSION = ("10-tariffs.yaml", "get", "/api/v1/tariffs/commission", "200")

# (file, verb, path, status, example name): why it cannot validate
KNOWN_BAD_EXAMPLES = {
    (*COMMISSION, name): "oneOf: Commission* branches without additionalProperties: false overlap, "
    "so the example matches several"
    for name in ("Commission", "CommissionChina", "CommissionTurkey", "CommissionUzbekistan", "CommissionUAE")
}


def _last_member(fragment: Any) -> Any:
    return fragment["allOf"][-1]


PINS = (
    "allOf of respond.SuccessResponse (data: object) and an override (data: array/integer): no instance fits"
)
# (file, verb, path, status): (why no instance can validate, the schema the generated one must fit instead)
UNSATISFIABLE = {
    ("09-communications.yaml", "get", "/api/feedbacks/v1/pins", "200"): (PINS, _last_member),
    ("09-communications.yaml", "post", "/api/feedbacks/v1/pins", "200"): (PINS, _last_member),
    ("09-communications.yaml", "delete", "/api/feedbacks/v1/pins", "200"): (PINS, _last_member),
    ("09-communications.yaml", "get", "/api/feedbacks/v1/pins/count", "200"): (PINS, _last_member),
}


def media_of(file: str) -> list[Media]:
    return [m for m in json_media() if m.file == file]


def key(m: Media) -> tuple[str, str, str, str]:
    return (m.file, m.verb, m.path, m.status)


def test_the_documents() -> None:
    assert len(FILES) == 14
    assert len(operations()) == 302
    assert len(json_media()) > 1500


@pytest.mark.parametrize("file", FILES)
def test_generated_instances_validate(file: str) -> None:
    failures = []
    for m in media_of(file):
        fragment, value = m.fragment, generate(m.fragment, m.defs, seed="seller-1")
        if key(m) in UNSATISFIABLE:
            assert not Validator(fragment, m.defs).is_valid(value)
            fragment = UNSATISFIABLE[key(m)][1](fragment)
        try:
            Validator(fragment, m.defs).validate(value)
        except SchemaViolation as error:
            failures.append(f"{m.id}: {error}")
    assert not failures


@pytest.mark.parametrize("file", FILES)
def test_generation_is_deterministic(file: str) -> None:
    media = media_of(file)
    differing = 0
    for m in media:
        first = generate(m.fragment, m.defs, seed="seller-1")
        assert generate(m.fragment, m.defs, seed="seller-1") == first, m.id
        differing += generate(m.fragment, m.defs, seed="seller-2") != first
    # a few schemas have one possible instance (an enum of one, an empty object)
    assert differing >= 0.9 * len(media)


@pytest.mark.parametrize("file", FILES)
def test_documented_examples_validate(file: str) -> None:
    failures, known = [], set()
    for m in media_of(file):
        validator = Validator(m.fragment, m.defs)
        for name, example in m.examples:
            try:
                validator.validate(example)
            except SchemaViolation as error:
                if (*key(m), name) in KNOWN_BAD_EXAMPLES:
                    known.add((*key(m), name))
                else:
                    failures.append(f"{m.id} {name}: {error}")
    assert not failures
    # the list is exact: a fixed document must leave it
    assert known == {k for k in KNOWN_BAD_EXAMPLES if k[0] == file}


def _schema_examples(file: str, node: Any, where: str) -> list[tuple[str, Any, Any]]:
    """Every `example` written inside a schema, with the schema it sits in."""
    found: list[tuple[str, Any, Any]] = []
    if isinstance(node, dict):
        if "example" in node and "$ref" not in node:
            found.append((where, node, node["example"]))
        for name, sub in node.items():
            if name not in ("example", "examples", "enum", "default"):
                found += _schema_examples(file, sub, f"{where}/{name}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            found += _schema_examples(file, sub, f"{where}/{i}")
    return found


@pytest.mark.parametrize("file", FILES)
def test_property_and_parameter_examples_pass_with_formats(file: str) -> None:
    """Why `validate` asserts date-time, date and uuid: every example the documents give passes."""
    doc, found = documents()[file], []
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        found += _schema_examples(file, schema, name)
    for m in media_of(file):  # schemas written inline in bodies and responses
        found += _schema_examples(file, m.schema, m.id)
    for path, item in doc["paths"].items():
        for verb, op in item.items():
            if verb not in VERBS:
                continue
            for parameter in [deref(file, p) for p in op.get("parameters", []) + item.get("parameters", [])]:
                if "schema" in parameter and "example" in parameter:
                    found.append(
                        (f"{verb} {path} {parameter['name']}", parameter["schema"], parameter["example"])
                    )
    failures = []
    for where, schema, example in found:
        validator = Validator(to_json_schema(schema), defs(file), root=where)
        if not validator.is_valid(example):
            failures.append(where)
    assert not failures
    assert found
