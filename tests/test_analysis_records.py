"""warmup_lib.analysis.records on hand-made records whose spikes and measurements are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from warmup_lib.analysis.records import early_spike, finite, late_spikes, measured


def test_finite_replaces_inf_and_nan_only() -> None:
    out = finite([1.0, math.inf, -math.inf, math.nan, 2])
    assert out[0] == 1.0 and out[4] == 2.0 and np.isnan(out[1:4]).all()


def test_measured_keeps_the_rows_where_the_column_was_measured() -> None:
    records = pd.DataFrame({"step": [0, 1, 2, 3], "lr": [0.1, 0.2, 0.3, 0.4],
                            "sharpness": [5.0, np.nan, 7.0, np.nan]})
    step, value, lr = measured(records, "sharpness")
    assert step.tolist() == [0, 2] and value.tolist() == [5.0, 7.0] and lr.tolist() == [0.1, 0.3]


# loss: a 4x spike starting at step 1 (lowest so far 1.0), calm, then a 3x spike starting at step 6
# (lowest so far 0.5) and a 1.2x wobble at step 10 below min_ratio 1.5 but above rise 1.1.
LOSS = [1.0, 4.0, 0.9, 0.5, 0.5, 0.5, 1.5, 0.5, 0.5, 0.5, 0.6, 0.5]


def test_early_spike_is_the_largest_peak_ratio_starting_in_the_window() -> None:
    assert early_spike(LOSS, rise=1.1, within=2) == 4.0
    assert early_spike(LOSS, rise=1.1, within=7) == 4.0
    assert early_spike(LOSS[3:], rise=1.1, within=2) == 1.0  # no spike in the first two steps


def test_late_spikes_counts_only_large_spikes_after_the_window() -> None:
    assert late_spikes(LOSS, rise=1.1, after=2) == 1  # the 3x spike; the 1.2x wobble is below 1.5
    assert late_spikes(LOSS, rise=1.1, after=2, min_ratio=1.1) == 2
    assert late_spikes(LOSS, rise=1.1, after=0) == 2


def test_a_diverged_run_ends_the_scan() -> None:
    assert early_spike([1.0, 4.0, math.inf, 0.5], rise=1.1, within=5) == 1.0  # the spike never came back
