"""Jinja2 for episodes, charts and alert texts, loaded from the shipped templates/ folder.

Data text (model names, commit subjects) goes through the filters of :mod:`muse.escaping`
(``md_code``, ``md_cell_code``, ``md_text``, ``md_cell``, ``svg_text``) so it cannot break
the markdown, the front-matter, or leave something that looks like an unrendered template
marker.
"""

from __future__ import annotations

from typing import Any

from muse.escaping import md_cell, md_cell_code, md_code, md_label, md_text, svg_text, yaml_text

__all__ = ["environment", "md_code", "md_text", "render"]


def environment():  # -> jinja2.Environment (jinja2 is imported lazily)
    import jinja2

    from muse.resources import resource_path

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_path("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("svg", "html", "xml", "svg.j2", "html.j2", "xml.j2"), default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md_code"] = md_code
    env.filters["md_text"] = md_text
    env.filters["md_cell"] = md_cell
    env.filters["md_label"] = md_label
    env.filters["md_cell_code"] = md_cell_code
    env.filters["svg_text"] = svg_text
    env.filters["yaml_text"] = yaml_text
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
