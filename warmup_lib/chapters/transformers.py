"""Chapter 7, Transformers: a Pre-LN GPT-style language model with and without its final LayerNorm
(paper claim 9, and the Transformer parts of claims 3, 5 and 12; Figs. 17, 18 and 20).

The model is :class:`warmup_lib.models.gpt.GPT` (``ModelConfig(arch="gpt", final_ln=...)``) on the
character corpus (``DataConfig(name="chars")``), trained with cross-entropy in nats per character.
Two variants differ only in the final LayerNorm (:data:`VARIANTS`).

* lambda_0 over widths and depths (:func:`lambda0_grid`): the top Hessian eigenvalue at
  initialisation on the first ``batches`` training batches of each seed, float32 Lanczos with
  relative residual 1e-3 (:func:`measure_sharpness0`), recorded in the store under its own key.
* The SGD phase diagram (:func:`sgd_sweep`, a :class:`~warmup_lib.runs.sweep.Sweep` over eta_trgt =
  c / lambda_0 and T_wrm for both variants): which (c, T_wrm) cells train
  (:func:`trained`: no divergence and a final test loss below chance, log V), and per seed the
  largest trainable c per T_wrm and the warmup gain (:func:`seed_gains`).
* Sharpness trajectories under an SGD warmup, and Adam's pre-conditioned sharpness under an Adam
  warmup (:func:`trajectory_configs`, :func:`adam_configs`; measured every few steps by the
  trainer's trackers), summarised per run by :func:`sgd_trajectory_row` and
  :func:`adam_trajectory_row`.
* The critical learning rate at initialisation (:func:`critical_table`).
* The claims rows' per-seed values (:func:`claim_values`; rows and criteria in
  ``warmup_lib.claims.chapter07``) and the numbers the prose quotes (``*_numbers``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from warmup_lib import plots
from warmup_lib.analysis.phase import eta_axis
from warmup_lib.analysis.records import measured
from warmup_lib.analysis.trajectory import detect_catapults
from warmup_lib.chapters import value_range  # noqa: F401 (the notebook's chapter.value_range)
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.curvature import adam_threshold
from warmup_lib.runs import store
from warmup_lib.runs.executors import run_missing
from warmup_lib.runs.measure import load_or_measure, load_or_search
from warmup_lib.runs.sweep import Sweep
from warmup_lib.runs.train import RunResult

VARIANTS = {"ln": {"model.final_ln": True}, "no_ln": {"model.final_ln": False}}
LABELS = {"ln": "Pre-LN (final LN)", "no_ln": "without final LN"}
ADAM_FACTOR = adam_threshold(1.0, 0.9)  # 38: Adam is stable while eta lambda^{P^-1 H} < 38
SHARPNESS_TOL = 1e-3  # relative residual of the float32 Lanczos of lambda_0 (as the trackers)
CATAPULT_RISE = 1.2  # a loss spike: above 1.2 x the lowest loss so far (chapter 2's setting)
CATAPULT_DROP = 0.2  # ... confirmed by a sharpness drop of 20 %
CATAPULT_WINDOW = 8


# --------------------------------------------------------------------------------- configs


def base_config(params: Mapping[str, Any], final_ln: bool = True, seed: int = 0, optimizer: str = "sgd",
                width: int | None = None, depth: int | None = None) -> RunConfig:
    """The chapter's run: the GPT of ``params`` on the character (or WikiText-2) data, xent, minibatch SGD.

    Args:
        params: the notebook's parameters (dataset, data_root, n_train, n_test, context, width, depth,
            heads, batch_size, steps, device).
        final_ln: keep the final LayerNorm.
        seed: the initialisation's and batch order's seed.
        optimizer: 'sgd', 'adam' or 'gi_adam'.
        width: overrides the model width (the lambda_0 grid).
        depth: overrides the number of blocks.

    Returns:
        The config, with a placeholder constant schedule (callers set eta_trgt and T_wrm).
    """
    data = DataConfig(name=params["dataset"], n_train=params["n_train"], n_test=params["n_test"],
                      root=params["data_root"], context=params["context"])
    model = ModelConfig(arch="gpt", width=width or params["width"], depth=depth or params["depth"],
                        heads=params["heads"], final_ln=final_ln)
    return RunConfig(data=data, model=model, optim=OptimConfig(name=optimizer), schedule=ScheduleConfig(),
                     loss="xent", batch_size=params["batch_size"], steps=params["steps"], seed=seed,
                     eval_every=0, device=params["device"])


def variant_config(params: Mapping[str, Any], variant: str, seed: int, optimizer: str = "sgd") -> RunConfig:
    """:func:`base_config` of ``variant`` ('ln' or 'no_ln')."""
    return base_config(params, VARIANTS[variant]["model.final_ln"], seed, optimizer)


def with_schedule(cfg: RunConfig, eta_trgt: float, warmup_steps: int, steps: int, **fields: Any) -> RunConfig:
    """``cfg`` with a linear warmup to ``eta_trgt`` over ``warmup_steps`` of ``steps`` updates, and
    any other dotted ``fields`` (e.g. ``sharpness_every=8``)."""
    return cfg.replace(**{"schedule.eta_trgt": eta_trgt, "schedule.warmup_steps": min(warmup_steps, steps),
                          "steps": steps, **fields})


def model_facts(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of both variants, vocabulary, context, and the data's size in characters.

    Returns:
        ``{"params_ln", "params_no_ln", "vocab", "context", "train_chars", "test_chars",
        "chance_loss"}``; chance_loss = log V nats per character (a uniform prediction).
    """
    from warmup_lib.data import load_data
    from warmup_lib.models import build_model

    cfg = base_config(params)
    data = load_data(cfg.data)
    counts = {}
    for variant in VARIANTS:
        torch.manual_seed(0)
        model = build_model(variant_config(params, variant, 0).model, data.input_shape, data.num_classes)
        counts[variant] = sum(p.numel() for p in model.parameters())
    context = int(data.x_train.shape[1])
    return {"params_ln": counts["ln"], "params_no_ln": counts["no_ln"], "vocab": data.num_classes,
            "context": context, "train_chars": int(data.x_train.shape[0]) * context,
            "test_chars": int(data.x_test.shape[0]) * context, "chance_loss": math.log(data.num_classes)}


def setup_numbers(params: Mapping[str, Any], facts: Mapping[str, Any], grid_batches: int) -> dict[str, Any]:
    """Glue: the model, data and run settings the prose states (from the parameters and
    :func:`model_facts`)."""
    return {"tf_depth": params["depth"], "tf_width": params["width"], "tf_heads": params["heads"],
            "tf_context": facts["context"], "tf_params_ln": f"{facts['params_ln']:,}",
            "tf_params_no_ln": f"{facts['params_no_ln']:,}", "tf_vocab": facts["vocab"],
            "tf_train_chars": f"{facts['train_chars']:,}", "tf_test_chars": f"{facts['test_chars']:,}",
            "tf_chance": f"{facts['chance_loss']:.2f}", "tf_batch": params["batch_size"], "tf_steps": params["steps"],
            "tf_seeds": ", ".join(map(str, params["seeds"])), "tf_grid_batches": grid_batches,
            "tf_sweep_batches": params["lambda0_batches"], "tf_traj_warmup": params["traj_warmup"],
            "tf_traj_steps": params["traj_steps"], "tf_traj_c": f"{params['traj_c']:g}",
            "tf_sharpness_every": params["sharpness_every"], "tf_adam_warmup": params["adam_warmup"],
            "tf_adam_eta": f"{params['adam_eta']:g}", "tf_pre_every": params["pre_sharpness_every"],
            "tf_crit_eta0": f"{params['crit_eta0']:g}", "tf_crit_delta": f"{params['crit_delta']:g}",
            "tf_crit_cap": f"{params['crit_cap']:g}", "tf_adam_skip": params.get("adam_skip", 0)}


# --------------------------------------------------------------------------------- lambda_0


def measure_sharpness0(cfg: RunConfig, batches: int) -> dict[str, Any]:
    """lambda_0 = (1/M) sum_m lambda_max(H(theta_0; batch_m)) on the first M batches of ``cfg``'s
    run, float32 Lanczos to relative residual :data:`SHARPNESS_TOL`.

    Returns:
        ``{"lambda_0", "per_batch", "batches", "num_params"}``.
    """
    from warmup_lib.curvature.spectrum import sharpness
    from warmup_lib.runs.train import init_run

    setup = init_run(cfg, with_optimizer=False)
    values = [float(sharpness(setup.model, setup.loss_fn, *setup.next_batch(), tol=SHARPNESS_TOL))
              for _ in range(batches)]
    return {"lambda_0": sum(values) / len(values), "per_batch": values, "batches": batches,
            "num_params": sum(p.numel() for p in setup.model.parameters())}


def load_or_measure_sharpness0(experiment: str, cfg: RunConfig, batches: int, root: str | Path) -> dict[str, Any]:
    """:func:`measure_sharpness0` through the store's cache (``lambda0.json``, its own key:
    solver 'float32' and the tolerance are part of it)."""
    return load_or_measure(experiment, "lambda0", cfg, lambda: measure_sharpness0(cfg, batches), root,
                           batches=batches, solver="float32", tol=SHARPNESS_TOL)


def lambda0_grid(experiment: str, params: Mapping[str, Any], widths: Sequence[int], depths: Sequence[int],
                 seeds: Sequence[int], batches: int, root: str | Path) -> pd.DataFrame:
    """lambda_0 of both variants over widths (at the chapter's depth) and depths (at its width).

    Returns:
        One row per (variant, width, depth, seed): lambda_0 and num_params.
    """
    shapes = [(w, params["depth"]) for w in widths] + [(params["width"], d) for d in depths]
    rows = []
    for width, depth in dict.fromkeys(shapes):
        for variant, overrides in VARIANTS.items():
            for seed in seeds:
                cfg = base_config(params, overrides["model.final_ln"], seed, width=width, depth=depth)
                record = load_or_measure_sharpness0(experiment, cfg, batches, root)
                rows.append({"variant": variant, "width": width, "depth": depth, "seed": seed,
                             "lambda_0": record["lambda_0"], "num_params": record["num_params"]})
    return pd.DataFrame(rows)


def lambda0_ratios(grid: pd.DataFrame) -> pd.DataFrame:
    """Per (width, depth, seed): lambda_0 without / with the final LN (columns ln, no_ln, ratio)."""
    wide = grid.pivot_table(index=["width", "depth", "seed"], columns="variant", values="lambda_0").reset_index()
    wide["ratio"] = wide["no_ln"] / wide["ln"]
    return wide


def lambda0_table(grid: pd.DataFrame) -> pd.DataFrame:
    """The page's table: per (width, depth) the seeds' mean and range of lambda_0 per variant and of
    the ratio."""
    ratios = lambda0_ratios(grid)
    rows = []
    for (width, depth), group in ratios.groupby(["width", "depth"]):
        row = {"width": width, "depth": depth}
        for name, column in (("lambda_0 with LN", "ln"), ("lambda_0 without", "no_ln"), ("ratio", "ratio")):
            values = group[column]
            row[name] = f"{values.mean():.3g} ({values.min():.3g}-{values.max():.3g})"
        rows.append(row)
    return pd.DataFrame(rows)


def plot_lambda0(grid: pd.DataFrame, width: int, depth: int) -> plt.Figure:
    """(a) lambda_0 against width at ``depth`` blocks, (b) against depth at ``width``; both variants,
    the seeds' mean with their range as error bars, log scales."""
    fig, axes = plots.figure(ncols=2)
    for ax, axis, fixed, value in ((axes[0], "width", "depth", depth), (axes[1], "depth", "width", width)):
        for index, variant in enumerate(VARIANTS):
            rows = grid[(grid["variant"] == variant) & (grid[fixed] == value)]
            stats = rows.groupby(axis)["lambda_0"].agg(["mean", "min", "max"])
            ax.errorbar(stats.index, stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                        marker="o", capsize=3, color=plots.COLORS[index], label=LABELS[variant])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set(xlabel=f"{axis} ({fixed} {value})", ylabel=r"$\lambda_0^H$")
    axes[0].legend(loc="best")
    plots.label_panels(axes)
    return fig


def lambda0_numbers(grid: pd.DataFrame, width: int, depth: int) -> dict[str, Any]:
    """Glue: lambda_0 of each variant and their ratio at the chapter's model (mean and range over
    seeds), the ratio's range over the grid, and its seed mean at the smallest and largest depth
    (at ``width``) and width (at ``depth``)."""
    ratios = lambda0_ratios(grid)
    main = ratios[(ratios["width"] == width) & (ratios["depth"] == depth)]
    by_depth = ratios[ratios["width"] == width].groupby("depth")["ratio"].mean()
    by_width = ratios[ratios["depth"] == depth].groupby("width")["ratio"].mean()
    return {"tf_ratio_depth_first": f"{by_depth.iloc[0]:.3g}", "tf_ratio_depth_last": f"{by_depth.iloc[-1]:.3g}",
            "tf_depth_first": int(by_depth.index[0]), "tf_depth_last": int(by_depth.index[-1]),
            "tf_ratio_width_first": f"{by_width.iloc[0]:.3g}", "tf_ratio_width_last": f"{by_width.iloc[-1]:.3g}",
            "tf_width_first": int(by_width.index[0]), "tf_width_last": int(by_width.index[-1]),
            "tf_lambda0_ln": f"{main['ln'].mean():.3g}", "tf_lambda0_no_ln": f"{main['no_ln'].mean():.3g}",
            "tf_lambda0_ratio": f"{main['ratio'].mean():.3g}",
            "tf_lambda0_ratio_range": value_range(main["ratio"], ".3g"),
            "tf_grid_ratio_range": value_range(ratios["ratio"], ".3g")}


# --------------------------------------------------------------------------------- SGD phase diagram


def sgd_sweep(experiment: str, params: Mapping[str, Any]) -> Sweep:
    """Both variants, SGD, eta_trgt = c / lambda_0 (c in ``sgd_eta``, lambda_0 per variant and seed,
    measured by the sweep on ``lambda0_batches`` batches) x T_wrm in ``warmup_steps``, every seed."""
    base = with_schedule(base_config(params), 0.1, 1, params["steps"])
    return Sweep(experiment=experiment, base=base, eta_trgt=tuple(params["sgd_eta"]), eta_unit="lambda0",
                 warmup_steps=tuple(params["warmup_steps"]), seeds=tuple(params["seeds"]),
                 variants={name: dict(overrides) for name, overrides in VARIANTS.items()},
                 lambda0_batches=params["lambda0_batches"])


def trained(table: pd.DataFrame, chance_loss: float) -> pd.Series:
    """Whether each run trained: its outcome is 'converged' (it neither diverged nor failed: an Adam
    run can stall) and its final test loss is finite and below
    ``chance_loss`` (log V, a uniform prediction).  The trainer's 'converged' alone is not enough
    for a language model: a run whose loss exploded without a NaN still beats 1.5 x chance accuracy
    by predicting the commonest character."""
    loss = pd.to_numeric(table["final_test_loss"], errors="coerce")
    return (table["outcome"] == "converged") & np.isfinite(loss) & (loss < chance_loss)


def largest_trained(table: pd.DataFrame, chance_loss: float) -> pd.DataFrame:
    """Per (variant, seed, warmup_steps): the largest c (or absolute eta_trgt, for a sweep without
    lambda_0) whose run trained (0 when none did), in the column c_max."""
    marked = table.assign(trained=trained(table, chance_loss))
    axis = eta_axis(table)
    rows = []
    for (variant, seed, warmup), runs in marked.groupby(["variant", "seed", "warmup_steps"]):
        good = runs.loc[runs["trained"], axis]
        rows.append({"variant": variant, "seed": seed, "warmup_steps": warmup,
                     "c_max": float(good.max()) if len(good) else 0.0})
    return pd.DataFrame(rows)


def seed_gains(table: pd.DataFrame, chance_loss: float, variant: str) -> dict[int, float]:
    """Per seed: the warmup gain c_max(longest T_wrm) / c_max(T_wrm = shortest) of ``variant``
    (inf when only the warmup trains, NaN when neither does)."""
    best = largest_trained(table, chance_loss)
    best = best[best["variant"] == variant]
    gains = {}
    for seed, rows in best.groupby("seed"):
        rows = rows.sort_values("warmup_steps")
        short, long = rows["c_max"].iloc[0], rows["c_max"].iloc[-1]
        gains[int(seed)] = long / short if short > 0 else (math.inf if long > 0 else math.nan)
    return gains


def phase_cells(table: pd.DataFrame, chance_loss: float) -> pd.DataFrame:
    """The table a phase-diagram panel draws: a run that trained is 'converged', one that did not is
    'diverged' when its loss became NaN and 'failed' otherwise (an Adam stall, or a loss that ended
    above chance without a NaN); plots.plot_phase_diagram averages the converged seeds only."""
    marked = table.copy()
    marked["outcome"] = np.where(trained(table, chance_loss), "converged",
                                 np.where(table["outcome"] == "diverged", "diverged", "failed"))
    return marked


def plot_phase(table: pd.DataFrame, chance_loss: float, labels: Mapping[str, str] = LABELS) -> plt.Figure:
    """One phase diagram per variant of ``labels`` (default (a) with and (b) without the final LN):
    colour and number = final test loss (nats/char) averaged over the seeds that trained, hatched =
    no seed trained."""
    cells = phase_cells(table, chance_loss)
    fig, axes = plots.figure(ncols=len(labels), figsize=(5.5 * len(labels), 4.0))
    for ax, (variant, label) in zip(axes, labels.items()):
        plots.plot_phase_diagram(ax, cells[cells["variant"] == variant], metric="final_test_loss", spread="range",
                                 cmap="viridis_r", fontsize=7.0)
        ax.set_title(label)
    plots.label_panels(axes)
    return fig


def phase_table(table: pd.DataFrame, chance_loss: float, labels: Mapping[str, str] = LABELS) -> pd.DataFrame:
    """Per variant (named by ``labels``) and T_wrm: the seeds' largest trained c, or absolute
    eta_trgt for an absolute sweep, in the order of the seeds."""
    best = largest_trained(table, chance_loss)
    rows = []
    for (variant, warmup), group in best.groupby(["variant", "warmup_steps"]):
        column = "largest trained c per seed" if eta_axis(table) == "c" else "largest trained eta per seed"
        rows.append({"variant": labels[variant], "T_wrm": warmup,
                     column: ", ".join(f"{c:g}" for c in group.sort_values("seed")["c_max"])})
    return pd.DataFrame(rows)


def phase_numbers(table: pd.DataFrame, chance_loss: float) -> dict[str, Any]:
    """Glue: per variant the warmup gains' range over seeds, the largest trained c at the shortest
    T_wrm and the absolute eta_trgt = c / lambda_0 it stands for, and lambda_0's range."""
    best = largest_trained(table, chance_loss)
    shortest = best["warmup_steps"].min()
    numbers = {}
    for variant in VARIANTS:
        gains = list(seed_gains(table, chance_loss, variant).values())
        numbers[f"tf_gain_{variant}"] = value_range(gains, ".3g")
        at_one = best[(best["variant"] == variant) & (best["warmup_steps"] == shortest)]["c_max"]
        numbers[f"tf_cmax1_{variant}"] = value_range(at_one, "g")
        lambdas = table[table["variant"] == variant].groupby("seed")["lambda_0"].first()
        seeds = best[(best["variant"] == variant) & (best["warmup_steps"] == shortest)]["seed"]
        numbers[f"tf_etamax1_{variant}"] = value_range(at_one.to_numpy() / lambdas.loc[seeds].to_numpy(), ".2g")
        numbers[f"tf_lambda0_sweep_{variant}"] = value_range(
            table[table["variant"] == variant].groupby("seed")["lambda_0"].first(), ".3g")
    return numbers


OPTIMIZER_LABELS = {"adam": "Adam", "gi_adam": "GI-Adam"}


def giadam_sweep(experiment: str, params: Mapping[str, Any]) -> Sweep:
    """The Pre-LN LM (final LN) with Adam and GI-Adam at absolute eta_trgt in ``gi_eta`` x T_wrm in
    ``gi_warmup_steps``, every seed (the vectorised executor stacks the Adam runs; GI-Adam runs one at a time)."""
    base = with_schedule(base_config(params, True, optimizer="adam"), 0.001, 1, params["steps"])
    return Sweep(experiment=f"{experiment}_giadam", base=base, eta_trgt=tuple(params["gi_eta"]), eta_unit="absolute",
                 warmup_steps=tuple(params["gi_warmup_steps"]), seeds=tuple(params["seeds"]),
                 variants={name: {"optim.name": name} for name in OPTIMIZER_LABELS})


def optimizer_gains(table: pd.DataFrame, chance_loss: float) -> dict[int, float]:
    """Per seed, at the shortest T_wrm: GI-Adam's largest trained eta_trgt over Adam's (inf when only
    GI-Adam trains, NaN when neither does)."""
    best = largest_trained(table, chance_loss)
    best = best[best["warmup_steps"] == best["warmup_steps"].min()]
    gains = {}
    for seed, rows in best.groupby("seed"):
        by = dict(zip(rows["variant"], rows["c_max"]))
        adam, gi = by.get("adam", 0.0), by.get("gi_adam", 0.0)
        gains[int(seed)] = gi / adam if adam > 0 else (math.inf if gi > 0 else math.nan)
    return gains


def giadam_numbers(table: pd.DataFrame, chance_loss: float) -> dict[str, Any]:
    """Glue: the gains GI-Adam / Adam, and per optimizer at the shortest T_wrm the largest trained
    eta_trgt over the seeds, the final test losses at the largest eta_trgt both trained
    (tf_gi_common_eta), at the smallest eta_trgt, and each seed's best."""
    best = largest_trained(table, chance_loss)
    best = best[best["warmup_steps"] == best["warmup_steps"].min()]
    numbers = {"tf_gi_gain": value_range(optimizer_gains(table, chance_loss).values(), ".3g")}
    shortest = table[table["warmup_steps"] == table["warmup_steps"].min()]
    good = shortest[trained(shortest, chance_loss)]
    common = good.groupby("variant")["eta_trgt"].max().min() if len(good) else math.nan
    numbers["tf_gi_common_eta"] = f"{common:g}"
    for name in OPTIMIZER_LABELS:
        numbers[f"tf_gi_etamax_{name}"] = value_range(best[best["variant"] == name]["c_max"], "g")
        mine = good[good["variant"] == name]
        numbers[f"tf_gi_loss_at_max_{name}"] = value_range(mine[mine["eta_trgt"] == common]["final_test_loss"], ".2f")
        numbers[f"tf_gi_best_{name}"] = value_range(mine.groupby("seed")["final_test_loss"].min(), ".2f")
        numbers[f"tf_gi_smallest_{name}"] = value_range(
            mine[mine["eta_trgt"] == shortest["eta_trgt"].min()]["final_test_loss"], ".2f")
    return numbers


# --------------------------------------------------------------------------------- trajectories


def lambda0_of(experiment: str, cfg: RunConfig, batches: int, root: str | Path) -> float:
    """lambda_0 of ``cfg``'s initialisation as the sweep measured it (float64, ``batches`` batches)."""
    from warmup_lib.runs.measure import load_or_measure_lambda0

    return load_or_measure_lambda0(experiment, cfg, batches, root)["lambda_0"]


def trajectory_configs(experiment: str, params: Mapping[str, Any], root: str | Path) -> dict[tuple[str, int], RunConfig]:
    """SGD runs with the sharpness tracked: per variant and seed, eta_trgt = traj_c / lambda_0 reached by a
    linear warmup of traj_warmup steps, traj_steps updates, lambda^H every sharpness_every steps."""
    configs = {}
    for variant in VARIANTS:
        for seed in params["seeds"]:
            cfg = variant_config(params, variant, seed)
            lam = lambda0_of(experiment, with_schedule(cfg, 0.1, 1, params["steps"]), params["lambda0_batches"], root)
            configs[variant, seed] = with_schedule(cfg, params["traj_c"] / lam, params["traj_warmup"],
                                                   params["traj_steps"], sharpness_every=params["sharpness_every"])
    return configs


def adam_configs(params: Mapping[str, Any]) -> dict[tuple[str, int], RunConfig]:
    """Adam runs with lambda^{P^-1 H} tracked: per variant and seed, eta_trgt = adam_eta (absolute) after a
    linear warmup of adam_warmup steps, adam_steps updates, every pre_sharpness_every steps."""
    return {(variant, seed): with_schedule(variant_config(params, variant, seed, "adam"), params["adam_eta"],
                                           params["adam_warmup"], params["adam_steps"],
                                           pre_sharpness_every=params["pre_sharpness_every"])
            for variant in VARIANTS for seed in params["seeds"]}


def train_and_load(experiment: str, configs: Mapping[Any, RunConfig], root: str | Path,
                   workers: int = 1) -> dict[Any, RunResult]:
    """Train the configs the store lacks (one process, ``workers`` = 1) and load them all."""
    run_missing(experiment, list(configs.values()), root, workers)
    return {key: store.load_run(experiment, cfg, root) for key, cfg in configs.items()}


def sharpness_change(step: np.ndarray, value: np.ndarray, late_from: int) -> float:
    """Median of the measured sharpness at steps >= ``late_from`` (at least the last measurement) over
    the first measured value (NaN when none is finite or the first is not positive): > 1 the run
    sharpened, < 1 its sharpness fell.  A run that diverged counts up to its last finite value."""
    finite_steps, first = step[np.isfinite(value)], value[np.isfinite(value)]
    if len(first) == 0 or not first[0] > 0:
        return math.nan
    late = first[finite_steps >= min(late_from, finite_steps[-1])]
    return float(np.median(late) / first[0])


def sgd_trajectory_row(result: RunResult) -> dict[str, Any]:
    """One SGD run: lambda at step 0, the first measured step where eta_t lambda_t > 2 (-1: never) and
    the largest lambda up to it over lambda at step 0 (sharpening before the threshold), the
    late/initial change (late = the last quarter), the largest eta_t lambda_t (2 is the GD
    threshold), the catapults, the outcome and final train loss."""
    steps = result.summary["config"]["steps"]
    step, value, eta = measured(result.records, "sharpness")
    loss = result.records["loss"].to_numpy(dtype=float)
    full = result.records["sharpness"].to_numpy(dtype=float)
    catapults = detect_catapults(loss, full, rise=CATAPULT_RISE, drop=CATAPULT_DROP, window=CATAPULT_WINDOW)
    crossed = np.flatnonzero(value * eta > 2.0)
    before = value[: crossed[0] + 1] if len(crossed) else value
    return {"lambda_start": float(value[0]) if len(value) else math.nan,
            "cross_step": int(step[crossed[0]]) if len(crossed) else -1,
            "rise_before_cross": float(before.max() / value[0]) if len(value) and value[0] > 0 else math.nan,
            "change": sharpness_change(step, value, (3 * steps) // 4),
            "max_eta_lambda": float(np.nanmax(value * eta)) if len(value) else math.nan,
            "catapults": len(catapults), "catapult_steps": [int(c.peak) for c in catapults],
            "outcome": result.summary["outcome"], "final_train_loss": result.summary["final_train_loss"]}


def adam_trajectory_row(result: RunResult, warmup_steps: int, skip: int) -> dict[str, Any]:
    """One Adam run: lambda^{P^-1 H} first measured (and eta_t lambda^{P^-1 H} / 38 there), at the end
    of warmup (the last measurement at a
    step <= T_wrm) and their ratio; the largest eta_t lambda^{P^-1 H}_t at steps >= ``skip`` over the
    threshold 38; outcome and final train loss."""
    step, value, eta = measured(result.records, "pre_sharpness")
    first = float(value[0]) if len(value) else math.nan
    upto = value[step <= warmup_steps]
    end = float(upto[-1]) if len(upto) else math.nan
    later = (step >= skip)
    return {"pre_start": first, "start_over_38": first * float(eta[0]) / ADAM_FACTOR if len(value) else math.nan,
            "pre_end_warmup": end, "pre_fall": end / first if first > 0 else math.nan,
            "max_over_38": float(np.nanmax(value[later] * eta[later]) / ADAM_FACTOR) if later.any() else math.nan,
            "outcome": result.summary["outcome"], "final_train_loss": result.summary["final_train_loss"]}


def trajectory_table(results: Mapping[tuple[str, int], RunResult], row) -> pd.DataFrame:
    """Per run (variant, seed) the summary ``row(result)`` as one table row."""
    return pd.DataFrame([{"variant": variant, "seed": seed, **row(result)}
                         for (variant, seed), result in results.items()])


def sgd_table(results: Mapping[tuple[str, int], RunResult]) -> pd.DataFrame:
    """:func:`sgd_trajectory_row` of every SGD run, one row per (variant, seed)."""
    return trajectory_table(results, sgd_trajectory_row)


def adam_table(results: Mapping[tuple[str, int], RunResult], warmup_steps: int, skip: int) -> pd.DataFrame:
    """:func:`adam_trajectory_row` of every Adam run, one row per (variant, seed)."""
    return pd.DataFrame([{"variant": variant, "seed": seed, **adam_trajectory_row(result, warmup_steps, skip)}
                         for (variant, seed), result in results.items()])


def _trajectory(result: RunResult, name: str, label: str) -> plots.Trajectory:
    records = result.records
    loss, values = records["loss"].to_numpy(dtype=float), records[name].to_numpy(dtype=float)
    catapults = ()
    if name == "sharpness":
        found = detect_catapults(loss, values, rise=CATAPULT_RISE, drop=CATAPULT_DROP, window=CATAPULT_WINDOW)
        catapults = [int(c.peak) for c in found]
    return plots.Trajectory(label, records["step"].to_numpy(), loss, values, records["lr"].to_numpy(dtype=float),
                            catapults)


def plot_runs(results: Mapping[tuple[str, int], RunResult], name: str, threshold: float,
              threshold_label: str) -> plt.Figure:
    """Loss (top) and ``name`` ('sharpness' or 'pre_sharpness', bottom) against step, (a, c) with and
    (b, d) without the final LN; every seed in its colour, its threshold ``threshold``/eta_t dashed,
    catapults (SGD: loss spikes with a sharpness drop) as triangles."""
    fig, axes = plots.figure(ncols=2, nrows=2, figsize=(11.0, 7.0))
    for column, variant in enumerate(VARIANTS):
        top, bottom = axes[column], axes[2 + column]
        runs = [(seed, result) for (v, seed), result in sorted(results.items()) if v == variant]
        trajectories = [_trajectory(result, name, f"seed {seed}") for seed, result in runs]
        plots.plot_trajectory_panels(top, bottom, trajectories, ((threshold, threshold_label),),
                                     log_steps=False, legend=False)
        top.set_title(LABELS[variant])
        top.set(xlabel="step", ylabel="train loss (nats/char)")
        bottom.set(xlabel="step", ylabel=r"$\lambda^H_t$" if name == "sharpness" else r"$\lambda^{P^{-1}H}_t$")
        bottom.legend(loc="best", fontsize=7)
    plots.label_panels(axes)
    return fig


def trajectory_numbers(sgd: pd.DataFrame, adam: pd.DataFrame) -> dict[str, Any]:
    """Glue: per variant the range over seeds of the SGD sharpness change, catapult counts, and of
    Adam's lambda^{P^-1 H} (start, end of warmup / start, largest eta lambda / 38)."""
    numbers = {}
    for variant in VARIANTS:
        s, a = sgd[sgd["variant"] == variant], adam[adam["variant"] == variant]
        numbers |= {f"tf_sgd_start_{variant}": value_range(s["lambda_start"], ".3g"),
                    f"tf_sgd_change_{variant}": value_range(s["change"], ".2f"),
                    f"tf_sgd_catapults_{variant}": value_range(s["catapults"], "d"),
                    f"tf_sgd_cross_{variant}": value_range(s["cross_step"], "d"),
                    f"tf_sgd_rise_{variant}": value_range(s["rise_before_cross"], ".2f"),
                    f"tf_sgd_eta_lambda_{variant}": value_range(s["max_eta_lambda"], ".3g"),
                    f"tf_adam_start_{variant}": value_range(a["pre_start"], ".3g"),
                    f"tf_adam_fall_{variant}": value_range(a["pre_fall"], ".2g"),
                    f"tf_adam_over_{variant}": value_range(a["max_over_38"], ".2f"),
                    f"tf_adam_start_over_{variant}": value_range(a["start_over_38"], ".2f")}
    return numbers


# --------------------------------------------------------------------------------- critical lr


def critical_table(experiment: str, params: Mapping[str, Any], root: str | Path) -> pd.DataFrame:
    """Per variant and seed: the one-step search at initialisation (SGD, from crit_eta0, tolerance
    crit_delta, capped at crit_cap / lambda_0), eta_c lambda_0 / 2 (eta_c over the quadratic threshold
    2/lambda_0), the trial forward passes, whether the search was capped (no loss rise found: no
    catapult at initialisation) and what :func:`~warmup_lib.suggest_warmup`'s rule then advises for
    the chapter's target traj_c / lambda_0."""
    rows = []
    for variant in VARIANTS:
        for seed in params["seeds"]:
            cfg = with_schedule(variant_config(params, variant, seed), 0.1, 1, params["steps"])
            lam = lambda0_of(experiment, cfg, params["lambda0_batches"], root)
            search = load_or_search(experiment, cfg, eta0=params["crit_eta0"], delta=params["crit_delta"],
                                    eta_max=params["crit_cap"] / lam, root=root)
            eta_trgt = params["traj_c"] / lam
            advice = ("no catapult: start at eta_trgt/10" if search["capped"]
                      else "start at eta_c" if search["eta_c"] < eta_trgt else "no warmup needed")
            rows.append({"variant": variant, "seed": seed, "lambda_0": lam, "eta_c": search["eta_c"],
                         "eta_c_over_2_lambda0": search["eta_c"] * lam / 2.0, "forward_passes": search["forward_passes"],
                         "capped": bool(search["capped"]), "advice": advice})
    return pd.DataFrame(rows)


def advice_misses(critical: pd.DataFrame, phase: pd.DataFrame, chance_loss: float, c: float) -> int:
    """How many (variant, seed) the search advises "no warmup needed" for eta_trgt = c / lambda_0 while
    the phase diagram's run without warmup (the shortest T_wrm) at that c did not train."""
    shortest = phase[(phase["warmup_steps"] == phase["warmup_steps"].min()) & (phase["c"] == c)]
    ok = dict(zip(zip(shortest["variant"], shortest["seed"]), trained(shortest, chance_loss)))
    return int(sum(advice == "no warmup needed" and not ok.get((variant, seed), True)
                   for variant, seed, advice in zip(critical["variant"], critical["seed"], critical["advice"])))


def critical_numbers(table: pd.DataFrame, misses: int = 0) -> dict[str, Any]:
    """Glue: per variant the range of eta_c / (2/lambda_0) over seeds and the advice, the forward
    passes, the capped searches and the advice's ``misses`` (:func:`advice_misses`)."""
    numbers = {"tf_crit_passes": value_range(table["forward_passes"], "d"),
               "tf_crit_capped": int(table["capped"].sum()), "tf_crit_misses": misses,
               "tf_crit_runs": len(table)}
    for variant in VARIANTS:
        rows = table[table["variant"] == variant]
        numbers[f"tf_crit_ratio_{variant}"] = value_range(rows["eta_c_over_2_lambda0"], ".3g")
        numbers[f"tf_crit_advice_{variant}"] = "; ".join(sorted(set(rows["advice"])))
    return numbers


# --------------------------------------------------------------------------------- claims


def _per_seed(table: pd.DataFrame, variant: str, column: str, seeds: Sequence[int]) -> list[float]:
    rows = table[table["variant"] == variant].set_index("seed")[column]
    return [float(rows.get(seed, math.nan)) for seed in seeds]


def claim_values(grid: pd.DataFrame, width: int, depth: int, phase: pd.DataFrame, chance_loss: float,
                 sgd: pd.DataFrame, adam: pd.DataFrame, critical: pd.DataFrame, giadam: pd.DataFrame,
                 seeds: Sequence[int]) -> dict[str, list[float]]:
    """Per-seed values of the rows of ``warmup_lib.claims.chapter07`` (in ``seeds``' order).

    * 9a, 9b: lambda_0 without / with the final LN at the chapter's width and depth.
    * 9c: the warmup gain without the final LN (:func:`seed_gains`).
    * 9d: that gain over the gain with the final LN.
    * 3ta / 3tb: the SGD sharpness change (late / initial) with / without the final LN.
    * 5ta / 5tb: lambda^{P^-1 H} at the end of warmup / first measured, with / without the final LN.
    * 5tc: the larger over both variants of max eta_t lambda^{P^-1 H}_t / 38 after the first steps.
    * 12t: the larger over both variants of the search's trial forward passes.
    * 13t: GI-Adam's largest trained eta_trgt over Adam's without warmup (:func:`optimizer_gains`).
    """
    ratios = lambda0_ratios(grid)
    main = ratios[(ratios["width"] == width) & (ratios["depth"] == depth)].set_index("seed")["ratio"]
    ratio = [float(main.get(seed, math.nan)) for seed in seeds]
    gains = {variant: seed_gains(phase, chance_loss, variant) for variant in VARIANTS}
    no_ln = [gains["no_ln"].get(seed, math.nan) for seed in seeds]
    ln = [gains["ln"].get(seed, math.nan) for seed in seeds]
    relative = [a / b if b > 0 and math.isfinite(b) else math.nan for a, b in zip(no_ln, ln)]
    over = [max(a, b) for a, b in zip(_per_seed(adam, "ln", "max_over_38", seeds),
                                      _per_seed(adam, "no_ln", "max_over_38", seeds))]
    passes = [max(a, b) for a, b in zip(_per_seed(critical, "ln", "forward_passes", seeds),
                                        _per_seed(critical, "no_ln", "forward_passes", seeds))]
    return {"9a": ratio, "9b": ratio, "9c": no_ln, "9d": relative,
            "3ta": _per_seed(sgd, "ln", "change", seeds), "3tb": _per_seed(sgd, "no_ln", "change", seeds),
            "5ta": _per_seed(adam, "ln", "pre_fall", seeds), "5tb": _per_seed(adam, "no_ln", "pre_fall", seeds),
            "5tc": over, "12t": passes,
            "13t": [optimizer_gains(giadam, chance_loss).get(seed, math.nan) for seed in seeds]}


# --------------------------------------------------------------------------------- one GPU


GPU_RECORD = Path(__file__).resolve().parents[2] / "results" / "07_gpu" / "lm4_128_h200.json"
GPU_NAMES = ("tf_gpu_name", "tf_gpu_params", "tf_gpu_lambda0_ln", "tf_gpu_lambda0_no_ln", "tf_gpu_ratio",
             "tf_gpu_steps_s", "tf_gpu_stacked_s", "tf_gpu_phase_runs", "tf_gpu_phase_hours")


def gpu_record(path: Path = GPU_RECORD) -> dict[str, Any] | None:
    """The committed one-GPU timing record (None outside a checkout of the repository)."""
    import json

    return json.loads(path.read_text()) if path.is_file() else None


def gpu_numbers(record: Mapping[str, Any] | None, paper: Mapping[str, Any]) -> dict[str, Any]:
    """Glue from the one-GPU timing of LM-4-128 (``results/07_gpu/lm4_128_h200.json``, written by
    ``lm4_128_h200.py`` beside it): lambda_0 of seed 0 with and without the final LN (10 batches,
    float64) and their ratio, the parameter count, the sequential steps per second (from the
    difference of a 400- and a 100-step run), the stacked member-steps per second (30 runs of 400
    steps in one vectorised stack), and the runs of the ``paper`` preset's phase diagram (both
    variants x sgd_eta x warmup_steps x seeds) and the hours they take at the stacked rate (an upper
    bound: diverged runs stop early).

    Args:
        record: the JSON record.
        paper: the paper preset's parameters.

    Returns:
        Glue name -> value ('-' for each when ``record`` is None).
    """
    if record is None:
        return dict.fromkeys(GPU_NAMES, "-")
    sequential = 300.0 / (record["sgd_400"] - record["sgd_100"])
    stacked = 30 * 400 / record["stack30_400"]
    ratio = record["lambda0_False"] / record["lambda0_True"]
    runs = len(VARIANTS) * len(paper["sgd_eta"]) * len(paper["warmup_steps"]) * len(paper["seeds"])
    return {"tf_gpu_name": record["gpu"], "tf_gpu_params": f"{record['sgd_params']:,}",
            "tf_gpu_lambda0_ln": f"{record['lambda0_True']:.3g}",
            "tf_gpu_lambda0_no_ln": f"{record['lambda0_False']:.3g}", "tf_gpu_ratio": f"{ratio:.3g}",
            "tf_gpu_steps_s": f"{sequential:.0f}", "tf_gpu_stacked_s": f"{stacked:.0f}",
            "tf_gpu_phase_runs": runs, "tf_gpu_phase_hours": f"{runs * paper['steps'] / stacked / 3600:.1f}"}
