"""The JSON Schemas shipped in config/schemas/, and one-line messages for what breaks them."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterator

from muse.resources import resource_path

REPORT_SCHEMA = "benchmark_report.schema.json"
UI_EVENT_SCHEMA = "ui_event.schema.json"


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    return json.loads((resource_path("config") / "schemas" / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator(name: str) -> Any:
    """A jsonschema validator for a shipped schema (jsonschema imported on first use)."""
    from jsonschema import Draft202012Validator

    schema = load(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def where(path: Any) -> str:
    """``results[2].latency_p95_ms`` from a jsonschema error path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", type(None): "null",
               dict: "object", list: "array"}


def errors(name: str, doc: Any) -> Iterator[str]:
    """Every violation of schema ``name`` in ``doc``, as 'field: problem', in document order."""
    found = sorted(validator(name).iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    for err in found:
        path = list(err.absolute_path)
        if err.validator == "required":
            missing = err.message.split("'")[1] if err.message.count("'") >= 2 else "?"
            yield f"{where([*path, missing])}: missing"
            continue
        yield f"{where(path)}: {_message(err)}"


def _message(err: Any) -> str:
    got = f"{_JSON_TYPES.get(type(err.instance), type(err.instance).__name__)} {json.dumps(err.instance)[:60]}"
    if err.validator == "const":
        return f"must be {json.dumps(err.validator_value)}, got {got}"
    if err.validator == "type":
        wanted = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        return f"expected {wanted}, got {got}"
    if err.validator == "pattern":
        return f"{json.dumps(err.instance)[:60]} does not match {err.validator_value}"
    return err.message[:200]
