"""The package's own source, shown in a notebook: what the student reads is what runs."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any


class Source:
    """A class's or function's source: highlighted HTML in Jupyter, the plain text elsewhere
    (``print``, the text/plain output an HTML export or a test reads)."""

    def __init__(self, obj: Any) -> None:
        self.name = getattr(obj, "__qualname__", repr(obj))
        self.file = inspect.getsourcefile(obj)
        self.line = inspect.getsourcelines(obj)[1]
        self.text = textwrap.dedent(inspect.getsource(obj))

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        where = f"<p><code>{self.where}</code></p>"
        style = f"<style>{HtmlFormatter().get_style_defs('.practical3-source')}</style>"
        return style + where + highlight(self.text, PythonLexer(),
                                         HtmlFormatter(cssclass="practical3-source"))

    @property
    def where(self) -> str:
        """``practical3/models/blocks.py, line 12``: where to open it in an editor."""
        path = str(self.file)
        short = path[path.rfind("practical3/"):] if "practical3/" in path else path
        return f"{short}, line {self.line}"


def show_source(obj: Any) -> Source:
    """The source of ``obj`` (a class, function or method of the package), for display."""
    return Source(obj)
