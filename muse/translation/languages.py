"""The target languages muse translates into, and how DeepL names them.

Shared by the translator and the glossary (which keys its translations by DeepL's glossary
language); it imports nothing of muse but the errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from muse.errors import UsageError


@dataclass(frozen=True)
class LangSpec:
    code: str  # muse code: posts_i18n/<code>/, episodes.lang
    deepl: str  # DeepL target_lang
    glossary_lang: str  # DeepL glossaries use the root language (ZH, not ZH-HANS)
    tag_handling: bool  # DeepL supports tag_handling=xml for this target
    name: str


# muse code -> DeepL. Tag handling per DeepL's "Languages supported" table.
LANGS: dict[str, LangSpec] = {
    s.code: s
    for s in (
        LangSpec("de", "DE", "DE", True, "German"),
        LangSpec("es", "ES", "ES", True, "Spanish"),
        LangSpec("fr", "FR", "FR", True, "French"),
        LangSpec("it", "IT", "IT", True, "Italian"),
        LangSpec("ja", "JA", "JA", True, "Japanese"),
        LangSpec("ko", "KO", "KO", True, "Korean"),
        LangSpec("nl", "NL", "NL", True, "Dutch"),
        LangSpec("pl", "PL", "PL", True, "Polish"),
        LangSpec("pt", "PT-PT", "PT", True, "Portuguese (European)"),
        LangSpec("pt-br", "PT-BR", "PT", True, "Portuguese (Brazilian)"),
        LangSpec("ru", "RU", "RU", True, "Russian"),
        LangSpec("sv", "SV", "SV", True, "Swedish"),
        LangSpec("uk", "UK", "UK", True, "Ukrainian"),
        LangSpec("zh", "ZH-HANS", "ZH", True, "Chinese (simplified)"),
        LangSpec("zh-hant", "ZH-HANT", "ZH", True, "Chinese (traditional)"),
        LangSpec("hi", "HI", "HI", False, "Hindi"),
    )
}


def resolve_langs(value: str | Iterable[str]) -> list[LangSpec]:
    """Muse language codes ('de,zh,hi' or a list) -> specs; UsageError names unknown ones."""
    codes = [c.strip().lower() for c in (value.split(",") if isinstance(value, str) else value) if c.strip()]
    unknown = [c for c in codes if c not in LANGS]
    if unknown:
        raise UsageError(f"unknown language(s) {', '.join(unknown)}; known: {', '.join(sorted(LANGS))}")
    if not codes:
        raise UsageError("no languages given")
    return [LANGS[c] for c in dict.fromkeys(codes)]
