"""Chapter 8 (every warmup remedy head to head): the plan's configs, the readings on fabricated tables
(both ways: rows that must pass and rows that must fail), and the signal leads."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from warmup_lib.chapters import warmup_remedies as wr
from warmup_lib.claims.chapter08 import ROWS
from warmup_lib.config import notebook_parameters

PARAMS = notebook_parameters("08_warmup_remedies", "smoke")


def _base(optimizer: str = "adam", steps: int = 400):
    return wr.task_config({**PARAMS["tasks"]["fcn"], "steps": steps}, optimizer, 0.99, 0)


def test_every_remedy_applies_to_its_optimizers_only():
    assert [r.key for r in wr.remedies_for("sgd")] == ["none", "linear", "eta_c", "pcw", "cdat"]
    assert len(wr.remedies_for("adam")) == len(wr.REMEDIES)
    with pytest.raises(ValueError, match="optimizer"):
        wr.remedies_for("lamb")


def test_remedy_configs_set_what_each_remedy_changes():
    base, params = _base(), {"linear_fractions": [0.05, 0.5]}
    linear = wr.remedy_configs("linear", base, 0.01, params, None)
    assert [length for length, _ in linear] == [20, 200]
    assert all(cfg.schedule.warmup_steps == length and cfg.schedule.eta_trgt == 0.01 for length, cfg in linear)
    (length, untuned), = wr.remedy_configs("untuned_linear", base, 0.01, params, None)
    assert length == untuned.schedule.warmup_steps == 200  # 2 / (1 - 0.99)
    (tau, exponential), = wr.remedy_configs("exponential", base, 0.01, params, None)
    assert tau == 100 and exponential.schedule.warmup == "exponential"
    (length, from_eta_c), = wr.remedy_configs("eta_c", base, 0.01, params, 0.003)
    assert (length, from_eta_c.schedule.warmup, from_eta_c.schedule.eta_init) == (200, "from_init", 0.003)
    for remedy in ("radam", "gi_adam", "ri_adam", "adopt"):
        (_, cfg), = wr.remedy_configs(remedy, base, 0.01, params, None)
        assert cfg.optim.name == remedy and cfg.schedule.warmup_steps == 1
    for remedy in ("none", "pcw", "cdat"):
        (_, cfg), = wr.remedy_configs(remedy, base, 0.01, params, None)
        assert cfg == base.replace(**{"schedule.eta_trgt": 0.01})
    with pytest.raises(ValueError, match="remedy"):
        wr.remedy_configs("lookahead", base, 0.01, params, None)


def test_untuned_warmups_are_capped_at_the_run_length():
    (length, cfg), = wr.remedy_configs("untuned_linear", _base(steps=50), 0.01, {"linear_fractions": [0.5]}, None)
    assert length == cfg.schedule.warmup_steps == 50


def _runs(outcomes, losses, eta=(0.001, 0.002, 0.004, 0.008), init_loss=2.3, remedy="none", seed=0, task="fcn",
          optimizer="adam", warmup_steps=1):
    return pd.DataFrame({"task": task, "optimizer": optimizer, "remedy": remedy, "seed": seed,
                         "column": range(len(eta)), "eta_trgt": eta, "warmup_steps": warmup_steps,
                         "outcome": outcomes, "init_train_loss": init_loss, "final_train_loss": losses,
                         "chance_loss": math.log(10),
                         "final_test_accuracy": [0.5] * len(eta), "steps": 100, "extra_passes": 0,
                         "extra_hvps": 0, "extra_gradients": 0, "idle_updates": 0})


def test_remedy_metrics_read_eta_max_best_loss_and_sensitivity():
    runs = _runs(["converged", "converged", "failed", "diverged"], [1.0, 0.5, 2.0, math.nan])
    metrics = wr.remedy_metrics(runs)
    assert metrics["eta_max"] == 0.002 and metrics["eta_max_column"] == 1
    assert metrics["best_loss"] == 0.5
    # min(L, L_init) - L*: 0.5, 0, 1.5, 1.8 (the diverged run counts at L_init = 2.3)
    assert metrics["sensitivity"] == pytest.approx((0.5 + 0 + 1.5 + 1.8) / 4)
    assert math.isnan(wr.remedy_metrics(_runs(["diverged"] * 4, [math.nan] * 4))["eta_max"])


def test_a_converged_run_above_the_chance_loss_does_not_train():
    runs = _runs(["converged", "converged", "converged", "converged"], [1.0, 0.5, 2.0, 346.8])
    assert wr.remedy_metrics(runs)["eta_max"] == 0.004  # the LM's 'converged' run at loss 346 does not count


def test_tuned_warmup_counts_its_best_length_at_each_rate():
    short = _runs(["converged", "diverged"], [0.9, math.nan], eta=(0.01, 0.02), remedy="linear", warmup_steps=5)
    long = _runs(["converged", "converged"], [1.2, 0.7], eta=(0.01, 0.02), remedy="linear", warmup_steps=50)
    metrics = wr.remedy_metrics(pd.concat([short, long]))
    assert (metrics["eta_max"], metrics["best_loss"], metrics["runs_per_target"]) == (0.02, 0.7, 2.0)
    assert metrics["sensitivity"] == pytest.approx((0.2 + 0.0) / 2)


def _metrics(eta_max_none, eta_max_gi, seeds=(0, 1), tasks=("fcn", "cnn")):
    rows = []
    for seed in seeds:
        for task, none, gi in zip(tasks, eta_max_none[seed], eta_max_gi[seed]):
            rows.append({"task": task, "optimizer": "adam", "remedy": "none", "seed": seed, "eta_max": none})
            rows.append({"task": task, "optimizer": "adam", "remedy": "gi_adam", "seed": seed, "eta_max": gi})
    return pd.DataFrame(rows)


def test_a_seed_passes_a_row_only_on_every_setting():
    metrics = _metrics({0: [0.01, 0.01], 1: [0.01, 0.01]}, {0: [0.04, 0.02], 1: [0.04, 0.01]})
    assert wr.ratio_per_seed(metrics, "gi_adam", "none", "eta_max", [0, 1]) == [2.0, 1.0]
    missing = _metrics({0: [0.01, math.nan], 1: [0.01, 0.01]}, {0: [0.04, 0.04], 1: [0.04, 0.04]})
    values = wr.ratio_per_seed(missing, "gi_adam", "none", "eta_max", [0, 1])
    assert math.isnan(values[0]) and values[1] == 4.0  # a setting without a converged rate fails the seed
    gaps = wr.ratio_per_seed(metrics, "none", "gi_adam", "eta_max", [0], worst="max", transform="gap")
    assert gaps == [pytest.approx(0.75)]


def _records(loss, sharpness, eta=0.1, every=2):
    steps = np.arange(len(loss))
    measured = steps % every == 0
    return pd.DataFrame({"step": steps, "lr": eta, "loss": loss,
                         "sharpness": np.where(measured, sharpness, np.nan),
                         "batch_sharpness": np.where(measured, sharpness, np.nan),
                         "eta_c": np.where(measured, 1.0, np.nan)})


def test_signal_leads_measure_the_warning_before_the_first_spike():
    loss = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 2.0, 0.4, 0.3, 0.3]
    sharpness = [5, 5, 10, 15, 25, 25, 25, 25, 25, 10, 10, 10]  # 2/eta = 20: first crossing at step 4
    leads = wr.signal_leads(_records(loss, sharpness), "sgd")
    assert (leads["spike"], leads["sharpness"], leads["batch_sharpness"]) == (8.0, 4.0, 4.0)
    assert math.isnan(leads["eta_c"])  # eta = 0.1 never reaches eta_c = 1
    flat = wr.signal_leads(_records([1.0] * 12, sharpness), "sgd")
    assert math.isnan(flat["spike"]) and math.isnan(flat["sharpness"])  # no spike: nothing to predict


def test_claim_values_cover_exactly_the_registry_rows():
    seeds = [0, 1]
    metrics = pd.DataFrame([{"task": "fcn", "optimizer": opt, "remedy": r.key, "seed": s, "eta_max": 0.01,
                             "best_loss": 1.0, "sensitivity": 0.5}
                            for opt in ("sgd", "adam") for r in wr.remedies_for(opt) for s in seeds])
    signals = pd.DataFrame([{"run": label, "seed": s, "spike": 8.0,
                             **{f"lead {sig}": 2.0 for sig in wr.SIGNALS[wr.signal_optimizer(label)]}}
                            for label in wr.SIGNAL_RUNS for s in seeds])
    values = wr.claim_values(metrics, signals, seeds)
    assert list(values) == [row.id for row in ROWS]
    assert all(len(per_seed) == len(seeds) for per_seed in values.values())
    assert values["6x"] == [1.0, 1.0] and values["xf"] == [1.0, 1.0] and values["xs1"] == [2.0, 2.0]


def test_practitioner_table_keeps_the_remedies_order():
    metrics = pd.DataFrame([{"task": "fcn", "optimizer": "adam", "remedy": key, "seed": 0, "eta_max": 0.01,
                             "best_loss": 1.0, "sensitivity": 0.5, "best_accuracy": 0.9, "runs_per_target": 1.0,
                             "passes_per_step": 0.0, "hvps_per_step": 0.5 * (key == "cdat"),
                             "gradients_per_run": 0.0, "idle_updates": 0.0}
                            for key in ("cdat", "none", "gi_adam")])
    table = wr.practitioner_table(metrics)
    assert list(table["remedy"]) == ["no warmup", "GI-Adam", "curvature-adaptive"]
    assert table.loc[2, "extra cost"] == "0.5 HVP/step" and table.loc[0, "best acc. (%)"] == "90"


def test_recommendations_follow_the_numbers():
    rows = []
    for seed in (0, 1):
        for key, eta_max, loss, sens in (("none", 0.01, 1.0, 0.9), ("linear", 0.04, 0.50, 0.2),
                                         ("gi_adam", 0.04 if seed else math.nan, 0.51, 0.1), ("adopt", 0.02, 0.7, 0.5)):
            rows.append({"task": "fcn", "optimizer": "adam", "remedy": key, "seed": seed, "eta_max": eta_max,
                         "best_loss": loss, "sensitivity": sens})
    row = wr.recommendation_table(pd.DataFrame(rows)).iloc[0]
    assert row["trains highest"] == "linear, tuned T_wrm"  # GI-Adam failed to train on seed 0
    assert row["lowest L* (within 5 %)"] == "linear, tuned T_wrm; GI-Adam"
    assert row["least sensitive"] == "GI-Adam" and row["best without tuning"] == "GI-Adam"


def test_page_numbers_quote_means_seeds_and_costs():
    metrics = pd.DataFrame([{"task": "lm", "optimizer": "adam", "remedy": "none", "seed": s, "eta_max": e,
                             "best_loss": 2.0 + s, "sensitivity": 0.5, "best_accuracy": 0.3}
                            for s, e in ((0, 0.5), (1, math.nan))])
    signals = pd.DataFrame([{"run": "sgd", "seed": 0, "spike": 64.0, "lead sharpness": 58.0, "cost eta_c_passes": 17.5}])
    benchmark = {"settings": {"adam": {"ratio_to_none": {"none": 1.0, "cdat": 2.466}}}}
    numbers = wr.page_numbers({"seeds": [0, 1], "settings": [["lm", "adam"]]}, metrics, metrics, signals, benchmark)
    assert numbers["rem_lm_adam_none_best_loss"] == "2.5" and numbers["rem_lm_adam_none_eta_max"] == "0.5"
    assert numbers["rem_lm_adam_none_eta_max_seeds"] == "0.5, -" and numbers["rem_lm_adam_none_best_accuracy"] == "30"
    assert numbers["rem_sig_sgd_spike"] == "64" and numbers["rem_sig_sgd_sharpness"] == "58"
    assert numbers["rem_sig_sgd_eta_c_passes"] == "18" and numbers["rem_cost_adam_cdat"] == "2.47"


def test_signal_alarms_measure_how_often_a_signal_is_up():
    loss = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 2.0, 0.4, 0.3, 0.3]
    sharpness = [5, 5, 10, 15, 25, 25, 25, 25, 25, 10, 10, 10]  # measured on even steps: 5, 10, 25, 25, 25, 10
    alarms = wr.signal_alarms(_records(loss, sharpness), "sgd", window=1)
    assert alarms["alarm sharpness"] == pytest.approx(3 / 6) and alarms["at spike sharpness"] == 1.0
    assert alarms["alarm eta_c"] == 0.0 and alarms["at spike eta_c"] == 0.0
    assert math.isnan(wr.signal_alarms(_records([1.0] * 12, sharpness), "sgd")["at spike sharpness"])


def test_signal_summary_has_one_row_per_run_and_signal():
    signals = pd.DataFrame([{"run": "sgd", "eta_trgt": 1.5, "seed": seed, "spike": spike,
                             **{f"lead {sig}": 2.0 for sig in wr.SIGNALS["sgd"]},
                             **{f"alarm {sig}": 0.5 for sig in wr.SIGNALS["sgd"]},
                             **{f"at spike {sig}": 1.0 for sig in wr.SIGNALS["sgd"]},
                             "cost sharpness_hvps": 9.0, "cost batch_sharpness_hvps": 1.0, "cost eta_c_passes": 18.0}
                            for seed, spike in ((0, 64.0), (1, math.nan))])
    summary = wr.signal_summary(signals)
    assert list(summary["signal"]) == ["sharpness", "batch_sharpness", "eta_c"]
    row = summary.iloc[0]
    assert (row["first spike at"], row["lead (steps)"], row["up at the spike"]) == ("64, -", "2, 2", "1 of 1")
    assert row["cost / measurement"] == "9 HVPs" and row["run"] == "SGD to c / lambda_0"
