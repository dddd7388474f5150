"""``python -m warmup_lib ...``: see :mod:`warmup_lib.cli`."""

from warmup_lib.cli import main

raise SystemExit(main())
