"""Shared test set-up: decoded caches go to a scratch folder, never into the project's data/."""

import os
import tempfile

# Set at import so that notebook kernels started by nbval inherit it too.
os.environ.setdefault("PRACTICAL3_CACHE", tempfile.mkdtemp(prefix="practical3-cache-"))
