"""The glossary (config/glossary.yaml): terms every translation keeps verbatim, and terms
really translated, per language.

* ``terms``: kept exactly as written (product names, units, quantisation formats). They are
  protected in the text for every language (DeepL never sees them as words to translate),
  so no provider behaviour can change their form.
* ``translations``: ``{lang: {english: target}}`` for terms that ARE translated (muse
  language codes, e.g. ``de``). Only these go into a DeepL glossary for the pair.

A bad entry is rejected on its own, with one line naming the file, the entry and what is
wrong; the good entries beside it are kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from muse.errors import ConfigError
from muse.translation.languages import LANGS

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

MAX_TERM_BYTES = 1024  # DeepL's limit for one glossary entry


@dataclass(frozen=True)
class Glossary:
    path: Path
    terms: tuple[str, ...]
    rejected: tuple[str, ...] = field(default=())
    # DeepL glossary language (upper case, e.g. DE, ZH) -> {english term: translation}
    translations: dict[str, dict[str, str]] = field(default_factory=dict)

    def digest(self, target: str) -> str:
        """Short hash of a pair's entries: part of the DeepL glossary name, so changed
        entries make a new glossary."""
        entries = sorted(self.entries(target).items())
        return hashlib.sha256("\n".join(f"{a}\t{b}" for a, b in entries).encode()).hexdigest()[:10]

    def entries(self, target: str) -> dict[str, str]:
        """DeepL glossary entries for EN -> ``target``: only the terms really translated."""
        return dict(self.translations.get(target.upper(), {}))

    def deepl_name(self, source: str, target: str) -> str:
        return f"{name_prefix(source, target)}{self.digest(target)}"


def name_prefix(source: str, target: str) -> str:
    return f"muse-{source.lower()}-{target.lower()}-"


def _term_problem(term: object) -> str | None:
    if not isinstance(term, str):
        return f"expected a string, got {type(term).__name__}"
    if not term.strip():
        return "empty term"
    if term != term.strip():
        return "leading or trailing whitespace"
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 or ch in "\u2028\u2029" for ch in term):
        return "holds a tab, line break or control character"
    if len(term.encode()) > MAX_TERM_BYTES:
        return f"longer than {MAX_TERM_BYTES} bytes"
    return None


def load(path: Path) -> Glossary:
    """Read and validate a glossary file; raise ConfigError only if it is unreadable."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"glossary file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read glossary file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"glossary file {path}: malformed YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        data = {}
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("terms", []), list)
        or not isinstance(data.get("translations") or {}, dict)
    ):
        raise ConfigError(
            f"glossary file {path}: expected a mapping with a 'terms' list (and optionally a 'translations' mapping)"
        )
    terms: list[str] = []
    seen: set[str] = set()
    rejected: list[str] = []
    for i, term in enumerate(data.get("terms") or []):
        problem = _term_problem(term)
        if problem is None and str(term).casefold() in seen:
            problem = "duplicate term"
        if problem:
            line = f"{path}: terms[{i}] ({term!r}): {problem}; entry skipped"
            log.warning(line)
            rejected.append(line)
            continue
        seen.add(str(term).casefold())
        terms.append(str(term))
    translations = _translations(path, data.get("translations") or {}, seen, rejected)
    return Glossary(path, tuple(terms), tuple(rejected), translations)


def _translations(path: Path, data: dict, verbatim: set[str], rejected: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for lang, entries in data.items():
        spec = LANGS.get(str(lang).lower())
        if spec is None or not isinstance(entries, dict):
            line = (
                f"{path}: translations[{lang!r}]: "
                + ("unknown language" if spec is None else "expected a mapping of english term: translation")
                + "; entries skipped"
            )
            log.warning(line)
            rejected.append(line)
            continue
        pair = out.setdefault(spec.glossary_lang, {})
        for source, target in entries.items():
            problem = _term_problem(source) or _term_problem(target)
            if problem is None and str(source).casefold() in verbatim:
                problem = "also listed in terms (kept verbatim)"
            if problem:
                line = f"{path}: translations[{lang!r}][{source!r}]: {problem}; entry skipped"
                log.warning(line)
                rejected.append(line)
                continue
            pair[str(source)] = str(target)
    return {k: v for k, v in out.items() if v}


def default_path() -> Path:
    from muse.resources import resource_path

    return resource_path("config") / "glossary.yaml"


def from_settings(settings: Settings) -> Glossary:
    raw = settings.i18n.glossary_file
    return load(Path(raw).expanduser() if raw else default_path())
