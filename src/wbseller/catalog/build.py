"""Build the checked-in catalog from WB's 14 OpenAPI documents: `python -m wbseller.catalog build --from DIR`.

One JSON file per document under `catalog/data/` (pretty-printed, keys sorted: a new WB release is a
reviewable diff), each `{"section", "defs", "operations"}`. Facts only: paths, verbs, hosts, categories,
schemas (converted to JSON Schema 2020-12 by `wbseller.schemas.convert`, which drops prose), examples and
limits (parsed by `catalog.limits`, the Russian text read and never kept). Where the documents lack a number
or contradict themselves, `overlay.toml` says what we use and why; an overlay entry that no longer changes
anything fails the build. The rules are in `docs/catalog.md`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from wbseller.catalog import limits as lim
from wbseller.categories import ALL_HOST_BY_PREFIX, BY_SPEC_NAME, DIGITAL, USERS, WB_DOMAIN, sandbox_of
from wbseller.schemas.convert import convert_components, to_json_schema

DATA_DIR = Path(__file__).with_name("data")
OVERLAY = Path(__file__).with_name("overlay.toml")
VERBS = ("get", "post", "put", "patch", "delete")
NON_TEST = ("base", "personal", "service")
ALL_TYPES = ("base", "personal", "service", "test")
_PARAMS = "#/components/parameters/"
_RESPONSES = "#/components/responses/"
_BODIES = "#/components/requestBodies/"
_EXAMPLES = "#/components/examples/"


class BuildError(ValueError):
    """The documents or the overlay do not give a catalog we can stand behind; says where."""


class _Loader(yaml.CSafeLoader):
    """YAML without timestamp resolution: an example's `2024-08-16T11:19:05+03:00` stays the string it is."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def read_document(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        doc = yaml.load(f, Loader=_Loader)  # noqa: S506 - a safe loader (CSafeLoader) without timestamps
    if not isinstance(doc, dict) or "paths" not in doc:
        raise BuildError(f"{path}: not an OpenAPI document")
    return _plain(doc)  # type: ignore[no-any-return]


def _plain(node: Any) -> Any:
    """JSON's data model: string keys (YAML gives `200:` as an int)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def documents(src: Path) -> list[Path]:
    found = sorted(p for p in src.glob("[0-9][0-9]-*.yaml"))
    if not found:
        raise BuildError(f"{src}: no NN-*.yaml documents")
    return found


def section_of(path: Path) -> str:
    """`02-products.yaml` -> `products` (our slug: the file name without its number)."""
    return path.stem.split("-", 1)[1]


# ---------------------------------------------------------------------------------------------- ids


def _kebab(text: str) -> str:
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def operation_id(verb: str, path: str, op: dict[str, Any]) -> str:
    """Our key: the kebab-cased operationId where WB gives one, else `<verb>-<path>` kebab-cased."""
    given = op.get("operationId")
    if isinstance(given, str) and given:
        return _kebab(given)
    return _kebab(f"{verb} {path.replace('{', '').replace('}', '')}")


def op_key(verb: str, path: str) -> str:
    return f"{verb.upper()} {path}"


# ------------------------------------------------------------------------------------------ convert


def _deref(doc: dict[str, Any], node: Any, prefix: str) -> Any:
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith(prefix):
        name = node["$ref"][len(prefix) :]
        kind = prefix.split("/")[2]
        node = doc.get("components", {}).get(kind, {}).get(name)
        if node is None:
            raise BuildError(f"broken $ref {prefix}{name}")
        seen += 1
        if seen > 20:
            raise BuildError(f"$ref loop at {prefix}{name}")
    return node


def _examples(doc: dict[str, Any], node: dict[str, Any], out: dict[str, Any]) -> None:
    if "example" in node:
        out["example"] = node["example"]
    if isinstance(node.get("examples"), dict):
        values: dict[str, Any] = {}
        for name, raw in node["examples"].items():
            ex = _deref(doc, raw, _EXAMPLES)
            if isinstance(ex, dict) and "value" in ex:
                values[name] = ex["value"]
            elif isinstance(ex, dict) and "externalValue" in ex:
                values[name] = {"externalValue": ex["externalValue"]}
        if values:
            out["examples"] = values


def _schema(node: Any) -> Any:
    """`to_json_schema`, then formats written as prose (non-ASCII, e.g. a date pattern in Russian) dropped:
    they are annotations only, and no prose of the documents goes into the catalog."""
    return _ascii_formats(to_json_schema(node))


def _ascii_formats(node: Any, in_properties: bool = False) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if not in_properties and k == "format" and isinstance(v, str) and not v.isascii():
                continue
            if not in_properties and k in ("enum", "const", "default"):
                out[k] = v
                continue
            out[k] = _ascii_formats(v, in_properties=not in_properties and k in ("properties", "$defs"))
        return out
    if isinstance(node, list):
        return [_ascii_formats(v) for v in node]
    return node


def _media(doc: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ctype, media in content.items():
        m: dict[str, Any] = {}
        schema = media.get("schema") if isinstance(media, dict) else None
        if schema is not None:
            m["schema"] = _schema(schema)
        _examples(doc, media or {}, m)
        # An example written beside a top-level $ref (SPECS-REPORT §4.5) is the operation's only one: keep it.
        if "example" not in m and "examples" not in m and isinstance(schema, dict) and "example" in schema:
            m["example"] = schema["example"]
        out[ctype] = m
    return out


def _parameters(doc: dict[str, Any], item: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        p = _deref(doc, raw, _PARAMS)
        out: dict[str, Any] = {"name": p["name"], "in": p["in"], "required": bool(p.get("required", False))}
        if "schema" in p:
            out["schema"] = _schema(p["schema"])
        if p.get("deprecated") is True:
            out["deprecated"] = True
        _examples(doc, p, out)
        merged[(p["in"], p["name"])] = out
    return list(merged.values())


def _request(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    body = _deref(doc, op.get("requestBody"), _BODIES)
    if body is None:
        return None
    return {"required": bool(body.get("required", False)), "content": _media(doc, body.get("content", {}))}


def _responses(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, raw in op.get("responses", {}).items():
        r = _deref(doc, raw, _RESPONSES)
        out[str(status)] = _media(doc, r.get("content", {}))
    return out


def _host(doc: dict[str, Any], item: dict[str, Any], op: dict[str, Any]) -> str:
    servers = op.get("servers") or item.get("servers") or doc.get("servers")
    if not servers or len(servers) != 1:
        raise BuildError(f"expected one server, got {servers!r}")
    m = re.fullmatch(rf"https://([a-z0-9-]+)\.{re.escape(WB_DOMAIN)}/?", servers[0]["url"])
    if m is None:
        raise BuildError(f"unexpected server URL {servers[0]['url']!r}")
    if m.group(1) not in ALL_HOST_BY_PREFIX:
        raise BuildError(f"host {m.group(1)!r} is not in categories.ALL_HOSTS")
    return m.group(1)


def _category(op: dict[str, Any], host: str) -> str:
    spec = op.get("x-category")
    if spec == "all":
        return "all"
    if spec is None:
        if host == DIGITAL.prefix:
            return DIGITAL.name  # WB Digital's operations carry no x-category
        raise BuildError(f"no x-category on {host}")
    cat = BY_SPEC_NAME.get(str(spec))
    if cat is None:
        raise BuildError(f"unknown x-category {spec!r}")
    if spec == USERS.spec_name and host != USERS.prefix:
        raise BuildError(f"x-category {spec!r} on {host}")
    return cat.name


def _token_types(op: dict[str, Any], host: str, category: str) -> list[str]:
    given = op.get("x-token-types")
    if isinstance(given, list):
        unknown = set(given) - set(NON_TEST)
        if unknown:
            raise BuildError(f"unknown x-token-types {sorted(unknown)}")
        return sorted(given)
    # Every non-test type; test too where the method is also served on a sandbox twin (or everywhere: /ping).
    if category == "all" or sandbox_of(host) is not None:
        return list(ALL_TYPES)
    return list(NON_TEST)


# ------------------------------------------------------------------------------------------- limits


def _limit(parsed: lim.ParsedLimit, token_types: list[str], where: str) -> dict[str, Any]:
    rows = dict(parsed.rows)
    secret = rows.pop(lim.BASE_SECRET, None)
    if secret is not None and rows.get("personal") != secret:
        raise BuildError(f"{where}: the base-with-secret row differs from the personal row")
    rates: dict[str, Any] = {}
    for t in token_types:
        if t == "test":
            continue  # sandbox rules of the overlay
        row = rows.get(t, rows.get("*"))
        if row is not None:
            rates[t] = lim.rate_dict(row)
    out: dict[str, Any] = {"group": parsed.group, "rates": rates, "costs": dict(parsed.costs)}
    if parsed.per_host:
        out["per_host"] = True
    return out


def _needs_overlay(limit: dict[str, Any], token_types: list[str]) -> list[str]:
    """What the documents left open for this operation (an overlay entry must settle it)."""
    missing = []
    for t in token_types:
        if t == "test":
            continue
        r = limit["rates"].get(t)
        if r is None:
            missing.append(f"no rate for {t}")
        elif r["burst"] is None:
            missing.append(f"no burst for {t}")
    return missing


# ------------------------------------------------------------------------------------------ overlay


class Overlay:
    """`overlay.toml`: our fixes where the documents lack or get numbers wrong; each entry must still apply."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.used: Counter[str] = Counter()

    @classmethod
    def read(cls, path: Path = OVERLAY) -> Overlay:
        with path.open("rb") as f:
            return cls(tomllib.load(f))

    def entries(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for i, entry in enumerate(self.doc.get(kind, [])):
            if not str(entry.get("reason", "")).strip():
                raise BuildError(f"overlay {kind}[{i}]: every entry needs a reason")
            out.append((f"{kind}[{i}]", entry))
        return out

    def unused(self) -> list[str]:
        names = [
            name for kind in ("id", "limit", "conflict", "size", "sandbox") for name, _ in self.entries(kind)
        ]
        return [n for n in names if not self.used[n]]


def _targets(entry: dict[str, Any], ops: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found = []
    for key in [entry["op"]] if "op" in entry else entry.get("ops", []):
        if key not in ops:
            raise BuildError(f"overlay {name}: no operation {key!r} in the documents")
        found.append(ops[key])
    if "host" in entry:
        found.extend(o for o in ops.values() if o["host"] == entry["host"])
    if not found:
        raise BuildError(f"overlay {name}: matches no operation")
    return found


def _rates_of(spec: dict[str, Any], token_types: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t, r in spec.items():
        for tt in token_types if t == "all" else [t]:
            if tt in token_types:
                out[tt] = {"period": r["period"], "limit": r["limit"], "burst": r["burst"]}
    return out


def apply_overlay(ops: dict[str, dict[str, Any]], overlay: Overlay) -> None:
    """Apply the overlay to the operations (keyed `VERB path`), in place; fail on a stale entry."""
    for name, e in overlay.entries("id"):
        (op,) = _targets(e, ops, name)
        if op["id"] != e["id"]:
            op["id"] = e["id"]
            overlay.used[name] += 1
    for name, e in overlay.entries("limit"):
        for op in _targets(e, ops, name):
            limit, before = op["limit"], json.dumps(op["limit"], sort_keys=True)
            if "rates" in e:
                limit["rates"].update(_rates_of(e["rates"], op["token_types"]))
            if e.get("burst") == "limit":
                for r in limit["rates"].values():
                    if r["burst"] is None:
                        r["burst"] = r["limit"]
            for key in ("per_host", "block", "group"):
                if key in e:
                    limit[key] = e[key]
            if json.dumps(limit, sort_keys=True) != before:
                limit["overlay"] = True
                overlay.used[name] += 1
    for name, e in overlay.entries("size"):
        for op in _targets(e, ops, name):
            if "max_body" in e and op.get("max_body") != e["max_body"]:
                op["max_body"] = e["max_body"]
                overlay.used[name] += 1
            if "files" in e and op["request"] is not None:
                op["request"]["max_part"] = dict(e["files"])
                overlay.used[name] += 1
    for name, e in overlay.entries("sandbox"):
        for op in _targets(e, ops, name):
            if "test" not in op["token_types"]:
                continue
            limit = op["limit"]
            rate = limit["rates"][e["same_as"]] if "same_as" in e else e["rate"]
            limit["rates"]["test"] = {k: rate[k] for k in ("period", "limit", "burst")}
            if "group" in e:
                limit["test_group"] = e["group"]
            overlay.used[name] += 1


def check_groups(ops: dict[str, dict[str, Any]], overlay: Overlay) -> None:
    """Members of a named group share one bucket. Where their numbers differ from the group's majority, an
    overlay `conflict` entry must say that the member keeps its own numbers on the shared bucket."""
    accepted: dict[str, str] = {}
    for name, e in overlay.entries("conflict"):
        for key in e["ops"]:
            if key not in ops or ops[key]["limit"]["group"] != e["group"]:
                raise BuildError(f"overlay {name}: {key!r} is not a member of group {e['group']!r}")
            accepted[key] = name
    groups: dict[str, list[str]] = {}
    for key, op in ops.items():
        if op["limit"]["group"] is not None:
            groups.setdefault(op["limit"]["group"], []).append(key)
    for gid, keys in groups.items():
        signatures = Counter(json.dumps(_prod_rates(ops[k]), sort_keys=True) for k in keys)
        majority = json.loads(signatures.most_common(1)[0][0])
        for key in keys:
            rates = _prod_rates(ops[key])
            differs = any(majority[t] != r for t, r in rates.items() if t in majority)
            if differs and key not in accepted:
                raise BuildError(f"group {gid}: {key} has other numbers than its group; add an overlay entry")
            if differs:
                overlay.used[accepted[key]] += 1
            elif key in accepted:
                raise BuildError(f"overlay {accepted[key]}: {key} no longer differs from group {gid}")


def _prod_rates(op: dict[str, Any]) -> dict[str, Any]:
    return {t: r for t, r in op["limit"]["rates"].items() if t != "test"}


def check_exceptions(
    ops: dict[str, dict[str, Any]], exceptions: list[tuple[str, tuple[str, str] | str]]
) -> None:
    """The Content group's listed exceptions exist and are not members of the group that names them."""
    by_opid = {o["operation_id"]: key for key, o in ops.items() if o.get("operation_id")}
    for gid, ref in exceptions:
        key = op_key(*ref) if isinstance(ref, tuple) else by_opid.get(ref)
        if key is None or key not in ops:
            raise BuildError(f"group {gid}: its exception {ref!r} is no operation")
        if ops[key]["limit"]["group"] == gid:
            raise BuildError(f"group {gid}: its exception {key} is a member")


# -------------------------------------------------------------------------------------------- build


def build(src: Path, overlay: Overlay | None = None) -> dict[str, dict[str, Any]]:
    """Read every document of `src`; return file name (`02-products.json`) -> catalog document."""
    overlay = overlay if overlay is not None else Overlay.read()
    out: dict[str, dict[str, Any]] = {}
    ops: dict[str, dict[str, Any]] = {}
    exceptions: list[tuple[str, tuple[str, str] | str]] = []
    for path in documents(src):
        doc = read_document(path)
        section = section_of(path)
        operations = []
        for p, item in doc["paths"].items():
            for verb in VERBS:
                if verb not in item:
                    continue
                op = item[verb]
                key = op_key(verb, p)
                where = f"{path.name} {key}"
                if key in ops:
                    raise BuildError(f"{where}: (verb, path) defined twice")
                try:
                    entry, parsed = _operation(doc, section, verb, p, item, op)
                except (BuildError, lim.LimitParseError) as exc:
                    raise BuildError(f"{where}: {exc}") from exc
                exceptions.extend((parsed.group or "", e) for e in parsed.exceptions)
                ops[key] = entry
                operations.append(entry)
        defs = _ascii_formats(convert_components(doc.get("components", {}).get("schemas", {})), True)
        out[f"{path.stem}.json"] = {"section": section, "defs": defs, "operations": operations}
    apply_overlay(ops, overlay)
    check_groups(ops, overlay)
    check_exceptions(ops, exceptions)
    stale = overlay.unused()
    if stale:
        raise BuildError(f"overlay entries that no longer change anything: {', '.join(stale)}")
    _check(ops)
    for entry in ops.values():
        if entry["operation_id"] is None:
            del entry["operation_id"]
    return out


def _operation(
    doc: dict[str, Any], section: str, verb: str, path: str, item: dict[str, Any], op: dict[str, Any]
) -> tuple[dict[str, Any], lim.ParsedLimit]:
    host = _host(doc, item, op)
    category = _category(op, host)
    token_types = _token_types(op, host, category)
    parsed = lim.parse(str(op.get("description", "")))
    entry: dict[str, Any] = {
        "id": operation_id(verb, path, op),
        "http": verb.upper(),
        "path": path,
        "host": host,
        "category": category,
        # x-readonly-method; where missing, a write (docs/catalog.md)
        "read_only": op.get("x-readonly-method") is True,
        "token_types": token_types,
        "limit": _limit(parsed, token_types, f"{verb} {path}"),
        "parameters": _parameters(doc, item, op),
        "request": _request(doc, op),
        "responses": _responses(doc, op),
        "operation_id": op.get("operationId"),
    }
    if op.get("deprecated") is True:
        entry["deprecated"] = True
    if parsed.automation_block:
        entry["limit"]["automation_block"] = True
    return entry, parsed


def _check(ops: dict[str, dict[str, Any]]) -> None:
    ids = Counter(o["id"] for o in ops.values())
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise BuildError(f"operation ids used twice: {dup}")
    hosts: dict[str, set[str]] = {}
    for o in ops.values():
        hosts.setdefault(o["path"], set()).add(o["host"])
    two = {p: sorted(h) for p, h in hosts.items() if len(h) > 1}
    if two:
        raise BuildError(f"paths served by two hosts: {two}")
    for key, o in ops.items():
        missing = _needs_overlay(o["limit"], o["token_types"])
        if missing:
            raise BuildError(f"{key}: {'; '.join(missing)}: the overlay must settle it")
        if "test" in o["token_types"] and "test" not in o["limit"]["rates"]:
            raise BuildError(f"{key}: served on a sandbox but no sandbox rule gives test tokens a rate")


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def write(built: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in sorted(built.items()):
        target = out / name
        target.write_text(dumps(doc), encoding="utf-8")
        written.append(target)
    for stale in out.glob("[0-9][0-9]-*.json"):
        if stale.name not in built:
            stale.unlink()
    return written


def read_built(out: Path) -> dict[str, dict[str, Any]]:
    """The catalog documents as checked in (for the diff)."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("[0-9][0-9]-*.json"))}
