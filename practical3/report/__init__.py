"""The written report: a template filled from one results folder, and the check that keeps
the two in agreement.

- ``render``: the template grammar, ``render`` and ``write``;
- ``context``: what placeholders may name (the results plus facts derived from the run);
- ``formats`` and ``tables``: how numbers print, and the generated tables;
- ``check``: ``report --check``, every disagreement between report, figures and results.
"""

from practical3.report.check import check
from practical3.report.render import default_report, default_template, render, write

__all__ = ["check", "default_report", "default_template", "render", "write"]
