"""A loopback DeepL API (v2): the one DeepL fake of the test suite (i18n and health probes).

Follows developers.deepl.com: ``POST /v2/translate`` with a JSON body (deepl-python 1.x
sends JSON: text list, source_lang, target_lang, tag_handling, ignore_tags, glossary_id,
...), answering ``{"translations": [{"detected_source_language", "text",
"billed_characters"}]}``; ``/v2/glossaries`` (create with TSV entries, list, get, entries
as TSV, delete), ``/v2/glossary-language-pairs``, ``/v2/languages``, ``/v2/usage``; auth by
``Authorization: DeepL-Auth-Key <key>``; errors as ``{"message": ...}`` with 400, 403
(key), 404 (glossary), 429 (too many requests), 456 (quota exceeded).

Its "translation" is deterministic and visible: every word (a run of letters) gets a
language marker (``de·word``); what sits inside an ignored tag, digits and punctuation stay
as they are. With ``tag_handling=xml`` the text is parsed as XML (a malformed one is a 400,
as with DeepL's strict parser), so tests prove what protection did. Every request is
recorded; ``fail_next`` scripts faults (``body=b""`` for an answer without a body).

As unkind as the real service:

* glossaries are applied as DeepL applies them: a matched term becomes the entry's target,
  FLEXED for the context where DeepL would (``flex``: by default German and Chinese change
  ``tokens/s``), so an entry mapping a term to itself does not keep it verbatim;
* glossary creation takes the lower-case language codes of DeepL's specification
  (``"en"``, ``"de"``) and answers 400 to ``"EN"``, as the spec-checking mock does;
* ``drop_markup``: targets whose answers lose the markup of the first ignored element
  (DeepL moves or drops tags); ``mangle_placeholders``: targets whose ⟦N⟧ get damaged;
* a wrong key is a 403 WITHOUT a body, as DeepL answers it;
* ``/v2/usage`` answers in the shape of the key's plan: a free key (``:fx``)
  ``{character_count, character_limit}``; a pro key adds ``products``,
  ``api_key_character_count``/``_limit``, ``start_time``/``end_time`` (and a limit of
  10^12 without cost control); ``fail_next(503, path="/v2/usage")`` makes it fail;
* ``hang`` delays every answer (timeouts).
"""

from __future__ import annotations

import re
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import parse_qs, urlparse

from fakes import FakeHTTP, Request

KEY = "0c7e2f4a-5b9d-4e1f-8a3c-6d2b9e0f1a7c:fx"
TARGETS = {"DE": "German", "ES": "Spanish", "FR": "French", "IT": "Italian", "JA": "Japanese", "KO": "Korean",
           "NL": "Dutch", "PL": "Polish", "PT-PT": "Portuguese", "PT-BR": "Portuguese (Brazilian)",
           "RU": "Russian", "SV": "Swedish", "UK": "Ukrainian", "ZH": "Chinese", "ZH-HANS": "Chinese (simplified)",
           "ZH-HANT": "Chinese (traditional)", "HI": "Hindi", "EN-GB": "English (British)",
           "EN-US": "English (American)"}
NO_TAG_HANDLING = {"HI"}  # DeepL's language table: Hindi without tag handling
GLOSSARY_LANGS = {"DE", "EN", "ES", "FR", "IT", "JA", "KO", "NL", "PL", "PT", "RU", "SV", "ZH"}
_WORD = re.compile(r"[^\W\d_]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)+|\d+")


def root(lang: str) -> str:
    return lang.upper().split("-")[0]


@dataclass
class FakeDeepL:
    key: str = KEY
    char_limit: int | None = None  # 456 once a translate request would pass it
    char_count: int = 0
    mangle_placeholders: set[str] = field(default_factory=set)  # targets whose ⟦N⟧ get damaged
    inject: dict[str, str] = field(default_factory=dict)  # target -> text appended to each translation
    glossaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    # target root -> {term (casefolded): the form DeepL gives it in context}
    flex: dict[str, dict[str, str]] = field(default_factory=lambda: {"DE": {"tokens/s": "Token/s"},
                                                                      "ZH": {"tokens/s": "词元/秒"}})
    drop_markup: set[str] = field(default_factory=set)
    hang: float = 0.0
    _faults: list[list[Any]] = field(default_factory=list)  # [path, status, body, requests to let through]

    def __post_init__(self) -> None:
        self.http = FakeHTTP()
        h = self.http
        h.on("POST", "/v2/translate", self._guard(self._translate))
        h.on("GET", "/v2/languages", self._guard(self._languages))
        h.on("GET", "/v2/glossary-language-pairs", self._guard(self._pairs))
        h.on("POST", "/v2/glossaries", self._guard(self._create_glossary))
        h.on("GET", "/v2/glossaries", self._guard(self._get_glossaries))
        h.on("DELETE", "/v2/glossaries", self._guard(self._delete_glossary))
        h.on("GET", "/v2/usage", self._guard(self._usage))

    # -- test helpers ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.http.url

    def close(self) -> None:
        self.http.close()

    def fail_next(self, status: int, *, times: int = 1, after: int = 0, path: str = "/v2/translate",
                  body: dict[str, Any] | bytes | None = None) -> None:
        """Answer the next `times` requests to `path` (after letting `after` through) with `status`."""
        default = {400: "Bad request", 403: "Forbidden", 429: "Too many requests", 456: "Quota Exceeded",
                   500: "Internal server error", 503: "Service unavailable"}.get(status, "error")
        for i in range(times):
            self._faults.append([path, status, {"message": default} if body is None else body,
                                 after if i == 0 else 0])

    def requests_to(self, path: str, method: str | None = None) -> list[Request]:
        return [r for r in self.http.requests if urlparse(r.path).path == path and (method is None or
                                                                                   r.method == method)]

    def translate_bodies(self, target: str | None = None) -> list[dict[str, Any]]:
        out = [r.json() for r in self.requests_to("/v2/translate")]
        return [b for b in out if target is None or b.get("target_lang", "").upper() == target.upper()]

    # -- plumbing -----------------------------------------------------------------------------------
    def _guard(self, handler: Any) -> Any:
        def wrapped(req: Request) -> Any:
            if self.hang:
                time.sleep(self.hang)
            if req.headers.get("authorization") != f"DeepL-Auth-Key {self.key}":
                return 403, b""  # DeepL answers a wrong key with a bare 403
            path = urlparse(req.path).path
            for i, fault in enumerate(self._faults):
                if path.startswith(fault[0]):
                    if fault[3] > 0:
                        fault[3] -= 1
                        break
                    del self._faults[i]
                    return fault[1], fault[2]
            return handler(req)

        return wrapped

    # -- translate ------------------------------------------------------------------------------------
    def _translate(self, req: Request) -> Any:
        if not req.headers.get("content-type", "").startswith("application/json"):
            return 400, {"message": "expected a JSON body"}
        body = req.json()
        texts, target = body.get("text"), str(body.get("target_lang", "")).upper()
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return 400, {"message": "Parameter 'text' not specified."}
        if target not in TARGETS:
            return 400, {"message": "Value for 'target_lang' not supported."}
        tags = body.get("tag_handling")
        if tags is not None and tags not in ("xml", "html"):
            return 400, {"message": "Value for 'tag_handling' not supported."}
        if tags and target in NO_TAG_HANDLING:
            return 400, {"message": f"Tag handling is not supported for target_lang {target}."}
        terms: dict[str, str] = {}
        if body.get("glossary_id"):
            g = self.glossaries.get(body["glossary_id"])
            if g is None:
                return 400, {"message": "Invalid glossary_id"}
            if not body.get("source_lang") or g["source_lang"] != root(body["source_lang"]) or \
                    g["target_lang"] != root(target):
                return 400, {"message": "Glossary does not match the language pair"}
            flexed = self.flex.get(root(target), {})
            terms = {a: flexed.get(a.casefold(), b) for a, b in g["entries"].items()}
        chars = sum(len(t) for t in texts)
        if self.char_limit is not None and self.char_count + chars > self.char_limit:
            return 456, {"message": "Quota Exceeded"}
        ignore = set(body.get("ignore_tags") or [])
        out = []
        for t in texts:
            try:
                text = self._xml(t, target, ignore, terms) if tags == "xml" else self._words(t, target, terms)
            except ET.ParseError:
                return 400, {"message": "Tag handling parsing failed, please check input."}
            if tags is None and target in self.mangle_placeholders:
                text = re.sub("\u27e6(\\d+)\u27e7", lambda m: f"[ {m.group(1)} ]", text, count=1)
            if tags == "xml" and target in self.drop_markup:
                text = re.sub(r"<x\b[^>]*>(.*?)</x>", lambda m: m.group(1), text, count=1, flags=re.S)
            text += self.inject.get(target, "")
            out.append({"detected_source_language": "EN", "text": text, "billed_characters": len(t)})
        self.char_count += chars
        return 200, {"translations": out}

    def _words(self, text: str, target: str, terms: dict[str, str]) -> str:
        return fake_words(text, target, terms)

    def _xml(self, text: str, target: str, ignore: set[str], terms: dict[str, str]) -> str:
        return fake_xml(text, target, ignore, terms)

    # -- languages, usage ---------------------------------------------------------------------------
    def _languages(self, req: Request) -> Any:
        query = parse_qs(urlparse(req.path).query)
        form = parse_qs(req.body.decode() if req.body else "")
        kind = (query.get("type") or form.get("type") or ["source"])[0]
        if kind == "target":
            return 200, [{"language": k, "name": v, "supports_formality": k in ("DE", "FR", "ES", "IT")}
                         for k, v in TARGETS.items()]
        return 200, [{"language": k, "name": v} for k, v in TARGETS.items() if "-" not in k] + \
            [{"language": "EN", "name": "English"}]

    def _pairs(self, req: Request) -> Any:
        langs = sorted(GLOSSARY_LANGS)
        return 200, {"supported_languages": [{"source_lang": a.lower(), "target_lang": b.lower()}
                                             for a in langs for b in langs if a != b]}

    def _usage(self, req: Request) -> Any:
        limit = self.char_limit if self.char_limit is not None else 1_000_000_000_000
        if self.key.endswith(":fx"):
            return 200, {"character_count": self.char_count, "character_limit": limit}
        return 200, {"character_count": self.char_count, "character_limit": limit,
                     "products": [{"product_type": "translate", "api_key_character_count": self.char_count,
                                   "character_count": self.char_count}],
                     "api_key_character_count": self.char_count, "api_key_character_limit": 0,
                     "start_time": "2026-05-01T00:00:00Z", "end_time": "2026-06-01T00:00:00Z"}

    # -- glossaries -----------------------------------------------------------------------------------
    def _info(self, g: dict[str, Any]) -> dict[str, Any]:
        return {"glossary_id": g["glossary_id"], "name": g["name"], "ready": True,
                "source_lang": g["source_lang"].lower(), "target_lang": g["target_lang"].lower(),
                "creation_time": "2026-01-15T10:00:00.123456Z", "entry_count": len(g["entries"])}

    def _create_glossary(self, req: Request) -> Any:
        body = req.json() if req.headers.get("content-type", "").startswith("application/json") else {
            k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        src, tgt = str(body.get("source_lang", "")), str(body.get("target_lang", ""))
        if src != src.lower() or tgt != tgt.lower():
            # DeepL's specification lists the glossary languages in lower case; the spec-checking mock refuses others.
            return 400, {"message": "Value for 'source_lang' or 'target_lang' not supported: use the lower-case "
                                    "codes of the glossary language pairs"}
        src, tgt = src.upper(), tgt.upper()
        if src not in GLOSSARY_LANGS or tgt not in GLOSSARY_LANGS or src == tgt:
            return 400, {"message": "Unsupported glossary source and target language pair"}
        if body.get("entries_format", "tsv") != "tsv" or not body.get("name"):
            return 400, {"message": "Invalid glossary entries or name"}
        entries = {}
        for line in str(body.get("entries", "")).splitlines():
            if line:
                a, _, b = line.partition("\t")
                entries[a] = b
        if not entries:
            return 400, {"message": "Invalid glossary entries provided"}
        gid = str(uuid.uuid4())
        self.glossaries[gid] = {"glossary_id": gid, "name": body["name"], "source_lang": src,
                                "target_lang": tgt, "entries": entries}
        return 201, self._info(self.glossaries[gid])

    def _glossary_from_path(self, req: Request) -> tuple[str, str]:
        parts = urlparse(req.path).path.strip("/").split("/")  # v2 glossaries <id> [entries]
        return (parts[2] if len(parts) > 2 else ""), (parts[3] if len(parts) > 3 else "")

    def _get_glossaries(self, req: Request) -> Any:
        gid, sub = self._glossary_from_path(req)
        if not gid:
            return 200, {"glossaries": [self._info(g) for g in self.glossaries.values()]}
        g = self.glossaries.get(gid)
        if g is None:
            return 404, {"message": "Glossary not found"}
        if sub == "entries":
            tsv = "\n".join(f"{a}\t{b}" for a, b in g["entries"].items())
            return 200, tsv.encode(), {"Content-Type": "text/tab-separated-values; charset=utf-8"}
        return 200, self._info(g)

    def _delete_glossary(self, req: Request) -> Any:
        gid, _ = self._glossary_from_path(req)
        if self.glossaries.pop(gid, None) is None:
            return 404, {"message": "Glossary not found"}
        return 204, b""


def localize_number(number: str, target: str) -> str:
    """What a translator may do to an unprotected number: German swaps the decimal and
    thousands separators, Hindi writes Devanagari digits."""
    if root(target) == "DE":
        return number.translate(str.maketrans(",.", ".,"))
    if root(target) == "HI":
        return number.translate(str.maketrans("0123456789", "०१२३४५६७८९"))
    return number


def fake_words(text: str, target: str, terms: Sequence[str] | dict[str, str] = ()) -> str:
    """Mark every word (a run of letters) with the target language and localize numbers;
    glossary terms (``{source: target}``) become their target instead."""
    entries = dict(terms) if isinstance(terms, dict) else {t: t for t in terms}
    text = _NUMBER.sub(lambda m: localize_number(m.group(0), target), text)
    marker = root(target).lower() + "\u00b7"
    spans: list[tuple[int, int, str]] = []
    low = text.lower()
    for term in sorted(entries, key=len, reverse=True):
        i = low.find(term.lower())
        while i >= 0:
            if not any(a <= i < b for a, b, _ in spans):
                spans.append((i, i + len(term), entries[term]))
            i = low.find(term.lower(), i + 1)
    spans.sort()
    out, pos = [], 0
    for a, b, replacement in spans + [(len(text), len(text), "")]:
        for m in _WORD.finditer(text, pos, a):
            out.append(text[pos:m.start()])
            out.append(marker + m.group(0))
            pos = m.end()
        out.append(text[pos:a])
        out.append(replacement)
        pos = b
    return "".join(out)


def fake_xml(text: str, target: str, ignore: set[str], terms: Sequence[str] | dict[str, str] = ()) -> str:
    """fake_words on the text of an XML fragment, leaving ignored elements alone."""
    top = ET.fromstring(f"<deeplroot>{text}</deeplroot>")

    def walk(elem: ET.Element) -> None:
        if elem.tag not in ignore:
            elem.text = fake_words(elem.text, target, terms) if elem.text else elem.text
            for child in elem:
                walk(child)
        for child in elem:
            if child.tail:
                child.tail = fake_words(child.tail, target, terms)

    walk(top)
    out = ET.tostring(top, encoding="unicode")
    return out[len("<deeplroot>"):-len("</deeplroot>")] if out != "<deeplroot />" else ""
