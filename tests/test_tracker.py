"""SharpnessTracker checkpoints: plain state, and a resumed run measures what an uninterrupted one does."""

import io

import torch

from warmup_lib import SharpnessTracker


class _Run:
    """A small MLP trained with Adam on a fixed batch, measured by a tracker every 2 steps."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-2)
        self.tracker = SharpnessTracker(every=2, preconditioned=True, tol=1e-6)
        generator = torch.Generator().manual_seed(1)
        self.inputs = torch.randn(32, 4, generator=generator)
        self.targets = torch.randn(32, 2, generator=generator)
        self.step = 0

    def train(self, updates: int) -> None:
        loss_fn = torch.nn.functional.mse_loss
        for _ in range(updates):
            self.tracker(self.step, self.model, loss_fn, self.inputs, self.targets, self.optimizer)
            self.optimizer.zero_grad()
            loss_fn(self.model(self.inputs), self.targets).backward()
            self.optimizer.step()
            self.step += 1

    def checkpoint(self) -> bytes:
        buffer = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "tracker": self.tracker.state_dict(), "step": self.step}, buffer)
        return buffer.getvalue()

    def resume(self, checkpoint: bytes, tracker: bool = True) -> None:
        state = torch.load(io.BytesIO(checkpoint))  # torch's default: weights_only=True
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if tracker:
            self.tracker.load_state_dict(state["tracker"])
        self.step = state["step"]


def test_tracker_resumed_from_a_checkpoint_measures_bit_for_bit_like_an_uninterrupted_run():
    uninterrupted = _Run()
    uninterrupted.train(10)
    first = _Run()
    first.train(5)
    resumed = _Run()
    resumed.resume(first.checkpoint())
    resumed.train(5)
    assert [record["step"] for record in uninterrupted.tracker.history] == [0, 2, 4, 6, 8]
    assert resumed.tracker.history == uninterrupted.tracker.history  # floats compared exactly
    cold = _Run()  # the same resume without the tracker's state: no warm start, other measurements
    cold.resume(first.checkpoint(), tracker=False)
    cold.train(5)
    assert cold.tracker.history != uninterrupted.tracker.history[3:]


def test_tracker_state_is_a_copy_of_the_history_and_the_warm_start_vectors():
    run = _Run()
    run.train(3)
    state = run.tracker.state_dict()
    assert state["history"] == run.tracker.history and state["history"] is not run.tracker.history
    assert set(state["vectors"]) == {"sharpness", "pre_sharpness"}
    assert all(isinstance(vector, torch.Tensor) for vector in state["vectors"].values())
