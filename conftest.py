"""Shared test set-up: every output of a test session (figures, runs, decoded caches) goes to a
scratch folder, never over the project's committed figures or into its data/ and runs/.

Set at import, before any test imports practical3, so notebook kernels started by nbval
inherit the same folders.
"""

import os
import tempfile

_scratch = tempfile.mkdtemp(prefix="practical3-test-")
for _name in ("FIGURES", "RUNS", "CACHE"):
    os.environ.setdefault(f"PRACTICAL3_{_name}", os.path.join(_scratch, _name.lower()))
