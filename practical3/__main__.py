"""``python -m practical3``: the command line."""

from practical3.cli import main

raise SystemExit(main())
