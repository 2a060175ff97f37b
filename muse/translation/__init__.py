"""Translating published episodes with DeepL: markdown protection, the glossary and
the checks a translation must pass. Imports the core and :mod:`muse.publishing`
(the HTML check)."""
