"""The official OpenAPI documents as the judge: schemathesis generates requests from WB's documents (and
from ours) and sends them to a running server with a valid token. No 5xx, every response conforms to the
document (status declared, content type, headers, body valid), no request without or with a broken token
passes, and no other HTTP method than the documented one is accepted (405 with Allow).

Bounded and repeatable for CI: schemathesis' deterministic mode, one worker, a fixed number of examples per
operation. Limits are lifted (a config of `[limits.<bucket id>]` for every bucket of the catalog), so that the
runs meet the operations and not the limiter: the limits have their own suites, and a 429 accepted as
conforming would let most operations (burst 1) answer nothing else.

Two runs of WB's documents:

- the General section's three operations answered by code, against `01-general.yaml` as written (50
  examples each); one deviation configured, not hidden: the document marks `from` and `fromID` of the news
  method as both optional, while its description (and WB) require one of them, so a request with neither is
  answered 400, which `positive_data_acceptance` is told to accept for that method;
- every operation of the 14 documents (302), merged into one document (component names prefixed by the
  document's number) and amended by `amend()` with what the gateway is documented to do beyond them (each
  amendment says why, docs/catalog.md "Served documents" lists them), a few examples each.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import SPECS, Server, serving
from tests.hardening.conftest import COMMON, ERROR_KEYS, python_env
from wbseller.catalog import load as load_catalog

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = 50
OPERATIONS = ["/ping", "/api/communications/v2/news", "/api/v1/seller-info"]
NEWS_DEVIATION = """
[[operations]]
include-path = "/api/communications/v2/news"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "429"]
"""
CONFIG = f"""
[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true

[checks]
enabled = true
{NEWS_DEVIATION}"""

# --- every operation: measured on the 2-CPU machine, the run takes ~60 s of CPU at 5 examples -----------

ALL_EXAMPLES = 5
DOCUMENTS = 14
ALL_OPERATIONS = 302
PROBLEM = "application/problem+json"
VERBS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
COMPONENT_KINDS = ("schemas", "parameters", "responses", "requestBodies", "examples", "headers")
# What WB's Go services decode an integer into (int64 without a format), as the request checks read it.
INT64 = (-(2**63), 2**63 - 1)
INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": INT64,
    "uint": (0, 2**64 - 1),
    "uint64": (0, 2**64 - 1),
}
# The WB error body (FACTS.md): exactly these keys, of these types.
ERROR_SCHEMA = {
    "type": "object",
    "required": sorted(ERROR_KEYS),
    "properties": {
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "requestId": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "origin": {"type": "string"},
        "status": {"type": "integer"},
        "statusText": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": False,
}
# Responses that cannot validate as the document writes them (docs/catalog.md, "Unsatisfiable"; the same
# four as tests/schemas/test_generated.py's UNSATISFIABLE): an allOf whose members give `data` two types.
UNSATISFIABLE = [
    ("GET", "/api/feedbacks/v1/pins"),
    ("POST", "/api/feedbacks/v1/pins"),
    ("DELETE", "/api/feedbacks/v1/pins"),
    ("GET", "/api/feedbacks/v1/pins/count"),
]
# Schema-valid requests the document itself refuses with a 400 for the seller's state or a rule its
# schema does not carry (01-general.yaml: "user is not in current supplier" for a user id of no one here;
# the phone numbers of the documented countries only): a 400 is an answer there, not a refusal of valid data.
STATE_400 = [
    ("DELETE", "/api/v1/user"),
    ("PUT", "/api/v1/users/access"),
    ("POST", "/api/v1/invite"),
]
STATE_400_RULE = (  # and no "mostly rejected" warning: most random ids and phones are refused, rightly
    'checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "429"]\nwarnings = false'
)
# A literal path whose other verbs are a template's: `PUT /api/v3/passes/offices` is `PUT
# /api/v3/passes/{passId}` with passId `offices`, refused 400 (not an integer) rather than 405, as WB's
# router does; schemathesis counts it an undeclared method.
TEMPLATE_CATCHES = ["/api/v3/passes/offices", "/api/v1/offers/thumb", "/api/v1/offers/author"]
# Multipart bodies with a list of files: one file and a list of one are the same part on the wire, and a
# part is bytes, so a list of files "of the wrong type" cannot be sent (schemathesis counts it accepted).
FILE_LISTS = [("POST", "/api/v1/content/gallery"), ("POST", "/api/v1/seller/message")]


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _schema(node: Any) -> Any:
    """A schema as the gateway reads it: integers bounded by their format (int64 without one), WB's
    `x-nullable: true` as `nullable`, and a nullable enum taking null (both the catalog's reading)."""
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _schema(value)
        else:
            out[key] = value
    if out.get("nullable") is True or out.get("x-nullable") is True:
        out["nullable"] = True
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if out.get("type") == "integer":
        low, high = INT_RANGES.get(str(out.get("format")), INT64)
        if not isinstance(out.get("minimum"), int | float) or out["minimum"] < low:
            out["minimum"] = low
        if not isinstance(out.get("maximum"), int | float) or out["maximum"] > high:
            out["maximum"] = high
    return out


def _form(doc: dict[str, Any], schema: Any, required: bool) -> Any:
    """A multipart schema as the checks read it (docs/requests.md): a required body has a declared part,
    and a required list of parts has one (an empty list is no part at all)."""
    schema = _schema(copy.deepcopy(_resolve(doc, schema)))
    if not isinstance(schema, dict) or not schema.get("properties"):
        return schema
    props = schema["properties"]
    for name in schema.get("required", []):
        if name in props and _resolve(doc, props[name]).get("type") == "array":
            props[name] = {**_resolve(doc, props[name]), "minItems": 1}
    if required and not schema.get("required"):
        if len(props) == 1:
            schema["required"] = list(props)
        else:
            schema["minProperties"] = 1
    return schema


def _gateway_responses(doc: dict[str, Any], op: dict[str, Any], checked: bool, body: bool) -> None:
    """The refusals the gateway makes before any handler, as the WB error body (FACTS.md: every error body
    is application/problem+json): 401 (token), 403 (token type, seller), 429 (limit), 400 for a request
    that breaks the document (422 where WB declares 422 and not 400: docs/requests.md), 413 for a body over
    the operation's size. Where WB declares the status with another body, ours is added beside it."""
    responses = op.setdefault("responses", {})
    statuses = ["401", "403", "429"]
    if checked:
        statuses.append("422" if "422" in responses and "400" not in responses else "400")
    if body:
        statuses.append("413")
    error = {"schema": {"$ref": "#/components/schemas/wbseller.Error"}}
    for status in statuses:
        if status not in responses:
            responses[status] = {"description": "refused by the gateway", "content": {PROBLEM: error}}
        else:
            declared = responses[status] = copy.deepcopy(_resolve(doc, responses[status]))
            declared.setdefault("content", {}).setdefault(PROBLEM, error)


def amend(doc: dict[str, Any]) -> dict[str, Any]:
    """One of WB's documents as the gateway is documented to read it (docs/requests.md, docs/catalog.md):

    - integers are bounded by their format, int64 without one (what WB's Go services decode them into;
      the checks refuse `2**63`);
    - `x-nullable: true` (WB Digital) is `nullable`, and a nullable enum takes null, as the catalog reads
      them;
    - an empty value of an optional non-string query parameter is no value (`allowEmptyValue`);
    - multipart: a required body has a declared part, a required list of parts has one;
    - the gateway's own refusals are declared, as the WB error body (`_gateway_responses`).
    """
    doc = copy.deepcopy(doc)
    components = doc.setdefault("components", {})
    components["schemas"] = {n: _schema(s) for n, s in components.get("schemas", {}).items()}
    components["schemas"]["wbseller.Error"] = ERROR_SCHEMA
    for item in doc["paths"].values():
        shared = item.pop("parameters", [])
        for verb in VERBS:
            op = item.get(verb)
            if op is None:
                continue
            params = []
            for ref in [*shared, *op.get("parameters", [])]:
                p = copy.deepcopy(_resolve(doc, ref))
                if "schema" in p:
                    p["schema"] = _schema(p["schema"])
                    kind = _resolve(doc, p["schema"]).get("type")
                    if p["in"] == "query" and not p.get("required") and kind not in ("string", None):
                        p["allowEmptyValue"] = True
                params.append(p)
            if params:
                op["parameters"] = params
            body = op.get("requestBody")
            if body is not None:
                body = op["requestBody"] = copy.deepcopy(_resolve(doc, body))
                for media_type, media in body.get("content", {}).items():
                    if "schema" not in media:
                        continue
                    if media_type == "multipart/form-data":
                        media["schema"] = _form(doc, media["schema"], bool(body.get("required")))
                    else:
                        media["schema"] = _schema(media["schema"])
            _gateway_responses(doc, op, bool(params) or body is not None, body is not None)
    return doc


def _prefixed(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The document with its component names prefixed (its references too), to be merged with others."""
    text = json.dumps(doc, ensure_ascii=False)
    for kind in COMPONENT_KINDS:
        text = text.replace(f'"#/components/{kind}/', f'"#/components/{kind}/{prefix}')
    out: dict[str, Any] = json.loads(text)
    for kind in COMPONENT_KINDS:
        if kind in out.get("components", {}):
            out["components"][kind] = {prefix + k: v for k, v in out["components"][kind].items()}
    return out


def merged_official_documents() -> dict[str, Any]:
    """WB's 14 documents, amended, as one (WB's paths are unique across them; the same schema names are
    not, so `02.Error` and `03.Error`)."""
    files = sorted(SPECS.glob("[0-9][0-9]-*.yaml"))
    assert len(files) == DOCUMENTS, files
    out: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "WB's 14 documents, amended", "version": "1"},
        "security": [{"HeaderApiKey": []}],
        "paths": {},
        "components": {},
    }
    for f in files:
        doc = _prefixed(amend(yaml.safe_load(f.read_text(encoding="utf-8"))), f"{f.name[:2]}.")
        for path, item in doc["paths"].items():
            assert path not in out["paths"], f"{path} is in two documents"
            out["paths"][path] = item
        for kind, values in doc.get("components", {}).items():
            out["components"].setdefault(kind, {}).update(values)
    out["components"]["securitySchemes"] = {
        "HeaderApiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}
    }
    return out


def lifted_limits() -> str:
    """A config lifting every bucket of the catalog, for every token type it limits."""
    lifted = "{ period = 1, limit = 1000000, burst = 1000000 }"
    buckets: dict[str, set[str]] = {}
    for op in load_catalog().operations:
        buckets.setdefault(op.limit.group or op.id, set()).update(op.limit.rates)
    return "".join(
        f"\n[limits.{bucket}]\n" + "".join(f"rates.{t} = {lifted}\n" for t in sorted(types))
        for bucket, types in sorted(buckets.items())
    )


@pytest.fixture(scope="module")
def unlimited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module whose every limit is lifted (the failed-auth limit too)."""
    with serving(tmp_path_factory, "unlimited", lifted_limits()) as srv:
        yield srv


def run_schemathesis(
    tmp_path: Path, location: str, base_url: str, token: str, *extra: str, config: str = CONFIG
) -> tuple[dict[str, Any], str]:
    """One schemathesis run that must find no issue; its HAR log (every request and response it made)
    and its output."""
    if not SCHEMATHESIS.exists():
        pytest.fail(
            f"schemathesis is not installed in this environment ({SCHEMATHESIS}): pip install -e '.[dev]'"
        )
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(config)
    har = tmp_path / "run.har"
    args = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config_file),
        "run",
        location,
        "--url",
        base_url,
        "--header",
        f"Authorization: {token}",
        "--workers",
        "1",
        "--no-color",
        "--report",
        "har",
        "--report-har-path",
        str(har),
        *extra,
    ]
    done = subprocess.run(
        args, cwd=tmp_path, env=python_env(), capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    (tmp_path / "schemathesis.out").write_text(output)  # the whole report, beside the HAR log
    assert token not in output  # schemathesis masks the Authorization header in its report
    assert done.returncode == 0, output[-12000:]
    assert "No issues found" in output, output[-12000:]
    log: dict[str, Any] = json.loads(har.read_text())
    return log, output


def judge(log: dict[str, Any], figures: dict[str, Any], allow: str | None = None) -> Counter[str]:
    """Our own look at every exchange: never a 5xx; a refusal of the platform (401, 405, 429) is the WB
    error body, an operation's own refusal the WB body or the shape its document declares (which
    schemathesis has validated: methods/shapes.py), with the request id of `X-Request-Id` where it has
    one; a 405 names the verbs allowed (`allow`, where all the operations run have the same)."""
    entries = log["log"]["entries"]
    statuses: Counter[str] = Counter()
    shaped = 0
    for e in entries:
        status = e["response"]["status"]
        statuses[str(status)] += 1
        assert status < 500, e
        if status < 400:
            continue
        headers = {h["name"].lower(): h["value"] for h in e["response"]["headers"]}
        request_id = headers["x-request-id"]
        assert re.fullmatch("[0-9a-f]{32}", request_id), headers
        content = e["response"]["content"]
        body = json.loads(content["text"]) if "json" in content["mimeType"] else content.get("text")
        if content["mimeType"] == PROBLEM and isinstance(body, dict) and set(body) == ERROR_KEYS:
            assert body["status"] == status
            assert body["requestId"] == request_id
        else:
            assert status not in (401, 405, 429), e  # the platform's: one body everywhere
            shaped += 1
            if isinstance(body, dict) and ("requestId" in body or "request_id" in body):
                assert body.get("requestId", body.get("request_id")) == request_id, body
        if status == 405:
            verbs = [v.strip() for v in headers["allow"].split(",")]
            assert "OPTIONS" in verbs and len(verbs) > 1, headers
            assert allow is None or headers["allow"] == allow, headers
    figures["requests"] = len(entries)
    figures["statuses"] = dict(sorted(statuses.items()))
    figures["shaped refusals"] = shaped
    assert statuses["200"] > 0 and statuses["401"] > 0 and statuses["405"] > 0, statuses
    return statuses


def test_the_official_spec_judges_the_general_methods(
    unlimited_server: Server, tmp_path: Path, figures: dict[str, Any]
) -> None:
    srv = unlimited_server
    token = srv.token(srv.seller(), "personal", "all")
    spec = SPECS / "01-general.yaml"
    assert spec.exists(), spec
    include = [arg for path in OPERATIONS for arg in ("--include-path", path)]
    log, _ = run_schemathesis(tmp_path, str(spec), f"{srv.base_url}{COMMON}", token, *include)
    judge(log, figures, allow="GET, HEAD, OPTIONS")
    tested = {
        e["request"]["url"].split("?")[0].removeprefix(f"{srv.base_url}{COMMON}")
        for e in log["log"]["entries"]
    }
    assert set(OPERATIONS) <= tested, tested
    figures["operations"] = len(OPERATIONS)
    figures["max examples per operation"] = MAX_EXAMPLES


def _operation_rule(verb: str, path: str, rule: str) -> str:
    return f'\n[[operations]]\ninclude-path = "{path}"\ninclude-method = "{verb}"\n{rule}\n'


def all_operations_config(doc: dict[str, Any]) -> str:
    """The run's settings, and the few operations of `doc` that need one of their own (each says why)."""

    def has(verb: str, path: str) -> bool:
        return verb.lower() in doc["paths"].get(path, {})

    text = f"""
[generation]
max-examples = {ALL_EXAMPLES}
deterministic = true

[phases]
# Generated answers are not state: a resource one answer names is not one the next call finds, and a
# value drawn from an answer (a null id of a nullable field) is no valid input.
stateful.enabled = false
fuzzing.extra-data-sources.responses = false

[checks]
enabled = true
# A 413 (a body over the operation's size) is a refusal too.
negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "413", "422", "429"]
"""
    if has("GET", "/api/communications/v2/news"):
        text += NEWS_DEVIATION
    for verb, path in UNSATISFIABLE:
        if has(verb, path):
            text += _operation_rule(verb, path, "checks.response_schema_conformance.enabled = false")
    for verb, path in FILE_LISTS:
        if has(verb, path):
            text += _operation_rule(verb, path, "checks.negative_data_rejection.enabled = false")
    return text + state_400(doc) + template_catches(doc)


def state_400(doc: dict[str, Any]) -> str:
    """`STATE_400` of `doc`: a 400 is among the answers of valid data there."""
    return "".join(
        _operation_rule(verb, path, STATE_400_RULE)
        for verb, path in STATE_400
        if verb.lower() in doc["paths"].get(path, {})
    )


def template_catches(doc: dict[str, Any]) -> str:
    """`TEMPLATE_CATCHES` of `doc`: no undeclared-method check there."""
    return "".join(
        f'\n[[operations]]\ninclude-path = "{path}"\nchecks.unsupported_method.enabled = false\n'
        for path in TEMPLATE_CATCHES
        if path in doc["paths"]
    )


def split_by_token(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what a personal token may call, the rest): `x-token-types` without personal is service only
    (two operations of 01-general). schemathesis takes one token per run (its per-operation headers leak
    into the others)."""
    personal = {**doc, "paths": {}}
    service = {**doc, "paths": {}}
    for path, item in doc["paths"].items():
        for verb, op in item.items():
            types = op.get("x-token-types") if verb in VERBS else None
            target = personal if types is None or "personal" in types else service
            if types is not None and target is service:
                assert "service" in types, (verb, path, types)
            target["paths"].setdefault(path, {})[verb] = op
    return personal, service


def operation_count(doc: dict[str, Any]) -> int:
    return sum(verb in item for item in doc["paths"].values() for verb in VERBS)


def halves(doc: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    """`doc`'s paths dealt into `parts` documents (every other path, in order): runs that can go at once."""
    paths = sorted(doc["paths"])
    return [{**doc, "paths": {p: doc["paths"][p] for p in paths[i::parts]}} for i in range(parts)]


def run_split(
    tmp_path: Path,
    doc: dict[str, Any],
    srv: Server,
    config: Callable[[dict[str, Any]], str],
    parts: int = 1,
) -> tuple[Counter[str], list[int], int]:
    """`doc` in runs each with a token its operations take (personal, else service), the personal part
    dealt into `parts` runs; all of them at once (schemathesis is the dearer side of each exchange, and
    one run keeps one core busy). The statuses of all, the number of operations each token's runs
    tested, and how many refusals came in an operation's own shape."""
    sid = srv.seller()
    for name in ("jam", "pin-feedbacks"):  # the gated operations take it; the judge tests answers, not gates
        srv.cli("seller", "subscribe", "--seller", sid, "--name", name)
    service = srv.cli("service", "create", "--name", "Spec judge", "--categories", "all")
    tokens = [srv.token(sid, "personal", "all"), srv.token(sid, "service", service=service)]
    personal, service_part = split_by_token(doc)
    runs: list[tuple[dict[str, Any], str]] = [(part, tokens[0]) for part in halves(personal, parts)]
    runs.append((service_part, tokens[1]))
    counts = [operation_count(personal), operation_count(service_part)]

    def run(i: int, part: dict[str, Any], token: str) -> tuple[dict[str, Any], str] | None:
        count = operation_count(part)
        if not count:
            return None
        where = tmp_path / f"run-{i}"
        where.mkdir()
        spec = where / "spec.json"
        spec.write_text(json.dumps(part, ensure_ascii=False))
        log, output = run_schemathesis(where, str(spec), srv.base_url, token, config=config(part))
        assert all(t not in output for t in tokens)
        assert re.search(rf"Tested: {count}\b", output), output[-3000:]
        return log, output

    with ThreadPoolExecutor(len(runs)) as pool:
        done = list(pool.map(lambda r: run(r[0], *r[1]), enumerate(runs)))
    statuses: Counter[str] = Counter()
    figures: dict[str, Any] = {}
    shaped = 0
    for result in done:
        if result is not None:
            statuses += judge(result[0], figures)
            shaped += figures["shaped refusals"]
    assert statuses["403"] == 0, statuses  # every operation met a token that may call it
    return statuses, counts, shaped


def test_the_official_documents_judge_every_operation(
    unlimited_server: Server, tmp_path: Path, figures: dict[str, Any]
) -> None:
    """All 302 operations of WB's 14 documents, amended (`amend`), against the bare address: each path
    reaches its home host. A few examples per operation, every phase but the stateful one."""
    statuses, counts, shaped = run_split(
        tmp_path, merged_official_documents(), unlimited_server, all_operations_config, parts=2
    )
    assert sum(counts) == ALL_OPERATIONS and counts[1] == 2, counts
    figures["requests"] = sum(statuses.values())
    figures["statuses"] = dict(sorted(statuses.items()))
    figures["shaped refusals"] = shaped
    figures["operations"] = ALL_OPERATIONS
    figures["max examples per operation"] = ALL_EXAMPLES


# Our documents as written, no amendment: the General section (9 operations, answered by code) with as
# many examples as the official General run and the stateful phase, and the FBS orders (35: templated
# paths, marketplace-api's 4xx costs; generated answers) with a few and without it: a generated answer is
# not state, so a supply a DELETE answered for is no more gone than the one a GET then names.
OUR_SECTIONS = {"general": (MAX_EXAMPLES, True), "orders-fbs": (ALL_EXAMPLES, False)}


def test_our_own_openapi_documents_judge_the_server(
    unlimited_server: Server, tmp_path: Path, figures: dict[str, Any]
) -> None:
    """Our section documents, fetched from the server itself, against the bare address (routing by path).
    What a document cannot say is configured as for WB's: news' one-of-two parameters, and a literal path
    whose other verbs a template takes (`TEMPLATE_CATCHES`)."""
    srv = unlimited_server
    for section, (examples, stateful) in OUR_SECTIONS.items():
        r = httpx.get(f"{srv.base_url}/openapi/{section}.json", timeout=10)
        assert r.status_code == 200, r.text

        def config(part: dict[str, Any], examples: int = examples, stateful: bool = stateful) -> str:
            text = (
                f"[generation]\nmax-examples = {examples}\ndeterministic = true\n\n[checks]\nenabled = true\n"
            )
            if not stateful:
                text += "\n[phases]\nstateful.enabled = false\n"
            news = part["paths"].get("/api/communications/v2/news", {})
            return text + (NEWS_DEVIATION if "get" in news else "") + state_400(part) + template_catches(part)

        where = tmp_path / section
        where.mkdir()
        statuses, counts, shaped = run_split(where, r.json(), srv, config)
        assert sum(counts) == sum(op.section == section for op in load_catalog().operations)
        figures[section] = {
            "operations": sum(counts),
            "statuses": dict(sorted(statuses.items())),
            "shaped refusals": shaped,
        }
