"""Numbers bound to facts (muse.analysis.evidence): what `muse council trace` and the validator see.

Each test renders a small body the way the council does (facts printed through their
markers, then stripped), writes the sidecar, and checks the verdict a reader of the trace
gets: which numbers are traced to which fact, on which line, and which are not.
Gaps found by mutation testing (issue 24).
"""

from __future__ import annotations

import pytest

from muse.analysis.evidence import Facts, MAX_KEYS, sha256, sidecar, strip_markers, trace


def _render(template: str, facts: Facts, **values: object) -> tuple[str, dict]:
    body, occ = strip_markers(template.format(**values))
    doc, _ = sidecar(episode=1, body=body, facts=facts, occurrences=occ)
    return body, doc


def _verdicts(body: str, doc: dict) -> list[tuple[str, int, str | None]]:
    return [(t.number, t.line, t.fact["id"] if t.traced else None) for t in trace(body, doc)]


def test_printed_facts_are_traced_by_place_and_line() -> None:
    facts = Facts()
    p95 = facts.add(1234.0, label="p95", query="q_p95", unit="ms")
    runs = facts.add(12, label="runs", query="q_runs")
    body, doc = _render("Intro line.\nThe p95 was {a} over {b} runs;\nagain {a}.\n", facts, a=p95, b=runs)
    assert body == "Intro line.\nThe p95 was 1,234 ms over 12 runs;\nagain 1,234 ms.\n"
    assert _verdicts(body, doc) == [("1,234", 2, "E1"), ("12", 2, "E2"), ("1,234", 3, "E1")]
    assert doc["body_sha256"] == sha256(body)
    # The sidecar records where each number was printed, in body characters.
    assert doc["occurrences"] == [{"fact": "E1", "offset": 24, "length": 8},
                                  {"fact": "E2", "offset": 38, "length": 2},
                                  {"fact": "E1", "offset": 53, "length": 8}]


def test_a_number_typed_by_hand_or_shifted_by_an_edit_is_untraced() -> None:
    facts = Facts()
    f = facts.add(42, label="answer", query="q")
    body, doc = _render("It is {f}.\n", facts, f=f)
    assert _verdicts(body, doc) == [("42", 1, "E1")]
    # A hand-typed number, even one equal to a fact's value, is not traced by value.
    assert _verdicts(body + "Also 42 and 7.\n", doc) == [("42", 1, "E1"), ("42", 2, None), ("7", 2, None)]
    # An edit before the fact shifts it off its recorded span: the number no longer traces.
    assert _verdicts("So: " + body, doc) == [("42", 1, None)]
    # A span that covers only part of a longer number does not trace it.
    assert _verdicts(body.replace("42", "427"), doc) == [("427", 1, None)]


def test_broken_occurrences_are_ignored_not_fatal() -> None:
    facts = Facts()
    f = facts.add(5, label="five", query="q")
    body, doc = _render("{f} items\n", facts, f=f)
    doc["occurrences"] = [{"fact": "E1"}, {"offset": "x", "length": 1, "fact": "E1"}, "junk",
                          {"fact": "E9", "offset": 0, "length": 1}, *doc["occurrences"]]
    assert _verdicts(body, doc) == [("5", 1, "E1")]


@pytest.mark.parametrize("block", [
    "```\nrun 1234 took 99 ms\n```\n",
    "~~~sql\nSELECT 1234\n~~~\n",
    "    indented 1234 code\n",
    "![chart 1234](ep-1.svg)\n",
    "see `model-7b-q4` and [the run](https://x/runs/1234)\n",
])
def test_numbers_in_code_images_and_link_targets_are_not_claims(block: str) -> None:
    facts = Facts()
    f = facts.add(3, label="three", query="q")
    body, doc = _render("Top {f}.\n" + block + "Then 8 here.\n", facts, f=f)
    lines = body.count("\n")
    # Only the fact and the hand-typed 8 after the block count, at their own lines.
    assert _verdicts(body, doc) == [("3", 1, "E1"), ("8", lines, None)]


def test_a_closed_code_fence_ends_the_code() -> None:
    body = "```\n1\n```\n2 after\n```\n3\n```\n4 after\n"
    assert [t.number for t in trace(body, {"facts": [], "occurrences": []})] == ["2", "4"]


def test_trailing_comma_is_not_part_of_the_number() -> None:
    assert [t.number for t in trace("Counts 1,234, 56, and 7.", {})] == ["1,234", "56", "7"]


def test_unbalanced_marker_is_refused() -> None:
    facts = Facts()
    f = facts.add(1, label="one", query="q")
    with pytest.raises(ValueError, match="unbalanced fact marker"):
        strip_markers(str(f)[:-1] + " text")  # lost its end marker
    with pytest.raises(ValueError, match="unbalanced fact marker"):
        strip_markers("text " + str(f)[-1])  # a stray end marker
    assert strip_markers("plain 1 text") == ("plain 1 text", [])


def test_the_same_fact_is_registered_once_and_a_different_one_gets_its_own_id() -> None:
    facts = Facts()
    a = facts.add(1500.0, label="p95", query="q", params={"day": "2026-01-01"})
    again = facts.add(1500.0, label="p95", query="q", params={"day": "2026-01-01"})
    other_day = facts.add(1500.0, label="p95", query="q", params={"day": "2026-01-02"})
    other_label = facts.add(1500.0, label="p50", query="q", params={"day": "2026-01-01"})
    other_value = facts.add(1600.0, label="p95", query="q", params={"day": "2026-01-01"})
    assert again is a and a.display == "1,500"
    assert [f.id for f in facts.items] == ["E1", "E2", "E3", "E4"]
    assert {other_day.id, other_label.id, other_value.id} == {"E2", "E3", "E4"}
    assert facts.by_id("E3") is other_label


def test_row_keys_are_capped_and_the_rest_counted() -> None:
    facts = Facts()
    few = facts.add(1, label="few", query="q", keys=["r1", "r2"])
    many = facts.add(2, label="many", query="q", keys=[f"r{i}" for i in range(MAX_KEYS + 7)])
    exact = facts.add(3, label="exact", query="q", keys=[f"r{i}" for i in range(MAX_KEYS)])
    assert (few.keys, few.more_keys) == (["r1", "r2"], 0)
    assert len(many.keys) == MAX_KEYS and many.keys[-1] == f"r{MAX_KEYS - 1}" and many.more_keys == 7
    assert (len(exact.keys), exact.more_keys) == (MAX_KEYS, 0)
    assert few.as_dict()["more_row_keys"] == 0 and many.as_dict()["more_row_keys"] == 7


def test_sidecar_numbers_facts_in_order_of_first_use_with_derived_facts_after() -> None:
    facts = Facts()
    unused = facts.add(9, label="never printed", query="q0")
    base = facts.add(100, label="before", query="q1")
    after = facts.add(80, label="after", query="q2")
    change = facts.add(-0.2, "{:+.0%}", label="change", query="", kind="derived",
                       rule={"name": "ratio", "args": {"facts": [base.id, after.id]}})
    hidden = facts.add(0.5, label="hidden ratio", query="", kind="derived",
                       rule={"name": "ratio", "args": {"facts": [unused.id]}})
    body, doc = _render("Now {c}, from {b}.\n", facts, c=change, b=base)
    by_label = {f["label"]: f for f in doc["facts"]}
    # Printed first, in order of use; then the unprinted derived fact; then the facts the
    # derived ones were computed from that the text never printed, in the derived facts' order.
    assert [f["label"] for f in doc["facts"]] == ["change", "before", "hidden ratio", "after", "never printed"]
    assert [f["id"] for f in doc["facts"]] == ["E1", "E2", "E3", "E4", "E5"]
    assert by_label["change"]["rule"]["args"]["facts"] == ["E2", "E4"]
    assert by_label["hidden ratio"]["rule"]["args"]["facts"] == ["E5"]
    assert [o["fact"] for o in doc["occurrences"]] == ["E1", "E2"]
    assert _verdicts(body, doc) == [("-20%", 1, "E1"), ("100", 1, "E2")]
    assert hidden.id == "E5"  # the registry's own ids are unchanged


def test_line_numbers_count_a_leading_blank_line() -> None:
    """A post body usually starts with the blank line after the front-matter; the trace's
    line numbers must still match the file's lines in an editor."""
    facts = Facts()
    f = facts.add(42, label="answer", query="q")
    body, doc = _render("\nIt is {f}.\n\nAnd 7.\n", facts, f=f)
    assert _verdicts(body, doc) == [("42", 2, "E1"), ("7", 4, None)]
