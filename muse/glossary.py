"""The glossary of terms translations keep verbatim (config/glossary.yaml).

A bad entry is rejected on its own, with one line naming the file, the entry and what is
wrong; the good entries beside it are kept.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from muse.errors import ConfigError

log = logging.getLogger(__name__)

MAX_TERM_BYTES = 1024  # DeepL's limit for one glossary entry


@dataclass(frozen=True)
class Glossary:
    path: Path
    terms: tuple[str, ...]
    rejected: tuple[str, ...] = field(default=())

    @property
    def digest(self) -> str:
        """Short hash of the terms: part of the DeepL glossary name, so a changed list
        makes a new glossary."""
        return hashlib.sha256("\n".join(self.terms).encode()).hexdigest()[:10]

    def entries(self) -> dict[str, str]:
        """DeepL glossary entries: every term translates to itself."""
        return {t: t for t in self.terms}

    def deepl_name(self, source: str, target: str) -> str:
        return f"{name_prefix(source, target)}{self.digest}"


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
    if not isinstance(data, dict) or not isinstance(data.get("terms", []), list):
        raise ConfigError(f"glossary file {path}: expected a mapping with a 'terms' list")
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
    return Glossary(path, tuple(terms), tuple(rejected))


def default_path() -> Path:
    from muse.resources import resource_path

    return resource_path("config") / "glossary.yaml"


def from_settings(settings: object) -> Glossary:
    raw = settings["i18n.glossary_file"]  # type: ignore[index]
    return load(Path(raw).expanduser() if raw else default_path())
