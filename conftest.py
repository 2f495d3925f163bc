"""Shared test set-up: every output of a test session (figures, runs, decoded caches, synthetic
twins) goes to a scratch folder, never over the project's committed figures or into its data/
and runs/.

Set at import, before any test imports practical3, so notebook kernels started by nbval
inherit the same folders.
"""

import os
import tempfile

_scratch = tempfile.mkdtemp(prefix="practical3-test-")
for _name in ("FIGURES", "RUNS", "CACHE", "DATA_DIR"):
    os.environ.setdefault(f"PRACTICAL3_{_name}", os.path.join(_scratch, _name.lower()))
# The notebooks run on the synthetic twin under test, whatever real copy a developer has:
# no $PRACTICAL3_DATA, and data/raw is looked for in the scratch folder.
os.environ.pop("PRACTICAL3_DATA", None)
