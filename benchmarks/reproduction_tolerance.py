"""How far a twin report moves on "another CPU": the same pipeline run twice from scratch with
different thread counts (a stand-in for another machine's floating-point order), every printed
number compared as `make reproduce` compares them. The largest difference per unit sets
``practical3.reproduce.TOLERANCE``.

    OMP_NUM_THREADS=1 python benchmarks/reproduction_tolerance.py run demo t1
    OMP_NUM_THREADS=2 python benchmarks/reproduction_tolerance.py run demo t2
    python benchmarks/reproduction_tolerance.py compare /tmp/practical3-tolerance/demo-t1 \\
        /tmp/practical3-tolerance/demo-t2
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from pathlib import Path

SCRATCH = Path("/tmp/practical3-tolerance")


def run(profile_name: str, variant: str) -> None:
    """The twin's pipeline at ``profile_name`` into ``SCRATCH/<profile>-<variant>/``, with its
    own runs and cache (nothing reused)."""
    out = SCRATCH / f"{profile_name}-{variant}"
    os.environ["PRACTICAL3_CACHE"] = str(out / "cache")  # this script's process only
    import torch

    from practical3 import pipeline
    from practical3.data.synth import synthesize
    from practical3.training.profiles import profile

    spec = profile(profile_name).synth
    root = synthesize(out / "data", per_class=spec.per_class, size=spec.size, seed=spec.seed)
    start = time.perf_counter()
    pipeline.run(profile_name, root, results_dir=out / "results", figures_dir=out / "figures",
                 report_path=out / "report.md", runs=out / "runs", progress=False)
    print(f"{torch.get_num_threads()} thread(s): {time.perf_counter() - start:.0f} s")


def compare(first: Path, second: Path) -> None:
    """The largest difference per unit between two runs' reports, and every number that is
    not identical."""
    from practical3 import reproduce
    from practical3.evaluation.results import load_parts

    rows = reproduce.compare(load_parts(first / "results"), load_parts(second / "results"))
    worst: dict[str, float] = defaultdict(float)
    for row in rows:
        if row.difference is not None:
            worst[row.unit] = max(worst[row.unit], abs(row.difference))
    moved = [row for row in rows if row.verdict not in ("identical", "shown")]
    print(f"largest difference per unit: {dict(worst)}; {len(moved)} of {len(rows)} numbers "
          "not identical:")
    for row in moved:
        print(f"  {row.part} {row.name}: {row.committed} vs {row.regenerated}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("profile")
    one.add_argument("variant")
    two = sub.add_parser("compare")
    two.add_argument("first", type=Path)
    two.add_argument("second", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        run(args.profile, args.variant)
    else:
        compare(args.first, args.second)


if __name__ == "__main__":
    main()
