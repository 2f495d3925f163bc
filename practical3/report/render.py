"""The written report: ``report/template.md`` filled from a results folder.

The template is prose with placeholders, so no result is ever typed by hand:

- ``{{ lung.metrics.lung.all.dice_imagewise | pct }}``: a dotted path into the context
  (``report.context``), with a formatter from ``FORMATS``; floats must name one.
- ``{{ table:reference }}``: a generated Markdown table (``TABLES``); ``{{ table:segmentation:
  infection }}`` one of a model's (``MODEL_TABLES``, for the ``infection`` or ``lung`` model).
- ``{{ if PATH }} ... {{ else }} ... {{ endif }}``: text kept when PATH is truthy (not nested).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from practical3.base.atomic import write_text
from practical3.base.errors import TemplateError
from practical3.base.paths import report_dir
from practical3.base.paths import results_dir as results_default
from practical3.base.text import MISSING
from practical3.evaluation.comparison import COMPARISON_FILE
from practical3.evaluation.results import load_parts
from practical3.evaluation.seed_spread import spread_of
from practical3.report.context import context
from practical3.report.formats import FORMATS
from practical3.report.tables import MODEL_TABLES, TABLES

_BLOCK = re.compile(r"\{\{ if ([\w.\-]+) \}\}(.*?)(?:\{\{ else \}\}(.*?))?\{\{ endif \}\}",
                    re.DOTALL)
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


def default_template() -> Path:
    """The report's prose with placeholders: ``report/template.md``."""
    return report_dir() / "template.md"


def default_report() -> Path:
    """The generated report: ``report/report.md``."""
    return report_dir() / "report.md"


def comparison_of(results_dir: str | Path | None) -> Path | None:
    """The comparison folder the report includes: ``<results>/comparison`` when it holds one."""
    folder = Path(results_dir or results_default()) / "comparison"
    return folder if (folder / COMPARISON_FILE).is_file() else None


def _plain(value: Any) -> str:
    if isinstance(value, float):
        raise TemplateError(f"the float {value} needs a formatter ({', '.join(FORMATS)})")
    return MISSING if value is None else str(value)


def _lookup(ctx: dict[str, Any], path: str) -> Any:
    value: Any = ctx
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            known = ", ".join(value) if isinstance(value, dict) else "nothing below a value"
            raise TemplateError(f"{{{{ {path} }}}}: no {key!r} in the results (known: {known})")
        value = value[key]
    return value


def _fill(expression: str, ctx: dict[str, Any]) -> str:
    if expression.startswith("table:"):
        name, _, model = expression.removeprefix("table:").partition(":")
        if model:
            if name not in MODEL_TABLES:
                raise TemplateError(f"{{{{ {expression} }}}}: no such model table; use one of "
                                    f"{', '.join(MODEL_TABLES)}")
            return MODEL_TABLES[name](_lookup(ctx, model))
        if name not in TABLES:
            raise TemplateError(f"{{{{ {expression} }}}}: no such table; use one of "
                                f"{', '.join(TABLES)}")
        return TABLES[name](ctx)
    path, _, fmt = (part.strip() for part in expression.partition("|"))
    if fmt and fmt not in FORMATS:
        raise TemplateError(f"{{{{ {expression} }}}}: unknown format {fmt!r}; use one of "
                            f"{', '.join(FORMATS)}")
    value = _lookup(ctx, path)
    return FORMATS[fmt](value) if fmt else _plain(value)


def figures_link(report_path: str | Path | None = None,
                 figures: str | Path | None = None) -> str:
    """How a report at ``report_path`` links the figures folder ``figures`` (relative); by
    default ``../figures``, beside the report's folder, as ``report/report.md`` links
    ``figures/``."""
    if figures is None:
        return "../figures"
    report = Path(report_path or default_report()).resolve()
    return Path(os.path.relpath(Path(figures).resolve(), report.parent)).as_posix()


def render(results_dir: str | Path | None = None, template: str | Path | None = None,
           link: str = "../figures") -> str:
    """The report's Markdown for the results in ``results_dir``, its figures linked under
    ``link``: same results, same text."""
    template = Path(template or default_template())
    parts = load_parts(results_dir)
    folder = Path(results_dir or results_default())
    ctx = context(parts, comparison_of(results_dir), spread_of(folder, parts))
    ctx["figures_link"] = link
    text = template.read_text(encoding="utf-8")
    try:
        text = _BLOCK.sub(lambda m: m[2] if _lookup(ctx, m[1]) else (m[3] or ""), text)
        return _PLACEHOLDER.sub(lambda m: _fill(m[1], ctx), text)
    except TemplateError as err:
        raise TemplateError(f"{template}: {err}") from None


def write(results_dir: str | Path | None = None, report_path: str | Path | None = None,
          template: str | Path | None = None, figures: str | Path | None = None) -> Path:
    """Render the report and write it atomically to ``report_path`` (default
    ``report/report.md``), linking the figures in ``figures`` (default ``figures/``)."""
    report_path = Path(report_path or default_report())
    return write_text(report_path, render(results_dir, template,
                                          figures_link(report_path, figures)))
