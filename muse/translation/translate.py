"""Translate an episode with DeepL through the protection layer (muse.translation.mdprotect).

Languages are named by muse codes (file paths, ``episodes.lang``) and mapped explicitly to
DeepL codes; see ``LANGS``. Tag handling support follows DeepL's language table
(developers.deepl.com, "Languages supported": Hindi has neither tag handling nor
glossaries); glossary support is asked from DeepL at run time
(``/v2/glossary-language-pairs``).

Per language, one request carries every unit of the document:

* tag-handling languages: ``tag_handling=xml``, ``ignore_tags=x``, units as XML;
* other languages (Hindi): no tag handling, units with opaque ``⟦N⟧`` placeholders;
* a unit whose answer lost a placeholder or tag is sent again as plain segments of human
  text (``mdprotect.segments``), so its structure never depends on the translator.

Glossary terms kept verbatim are protected in the text for EVERY language (DeepL applies a
glossary as it sees fit and flexes entries, so a glossary cannot keep a term verbatim). A
DeepL glossary is used only for terms really translated (``translations`` in the glossary
file); when DeepL's answer does not carry a glossary translation, the document is
translated once more without the glossary, those terms protected verbatim (no endless
failing runs). Glossaries are created with the lower-case language codes DeepL documents.

Every unit answer is kept in a cache keyed by the unit's hash and the language
(``<state dir>/i18n/cache/``): a translation whose deploy failed and was reverted, or an
unchanged unit of an edited episode, is not paid for again.

The deepl library retries 429 and 5xx itself (``deepl.http_client.max_network_retries``,
exponential backoff from 1 s, x1.6, jitter); muse sets the retry count and the connection
timeout from config and never retries 403 or 456.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from muse.translation import mdprotect
from muse.translation.glossary import Glossary, name_prefix
from muse.translation.languages import LANGS, LangSpec

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

SOURCE_LANG = "EN"
# DeepL limits: 50 texts per request and a 128 KiB request body; stay well below.
MAX_TEXTS_PER_REQUEST = 50
MAX_BYTES_PER_REQUEST = 96 * 1024
GLOSSARY_READY_WAIT_S = 10.0


def make_client(settings: Settings) -> Any:
    """A deepl.DeepLClient for the configured key and server URL."""
    import deepl

    from muse import __version__

    # Module-level knobs of the library (documented in its README).
    deepl.http_client.max_network_retries = settings.deepl.max_retries
    deepl.http_client.min_connection_timeout = settings.http.timeout_seconds
    client = deepl.DeepLClient(
        settings.deepl.auth_key, server_url=settings.deepl.server_url or None, send_platform_info=False
    )
    client.set_app_info("chimera-muse", __version__)
    return client


@dataclass
class DocResult:
    text: str
    lang: str
    units: int = 0
    sent: int = 0
    segment_fallbacks: list[str] = field(default_factory=list)
    kept_verbatim: list[str] = field(default_factory=list)
    billed_characters: int = 0
    glossary_id: str | None = None
    mode: str = "xml"
    requests: int = 0
    cached: int = 0  # texts answered from the cache, not sent (not billed)
    glossary_fallback: list[str] = field(default_factory=list)  # glossary terms DeepL did not apply
    fresh: dict[str, str] = field(default_factory=dict)  # cache key -> DeepL's answer, paid for in this call


class UnitCache:
    """DeepL answers by (language, hash of what was sent): one JSON file per language.
    A lost or corrupt file only costs a retranslation."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._data: dict[str, dict[str, str]] = {}
        self._dirty: set[str] = set()

    @staticmethod
    def key(text: str, *, mode: str, glossary_id: str | None) -> str:
        return hashlib.sha256(f"{mode}\0{glossary_id or ''}\0{text}".encode()).hexdigest()

    def _lang(self, lang: str) -> dict[str, str]:
        if lang not in self._data:
            try:
                data = json.loads((self.root / f"{lang.lower()}.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            self._data[lang] = data if isinstance(data, dict) else {}
        return self._data[lang]

    def get(self, lang: str, key: str) -> str | None:
        value = self._lang(lang).get(key)
        return value if isinstance(value, str) else None

    def put(self, lang: str, key: str, answer: str) -> None:
        self._lang(lang)[key] = answer
        self._dirty.add(lang)

    def save(self) -> None:
        from muse.fsutil import atomic_write_text

        for lang in sorted(self._dirty):
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write_text(self.root / f"{lang.lower()}.json", json.dumps(self._data[lang]), mode=0o600)
        self._dirty.clear()


class Translator:
    """DeepL with glossaries resolved once per run and the protection layer around it."""

    def __init__(self, client: Any, glossary: Glossary, *, cache: UnitCache | None = None) -> None:
        self.client = client
        self.glossary = glossary
        self.cache = cache
        self._pairs: set[tuple[str, str]] | None = None
        self._glossary_ids: dict[str, str | None] = {}

    # -- glossaries ---------------------------------------------------------------------------
    def glossary_pairs(self) -> set[tuple[str, str]]:
        if self._pairs is None:
            self._pairs = {(p.source_lang.upper(), p.target_lang.upper()) for p in self.client.get_glossary_languages()}
        return self._pairs

    def glossary_for(self, spec: LangSpec) -> str | None:
        """The id of a ready DeepL glossary for EN -> spec's terms really translated,
        created if needed; None when there are none or DeepL has no glossary for the pair."""
        if spec.glossary_lang in self._glossary_ids:
            return self._glossary_ids[spec.glossary_lang]
        gid = None
        if self.glossary.entries(spec.glossary_lang) and (SOURCE_LANG, spec.glossary_lang) in self.glossary_pairs():
            gid = self._ensure_glossary(spec.glossary_lang)
        self._glossary_ids[spec.glossary_lang] = gid
        return gid

    def _ensure_glossary(self, target: str) -> str | None:
        import deepl

        name = self.glossary.deepl_name(SOURCE_LANG, target)
        prefix = name_prefix(SOURCE_LANG, target)
        wanted = self.glossary.entries(target)
        found = None
        for g in self.client.list_glossaries():
            if not g.name.startswith(prefix) or g.source_lang != SOURCE_LANG or g.target_lang != target:
                continue
            if found is None and g.name == name and g.entry_count == len(wanted):
                try:
                    if self.client.get_glossary_entries(g) == wanted:
                        found = g
                        continue
                except deepl.GlossaryNotFoundException:
                    continue
            # An outdated muse glossary for this pair (terms changed): remove it.
            try:
                self.client.delete_glossary(g)
                log.info("deleted outdated DeepL glossary %s (%s)", g.name, g.glossary_id)
            except deepl.GlossaryNotFoundException:
                pass
        if found is None:
            found = self._create_glossary(name, target, wanted)
            log.info("created DeepL glossary %s (%s, %d terms)", name, found.glossary_id, len(wanted))
        deadline = time.monotonic() + GLOSSARY_READY_WAIT_S
        while not found.ready:
            if time.monotonic() > deadline:
                log.warning("DeepL glossary %s is not ready; protecting terms in the text instead", name)
                return None
            time.sleep(0.5)
            found = self.client.get_glossary(found.glossary_id)
        return found.glossary_id

    def _create_glossary(self, name: str, target: str, entries: dict[str, str]) -> Any:
        """POST /v2/glossaries with the lower-case language codes DeepL's specification lists
        (the library upper-cases them, which a spec-checking server refuses). Through the
        library's own call, so its retries and error mapping apply."""
        import deepl

        tsv = "\n".join(f"{a}\t{b}" for a, b in entries.items())
        status, content, body = self.client._api_call(
            "v2/glossaries",
            json={
                "name": name,
                "source_lang": SOURCE_LANG.lower(),
                "target_lang": target.lower(),
                "entries_format": "tsv",
                "entries": tsv,
            },
        )
        self.client._raise_for_status(status, content, body, glossary=True)
        return deepl.GlossaryInfo.from_json(body)

    # -- translation ------------------------------------------------------------------------
    def _send(
        self, texts: Sequence[str], spec: LangSpec, *, xml: bool, glossary_id: str | None, result: DocResult
    ) -> list[str]:
        mode = "xml" if xml else "text"
        keys = [UnitCache.key(t, mode=mode, glossary_id=glossary_id) for t in texts]
        answers: list[str | None] = [self.cache.get(spec.deepl, k) if self.cache else None for k in keys]
        todo = [i for i, a in enumerate(answers) if a is None]
        result.cached += len(texts) - len(todo)
        fresh = (
            self._send_uncached([texts[i] for i in todo], spec, xml=xml, glossary_id=glossary_id, result=result)
            if todo
            else []
        )
        for i, answer in zip(todo, fresh):
            answers[i] = answer
            result.fresh[keys[i]] = answer
        return [a or "" for a in answers]

    def remember(self, result: DocResult) -> None:
        """Keep the answers of a translation that passed its checks (a rejected one is not
        cached, so the next run asks DeepL again)."""
        if self.cache is None or not result.fresh:
            return
        deepl_code = LANGS[result.lang].deepl
        for key, answer in result.fresh.items():
            self.cache.put(deepl_code, key, answer)
        self.cache.save()

    def _send_uncached(
        self, texts: Sequence[str], spec: LangSpec, *, xml: bool, glossary_id: str | None, result: DocResult
    ) -> list[str]:
        out: list[str] = []
        for batch in _batches(texts):
            kwargs: dict[str, Any] = {
                "source_lang": SOURCE_LANG,
                "target_lang": spec.deepl,
                "split_sentences": "nonewlines",
                "preserve_formatting": True,
            }
            if xml:
                kwargs.update(
                    tag_handling="xml",
                    ignore_tags=[mdprotect.IGNORE_TAG],
                    non_splitting_tags=[*mdprotect.PAIR_TAGS, mdprotect.IGNORE_TAG],
                )
            if glossary_id:
                kwargs["glossary"] = glossary_id
            answers = self.client.translate_text(batch, **kwargs)
            result.requests += 1
            for a in answers:
                out.append(a.text)
                result.billed_characters += int(getattr(a, "billed_characters", 0) or 0)
        if len(out) != len(texts):
            raise RuntimeError(f"DeepL returned {len(out)} translations for {len(texts)} texts")
        return out

    def translate(self, text: str, spec: LangSpec) -> DocResult:
        """Translate one document (front-matter + markdown) into spec's language."""
        glossary_id = self.glossary_for(spec)
        result = self._translate(text, spec, glossary_id, self.glossary.terms)
        if glossary_id:
            missed = self._glossary_misses(text, result.text, spec)
            if missed:
                # DeepL applies a glossary as it sees fit (it flexes entries): once, translate
                # without it and keep those terms verbatim, rather than fail every run.
                log.warning(
                    "%s: DeepL did not apply the glossary to %s; translating again without it, keeping them verbatim",
                    spec.code,
                    ", ".join(missed),
                )
                again = self._translate(text, spec, None, (*self.glossary.terms, *missed))
                again.billed_characters += result.billed_characters
                again.requests += result.requests
                again.fresh = {**result.fresh, **again.fresh}
                again.glossary_fallback = missed
                return again
        return result

    def _glossary_misses(self, source: str, translated: str, spec: LangSpec) -> list[str]:
        entries = self.glossary.entries(spec.glossary_lang)
        found = {source[a:b].casefold() for a, b in mdprotect.find_terms(source, tuple(entries))}
        folded = translated.casefold()
        return [src for src, dst in entries.items() if src.casefold() in found and dst.casefold() not in folded]

    def _translate(self, text: str, spec: LangSpec, glossary_id: str | None, terms: Sequence[str]) -> DocResult:
        prot = mdprotect.protect(text, terms=terms)
        result = DocResult(
            text,
            spec.code,
            units=len(prot.units),
            kept_verbatim=list(prot.kept_verbatim),
            glossary_id=glossary_id,
            mode="xml" if spec.tag_handling else "opaque",
        )
        contents: list[str | None] = [None] * len(prot.units)
        sent: list[tuple[int, str]] = []
        fallback: list[int] = []
        for i, unit in enumerate(prot.units):
            if not unit.translatable:
                continue
            payload = mdprotect.to_xml(unit) if spec.tag_handling else mdprotect.to_opaque(unit)
            if payload is None:
                fallback.append(i)
            else:
                sent.append((i, payload))
        result.sent = len(sent)
        if sent:
            answers = self._send(
                [p for _, p in sent], spec, xml=spec.tag_handling, glossary_id=glossary_id, result=result
            )
            for (i, _), answer in zip(sent, answers):
                unit = prot.units[i]
                try:
                    contents[i] = (
                        mdprotect.from_xml(unit, answer) if spec.tag_handling else mdprotect.from_opaque(unit, answer)
                    )
                except mdprotect.RestoreError as exc:
                    log.info("%s %s: %s; sending its text as segments", spec.code, unit.where, exc)
                    fallback.append(i)
        if fallback:
            fallback.sort()
            result.segment_fallbacks = [prot.units[i].where for i in fallback]
            per_unit = [mdprotect.segments(prot.units[i]) for i in fallback]
            flat = [s for segs in per_unit for s in segs]
            answers = self._send(flat, spec, xml=False, glossary_id=glossary_id, result=result) if flat else []
            pos = 0
            for i, segs in zip(fallback, per_unit):
                contents[i] = mdprotect.from_segments(prot.units[i], answers[pos : pos + len(segs)])
                pos += len(segs)
        result.text = mdprotect.apply(prot, contents, lang=spec.code)
        return result


def _batches(texts: Sequence[str]) -> Iterable[list[str]]:
    batch: list[str] = []
    size = 0
    for t in texts:
        n = len(t.encode("utf-8")) + 16
        if batch and (len(batch) >= MAX_TEXTS_PER_REQUEST or size + n > MAX_BYTES_PER_REQUEST):
            yield batch
            batch, size = [], 0
        batch.append(t)
        size += n
    if batch:
        yield batch
