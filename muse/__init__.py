"""Chimera Muse: an operations toolkit for teams shipping LLM products."""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"

# In a source checkout (and an editable install) agents/ sits beside muse/; the wheel
# installs it as muse/agents. Extending the package path lets `import muse.agents.x`
# work in both layouts without installing a generic top-level `agents` module.
# (os.path rather than pathlib: this runs on every `muse --help`.)
_here = _os.path.dirname(_os.path.abspath(__file__))
_parent = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "agents")) and _os.path.isfile(
    _os.path.join(_parent, "agents", "__init__.py")
):
    __path__.append(_parent)
