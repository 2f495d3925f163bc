"""How long each notebook takes, as measured: one table that the notebooks' pages and the
course guide (``docs/course.md``) print from, never a number typed on a page.

Each time was measured by running the notebooks headless with nbclient, one after the other
in a fresh clone's state, with ``python -m practical3.course.render OUT --profile NAME``
(``make notebooks-real`` for ``laptop``), which prints every notebook's seconds. A profile or
a platform without a row here is "not measured yet".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from practical3.session import Session

CPU_2 = "2 CPU cores"  # the project's development machine


@dataclass(frozen=True)
class Timing:
    """One measured time: a notebook at a profile on a platform, run headless from start to end."""

    notebook: str  # "01" .. "04"
    profile: str
    platform: str  # "cpu" or "cuda"
    seconds: float
    machine: str
    measured: str  # the date
    note: str = ""  # what the time includes, when it needs saying

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return (f"{self.seconds:.0f} s at `{self.profile}` on {self.machine}, measured "
                f"{self.measured}{note}")


MEASURED: tuple[Timing, ...] = (
    Timing("01", "demo", "cpu", 7, CPU_2, "2026-12-04"),
    Timing("02", "demo", "cpu", 6, CPU_2, "2026-12-04"),
    Timing("03", "demo", "cpu", 57, CPU_2, "2026-12-04",
           "your loop 26 s for its 30 epochs, then train's 30 epochs at 0.8 s each"),
    Timing("04", "demo", "cpu", 8, CPU_2, "2026-12-04", "the run of notebook 03 reused"),
    Timing("01", "laptop", "cpu", 14, CPU_2, "2026-12-04", "real COVID-QU-Ex, 3,728 images"),
    Timing("02", "laptop", "cpu", 6, CPU_2, "2026-12-04"),
    Timing("03", "laptop", "cpu", 46, CPU_2, "2026-12-04",
           "your loop 38 s for its 20 epochs; train's run already trained, reused"),
    Timing("04", "laptop", "cpu", 19, CPU_2, "2026-12-04", "the run of notebook 03 reused"),
)


def notebook_time(notebook: str, session: Session) -> str:
    """What a notebook's page says of its time: every measured time, and whether the
    session's profile on its platform ("cpu", "cuda") has been measured."""
    profile, platform = session.cfg.profile, session.device.split(":")[0]
    found = [t for t in MEASURED if t.notebook == notebook]
    here = [t for t in found if (t.profile, t.platform) == (profile, platform)]
    lines = [f"Time: {t}" for t in found] or ["Time: not measured yet"]
    if not here:
        lines.append(f"At `{profile}` on {platform}: not measured yet.")
    return "\n".join(lines)


def guide_time(notebook: str, profile: str = "demo", platform: str = "cpu") -> str:
    """The course guide's time for ``notebook``: "95 s", or "not measured"."""
    found = [t for t in MEASURED if (t.notebook, t.profile, t.platform) == (notebook, profile,
                                                                         platform)]
    return f"{found[0].seconds:.0f} s" if found else "not measured"
