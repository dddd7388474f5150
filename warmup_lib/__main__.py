"""``python -m warmup_lib ...``: see :mod:`warmup_lib.tools.cli`."""

from warmup_lib.tools.cli import main

raise SystemExit(main())
