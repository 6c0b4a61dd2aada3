"""The official WB documents, parsed once per test session, and their JSON media as flat cases."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wbseller.schemas.convert import convert_components, to_json_schema

SPECS = Path("/work/shared/wb-openapi/specs")
VERBS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@functools.cache
def documents() -> dict[str, dict[str, Any]]:
    """File name -> parsed document (C loader: the 14 files are 2 MB)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # a safe loader, C or Python
    return {
        p.name: yaml.load(p.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
        for p in sorted(SPECS.glob("[0-9]*.yaml"))
    }


@functools.cache
def defs(file: str) -> dict[str, Any]:
    return convert_components(documents()[file].get("components", {}).get("schemas", {}))


def deref(file: str, node: Any) -> Any:
    """Follow a local `$ref` to responses, requestBodies, examples or parameters (schemas stay refs)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = documents()[file]
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@dataclass(frozen=True)
class Media:
    """One JSON request body or response of one operation."""

    file: str
    verb: str
    path: str
    status: str  # "request" for a request body
    content_type: str
    schema: Any  # OAS 3.0, as written
    examples: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def id(self) -> str:
        return f"{self.file[:2]} {self.verb.upper()} {self.path} {self.status} {self.content_type}"

    @property
    def fragment(self) -> Any:
        return to_json_schema(self.schema)

    @property
    def defs(self) -> dict[str, Any]:
        return defs(self.file)


def operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (file, verb, path, op)
        for file, doc in documents().items()
        for path, item in doc["paths"].items()
        for verb, op in item.items()
        if verb in VERBS
    ]


def _examples(file: str, media: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    found: list[tuple[str, Any]] = []
    if "example" in media:
        found.append(("example", media["example"]))
    for name, written in (media.get("examples") or {}).items():
        example = deref(file, written)
        if isinstance(example, dict) and "value" in example:
            found.append((name, example["value"]))
    return tuple(found)


@functools.cache
def json_media() -> tuple[Media, ...]:
    found: list[Media] = []
    for file, verb, path, op in operations():
        places: list[tuple[str, Any]] = [("request", deref(file, op.get("requestBody")))]
        places += [(str(status), deref(file, r)) for status, r in (op.get("responses") or {}).items()]
        for status, holder in places:
            for content_type, media in ((holder or {}).get("content") or {}).items():
                if "json" in content_type and isinstance(media, dict) and "schema" in media:
                    found.append(
                        Media(file, verb, path, status, content_type, media["schema"], _examples(file, media))
                    )
    return tuple(found)
