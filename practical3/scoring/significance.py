"""The statistical tests and exact intervals a report's claims rest on (scipy).

A rate (k of n images) gets its exact Clopper-Pearson interval, not a bootstrap one: with a
handful of events the percentile bootstrap collapses to [0, x] (2 of 93 gives [0.00, 5.62] %,
the exact interval is [0.26, 7.55] %). Two rates are compared with Fisher's exact test, a trend
over ordered values with Spearman's rank correlation. A comparison is a finding only when its
p-value is below ``ALPHA``; otherwise the report says there is no evidence of a difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from practical3.scoring.uncertainty import LEVEL

ALPHA = 0.05  # a two-sided p-value below this decides a comparison
EXACT_RATE_INTERVAL = (f"exact (Clopper-Pearson) {LEVEL * 100:.0f} % interval of a rate k/n "
                       "(scipy.stats.binomtest), images counted as independent")
NOT_APPLICABLE = "not applicable"


def exact_rate_interval(k: int, n: int) -> list[float] | None:
    """The Clopper-Pearson ``LEVEL`` interval of the rate ``k / n``; None when ``n`` is 0."""
    if n == 0:
        return None
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=LEVEL, method="exact")
    return [float(ci.low), float(ci.high)]


def rate_entry(name: str, k: int, n: int) -> dict[str, object]:
    """``<name>_ci95``: the exact interval of the rate ``k / n``, or None with a note that the
    rate is not applicable when no image can have it (``n`` is 0: no image lacks the target)."""
    key = f"{name}_ci95"
    if n == 0:
        return {key: None, f"{key}_note": f"{NOT_APPLICABLE}: no image lacks the target"}
    return {key: exact_rate_interval(k, n), f"{key}_method": "Clopper-Pearson"}


@dataclass(frozen=True)
class Comparison:
    """A stated test's outcome: its name, statistic, two-sided p-value and whether it decides."""

    test: str
    statistic: float | None
    p_value: float | None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    def as_dict(self) -> dict[str, object]:
        return {"test": self.test, "statistic": self.statistic, "p_value": self.p_value,
                "significant": self.significant}


def fisher_two_rates(k1: int, n1: int, k2: int, n2: int) -> Comparison:
    """Fisher's exact test (two-sided) of the rates ``k1/n1`` and ``k2/n2``; its statistic is
    the sample odds ratio."""
    if min(n1, n2) == 0:
        return Comparison("Fisher's exact test", None, None)
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    odds, p = stats.fisher_exact(table, alternative="two-sided")
    return Comparison("Fisher's exact test", float(odds), float(p))


def two_samples(x: np.ndarray, y: np.ndarray) -> Comparison:
    """The Mann-Whitney U test (two-sided) of two independent samples (NaN left out)."""
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if min(len(x), len(y)) == 0:
        return Comparison("Mann-Whitney U test", None, None)
    result = stats.mannwhitneyu(x, y, alternative="two-sided")
    return Comparison("Mann-Whitney U test", float(result.statistic), float(result.pvalue))


def rank_trend(x: np.ndarray, y: np.ndarray) -> Comparison:
    """Spearman's rank correlation of ``y`` with ``x`` (NaN pairs left out), two-sided."""
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return Comparison("Spearman's rank correlation", None, None)
    rho, p = stats.spearmanr(x[ok], y[ok])
    return Comparison("Spearman's rank correlation", float(rho), float(p))
