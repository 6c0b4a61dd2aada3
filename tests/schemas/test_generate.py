"""The generator on small schemas, and the binary stubs."""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import zipfile
import zlib
from typing import Any

import pytest

from wbseller.schemas.convert import convert_components, to_json_schema
from wbseller.schemas.generate import binary_stub, example_or_generate, generate
from wbseller.schemas.validate import Validator


def made(schema: Any, defs: dict[str, Any] | None = None, seed: str = "s") -> Any:
    defs = defs or {}
    value = generate(schema, defs, seed=seed)
    Validator(schema, defs).validate(value)
    return value


def test_deterministic_per_seed() -> None:
    schema = {"type": "object", "properties": {k: {"type": "integer"} for k in "abcdef"}}
    assert made(schema, seed="one") == made(schema, seed="one")
    assert made(schema, seed="one") != made(schema, seed="two")


def test_bounds_and_multiples() -> None:
    for seed in map(str, range(30)):
        assert 5 <= made({"type": "integer", "minimum": 5, "maximum": 7}, seed=seed) <= 7
        assert made({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2}, seed=seed) == 1
        assert made({"type": "integer", "multipleOf": 25, "minimum": 30}, seed=seed) % 25 == 0
        assert 0 < made({"type": "number", "exclusiveMinimum": 0, "maximum": 1}, seed=seed) <= 1
        assert made({"type": "number", "multipleOf": 0.5}, seed=seed) % 0.5 == 0
        assert len(made({"type": "string", "minLength": 20, "maxLength": 22}, seed=seed)) in (20, 21, 22)
        assert 2 <= len(made({"type": "array", "minItems": 2, "maxItems": 4, "items": {}}, seed=seed)) <= 4


def test_formats() -> None:
    moment = dt.datetime.fromisoformat(made({"type": "string", "format": "date-time"}))
    assert moment.tzinfo is not None and 2025 <= moment.year <= 2026
    assert re.fullmatch(r"202[56]-\d\d-\d\d", made({"type": "string", "format": "date"}))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        made({"type": "string", "format": "uuid"}),
    )
    assert "@" in made({"type": "string", "format": "email"})
    assert made({"type": "string", "format": "uri"}).startswith("https://")


def test_patterns() -> None:
    assert re.fullmatch(r"WB-GI-\d{8}", made({"type": "string", "pattern": r"^WB-GI-[0-9]{8}$"}))
    assert re.fullmatch(r"[A-Z]{3}", made({"type": "string", "pattern": "^[A-Z]{3}$"}))


def test_plausible_names() -> None:
    schema = to_json_schema(
        {
            "type": "object",
            "required": ["price", "nmID", "id", "vendorCode", "barcode", "supplyId", "createdAt", "skus"],
            "properties": {
                "price": {"type": "integer"},
                "nmID": {"type": "integer"},
                "id": {"type": "integer"},
                "vendorCode": {"type": "string"},
                "barcode": {"type": "string"},
                "supplyId": {"type": "string"},
                "createdAt": {"type": "string"},
                "skus": {"type": "array", "items": {"type": "string"}},
            },
        }
    )
    for seed in ("a", "b", "c"):
        value = made(schema, seed=seed)
        assert 10_000 <= value["price"] <= 500_000
        assert 10_000_000 <= value["nmID"] <= 999_999_999
        assert value["id"] > 0
        assert re.fullmatch(r"\d{13}", value["barcode"])
        assert all(re.fullmatch(r"\d{13}", sku) for sku in value["skus"])
        assert re.fullmatch(r"WB-GI-\d{8}", value["supplyId"])
        assert dt.datetime.fromisoformat(value["createdAt"]).year in (2025, 2026)
        assert value["vendorCode"]


def test_enum_const_required_nullable() -> None:
    assert made({"enum": ["a", None]}) == "a"
    assert made({"const": 7}) == 7
    assert made(to_json_schema({"type": "string", "nullable": True})) is not None
    value = made({"type": "object", "required": [f"r{i}" for i in range(10)], "properties": {}})
    assert len(value) == 10


def test_allof_oneof_and_recursion() -> None:
    defs = convert_components(
        {
            "Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
            "Node": {
                "type": "object",
                "required": ["name", "children"],
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            },
        }
    )
    merged = to_json_schema(
        {
            "allOf": [
                {"$ref": "#/components/schemas/Base"},
                {"required": ["x"], "properties": {"x": {"type": "boolean"}}},
            ]
        }
    )
    assert {"id", "x"} <= set(made(merged, defs))
    one = {"oneOf": [{"type": "integer"}, {"type": "number"}]}  # an integer matches both: a float must come
    for seed in map(str, range(10)):
        assert isinstance(made(one, seed=seed), float)
    assert made({"$ref": "#/$defs/Node"}, defs)["children"] is not None


def test_example_or_generate() -> None:
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
    assert example_or_generate(schema, {}, {"a": 1}, "s") == {"a": 1}
    assert isinstance(example_or_generate(schema, {}, {"a": "no"}, "s")["a"], int)
    assert isinstance(example_or_generate(schema, {}, None, "s")["a"], int)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def test_png() -> None:
    data = binary_stub("image/png")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks = _png_chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">II", chunks[0][1][:8]) == (1, 1)
    assert zlib.decompress(chunks[1][1]) == b"\x00\xff"


def test_pdf() -> None:
    data = binary_stub("application/pdf")
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    start = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[start:].startswith(b"xref")
    lines = data[start:].split(b"\n")
    count = int(lines[1].split()[1])
    for number, entry in enumerate(lines[3 : 2 + count], start=1):
        offset = int(entry.split()[0])
        assert data[offset:].startswith(b"%d 0 obj" % number)
    stream = re.search(rb"<< /Length (\d+) >>\nstream\n", data)
    assert stream is not None
    body = data[stream.end() : stream.end() + int(stream.group(1))]
    assert data[stream.end() + len(body) :].startswith(b"\nendstream")


def test_zip_csv_and_others() -> None:
    with zipfile.ZipFile(io.BytesIO(binary_stub("application/zip"))) as archive:
        assert archive.testzip() is None
        assert archive.read("report.csv").startswith(b"nmID,")
    assert binary_stub("text/csv; charset=utf-8").count(b"\n") == 2
    assert binary_stub("image/svg+xml").startswith(b"<svg")
    jpeg = binary_stub("image/jpeg")
    assert jpeg.startswith(b"\xff\xd8\xff") and jpeg.endswith(b"\xff\xd9")
    assert binary_stub("image/gif").startswith(b"GIF89a")
    assert binary_stub("application/octet-stream")


@pytest.mark.parametrize(
    "kind", ["application/pdf", "application/zip", "image/png", "image/jpeg", "text/csv"]
)
def test_stubs_are_stable(kind: str) -> None:
    assert binary_stub(kind) == binary_stub(kind)
