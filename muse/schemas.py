"""The JSON Schemas shipped in config/schemas/, and one-line messages for what breaks them."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any, Iterator

from muse.resources import resource_path

REPORT_SCHEMA = "benchmark_report.schema.json"
UI_EVENT_SCHEMA = "ui_event.schema.json"


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    return json.loads((resource_path("config") / "schemas" / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator(name: str, strict_integers: bool = False) -> Any:
    """A jsonschema validator for a shipped schema (jsonschema imported on first use).

    ``strict_integers``: ``type: integer`` takes only a JSON integer literal (``3``), not
    ``3.0`` or ``3e0``, which JSON Schema otherwise counts as integers; a reader that stores
    the value in an integer column must not guess.
    """
    from jsonschema import Draft202012Validator, validators

    schema = load(name)
    Draft202012Validator.check_schema(schema)
    if not strict_integers:
        return Draft202012Validator(schema)
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return validators.extend(Draft202012Validator, type_checker=checker)(schema)


def where(path: Any) -> str:
    """``results[2].latency_p95_ms`` from a jsonschema error path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_JSON_TYPES = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    type(None): "null",
    dict: "object",
    list: "array",
}


def errors(name: str, doc: Any, *, strict_integers: bool = False) -> Iterator[str]:
    """Every violation of schema ``name`` in ``doc``, as 'field: problem', in document order."""
    found = sorted(validator(name, strict_integers).iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    for err in found:
        path = list(err.absolute_path)
        if err.validator == "required":
            missing = err.message.split("'")[1] if err.message.count("'") >= 2 else "?"
            yield f"{where([*path, missing])}: missing"
            continue
        yield f"{where(path)}: {_message(err)}"


def non_finite(doc: Any, path: tuple[Any, ...] = ()) -> str:
    """The first NaN or Infinity in ``doc`` (Python's json reads them), as 'field: ...'; ''."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return f"{where(path)}: {doc!r} is not a finite number (NaN and Infinity are not JSON numbers)"
    if isinstance(doc, dict):
        items: Any = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        return ""
    for key, value in items:
        found = non_finite(value, (*path, key))
        if found:
            return found
    return ""


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
