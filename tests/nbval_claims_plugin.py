"""pytest plugin for the nbval run: a cell tagged ``claims`` has its output compared exactly.

nbval in lax mode (``--nbval-lax``) compares only the cells it is told to check; its own tag for
that is ``nbval-check-output``.  The chapters tag their claims cell ``claims`` (what it is, not how
it is tested), so this plugin adds ``claims`` to nbval's table of cell tags as a synonym of
``nbval-check-output``.  Load it with ``-p nbval_claims_plugin`` (tests/ on the Python path);
tests/test_notebook_runner.py checks on a fabricated notebook that a wrong claims output fails.
"""

from nbval import plugin

CLAIMS_TAG = "claims"

plugin.metadata_tags[CLAIMS_TAG] = plugin.metadata_tags["nbval-check-output"]
