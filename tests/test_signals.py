"""CurvatureSignals inside train.run: columns on the right steps, values of the underlying functions
at those parameters, and a run identical bit for bit to one without it.

Oracle: a second callback in the same run that calls sharpness / preconditioned_sharpness (warm-
started from its own previous eigenvector), critical_lr and batch_sharpness directly, so both see
the same parameters, batch and optimizer state; and the same run without the signals.
"""

import math

import pytest

from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.critical import critical_lr
from warmup_lib.curvature import CurvatureSignals, batch_sharpness, preconditioned_sharpness, sharpness
from warmup_lib.runs.train import run

TINY = RunConfig(data=DataConfig(name="mnist1d", n_train=128, n_test=64), model=ModelConfig(width=16, depth=3),
                 optim=OptimConfig(name="sgd"), schedule=ScheduleConfig(eta_trgt=1.0), loss="xent",
                 batch_size=32, steps=5, eval_every=2)
ADAM = TINY.replace(**{"optim.name": "adam", "schedule.eta_trgt": 0.01})
EVERY, ETA0, DELTA = 2, 1e-3, 0.1


class Oracle:
    """Calls the underlying functions directly at the steps CurvatureSignals measures."""

    def __init__(self, adam: bool) -> None:
        self.adam, self.vectors = adam, {}

    def _warm(self, key: str, result) -> float:
        self.vectors[key] = result.eigenvectors
        return result.value

    def __call__(self, step, model, loss_fn, inputs, targets, optimizer):
        if step % EVERY:
            return None
        top = sharpness(model, loss_fn, inputs, targets, v0=self.vectors.get("h"), return_info=True)
        record = {"oracle_sharpness": self._warm("h", top)}
        if self.adam:
            pre = preconditioned_sharpness(model, loss_fn, inputs, targets, optimizer, v0=self.vectors.get("p"),
                                           return_info=True)
            record["oracle_pre_sharpness"] = self._warm("p", pre)
        search = critical_lr(model, loss_fn, inputs, targets, optimizer, eta0=ETA0, delta=DELTA, method="paper")
        record |= {"oracle_eta_c": search.eta_c, "oracle_eta_c_passes": search.forward_passes,
                   "oracle_batch_sharpness": batch_sharpness(model, loss_fn, [(inputs, targets)])}
        return record


@pytest.mark.parametrize("cfg", [TINY, ADAM], ids=["sgd", "adam"])
def test_signals_are_the_underlying_functions_and_leave_the_run_unchanged(cfg):
    adam = cfg.optim.name == "adam"
    plain = run(cfg)
    measured = run(cfg, callbacks=[CurvatureSignals(EVERY, eta0=ETA0, delta=DELTA), Oracle(adam)])
    records = measured.records
    trained = ["step", "lr", "loss", "accuracy", "grad_norm"]
    assert records[trained].equals(plain.records[trained])
    assert measured.evals.equals(plain.evals)
    names = ["sharpness", "eta_c", "batch_sharpness"] + (["pre_sharpness"] if adam else [])
    costs = ["sharpness_hvps", "eta_c_passes", "batch_sharpness_hvps"] + (["pre_sharpness_hvps"] if adam else [])
    assert set(records.columns) == set(trained) | set(names) | set(costs) | {f"oracle_{name}" for name in names} | {
        "oracle_eta_c_passes"}
    for name in [*names, *costs]:
        values = records[name].tolist()
        assert [t for t, value in enumerate(values) if not math.isnan(value)] == [0, 2, 4], name
    for name in [*names, "eta_c_passes"]:
        assert records[name].iloc[::EVERY].tolist() == records[f"oracle_{name}"].iloc[::EVERY].tolist(), name
    assert (records["batch_sharpness_hvps"].iloc[::EVERY] == 1).all()
    assert (records["sharpness_hvps"].iloc[::EVERY] >= 2).all()
    assert (records["eta_c_passes"].iloc[::EVERY] >= 2).all()


def test_a_subset_of_signals_and_pre_sharpness_skipped_without_adam():
    signals = CurvatureSignals(3, signals=("pre_sharpness", "batch_sharpness"))
    records = run(TINY, callbacks=[signals]).records
    assert set(records.columns) - {"step", "lr", "loss", "accuracy", "grad_norm"} == {
        "batch_sharpness", "batch_sharpness_hvps"}
    assert signals.tracker is None and records["batch_sharpness"].notna().tolist() == [True, False, False, True, False]


def test_invalid_arguments_raise_naming_them():
    for arguments, name in [(dict(every=0), "every"), (dict(every=2.0), "every"), (dict(signals=()), "signals"),
                            (dict(signals=("lambda",)), "signals"), (dict(eta0=0.0), "eta0"),
                            (dict(delta=-1.0), "delta")]:
        with pytest.raises(ValueError, match=f"^{name}: got"):
            CurvatureSignals(**({"every": 1} | arguments))
