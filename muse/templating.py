"""Jinja2 for episodes, charts and alert texts, loaded from the shipped templates/ folder.

Data text (model names, commit subjects) goes through ``md_code`` or ``md_text`` so it
cannot break the markdown, the front-matter, or leave something that looks like an
unrendered template marker.
"""

from __future__ import annotations

import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _defuse(text: str) -> str:
    # Jinja-looking markers in data would read as unrendered templates to the validator.
    return text.replace("{{", "{ {").replace("}}", "} }").replace("{%", "{ %").replace("%}", "% }")


def md_code(value: Any) -> str:
    """Inline code for an identifier, safe whatever characters it holds."""
    text = _defuse(" ".join(str(value).split())) or " "
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_text(value: Any) -> str:
    """Plain text with markdown punctuation escaped and line breaks flattened."""
    text = " ".join(str(value).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def environment():  # noqa: ANN201 - jinja2 imported lazily
    import jinja2

    from muse.resources import resource_path

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_path("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("svg", "html", "xml"), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md_code"] = md_code
    env.filters["md_text"] = md_text
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
