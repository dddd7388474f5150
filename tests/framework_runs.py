"""Train a tiny model in Hugging Face ``Trainer`` or in Lightning, as a user of warmup_lib would.

Run by tests/test_frameworks.py in fresh processes::

    python tests/framework_runs.py FRAMEWORK PHASE FOLDER

FRAMEWORK is "transformers" or "lightning".  PHASE "first" trains every configuration of
:data:`CONFIGS` for :data:`STEPS` updates, checkpointing at update :data:`CHECKPOINT_STEP` (mid-warmup)
under FOLDER/<config>/; PHASE "resume" trains each again from that checkpoint to the end, in this
new process.  Each writes FOLDER/<config>/<phase>.json: per update (its global step) the batch
loss, the param groups' rates that update used and the rate the framework can log
(``get_last_lr()[0]`` after the update; for Hugging Face, the "learning_rate" it logged), plus
what ``GIAdam.init_from_grad`` returned in the "train begins" hook.

The set-up is the three-line recipe of the README: a GIAdam over two param groups at base rates
eta_trgt and eta_trgt/4, driven by a ``ScheduleLR`` (linear warmup) or a
``PersistentCatapultWarmup`` (its ``observe`` in the training step), and a hook at train begin
that initialises v0 from a first gradient (a no-op on a resumed optimizer).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import torch

from warmup_lib import GIAdam, PersistentCatapultWarmup, Schedule, ScheduleLR

STEPS = 40
CHECKPOINT_STEP = 20
SCHEDULE_ETA_TRGT = 0.04  # the linear warmup's target
WARMUP_STEPS = 30
CATAPULT_ETA_TRGT = 10.0  # Adam at 10 catapults: re-estimates before and after the checkpoint
Scheduler = torch.optim.lr_scheduler.LRScheduler
CONFIGS = {f"{v0}_{scheduler}": (v0, scheduler) for v0 in ("grad", "zero") for scheduler in ("schedule", "catapult")}


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(outputs, targets)


class TinyNet(torch.nn.Module):
    """8 -> 32 -> 1 tanh MLP; with ``labels`` it returns Hugging Face's {"loss", "logits"}."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(8, 32)
        self.out = torch.nn.Linear(32, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        outputs = self.out(torch.tanh(self.hidden(x)))
        return outputs if labels is None else {"loss": loss_fn(outputs, labels), "logits": outputs}


def data() -> tuple[torch.Tensor, torch.Tensor]:
    """64 samples of y = x_0 x_1: one full batch per update, so every update ends an epoch."""
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(64, 8, generator=generator)
    return inputs, inputs[:, :1] * inputs[:, 1:2]


def build(config: str) -> tuple[TinyNet, GIAdam, Scheduler]:
    """The model, a GIAdam over two groups (base rates eta_trgt, eta_trgt/4) and the scheduler."""
    v0, kind = CONFIGS[config]
    eta_trgt = SCHEDULE_ETA_TRGT if kind == "schedule" else CATAPULT_ETA_TRGT
    torch.manual_seed(0)
    model = TinyNet()
    optimizer = GIAdam([{"params": model.hidden.parameters(), "lr": eta_trgt},
                        {"params": model.out.parameters(), "lr": eta_trgt / 4}], v0=v0)
    if kind == "schedule":
        scheduler = ScheduleLR(optimizer, Schedule(eta_trgt=eta_trgt, warmup_steps=WARMUP_STEPS, total_steps=STEPS))
    else:
        scheduler = PersistentCatapultWarmup(optimizer, model, loss_fn, eta_trgt=eta_trgt, eta0=eta_trgt / 1000)
    return model, optimizer, scheduler


def init_v0(model: TinyNet, optimizer: GIAdam) -> bool:
    """The "train begins" hook: v0 from a first full-batch gradient (kept if the optimizer was restored)."""
    inputs, targets = data()
    loss_fn(model(inputs), targets).backward()
    initialised = optimizer.init_from_grad()
    optimizer.zero_grad()
    return initialised


class Log:
    """Per update: global step, loss, rates used; the rate the framework can log; what the hook's
    init_from_grad returned; the update indices of the persistent warmup's re-estimations."""

    def __init__(self) -> None:
        self.steps, self.losses, self.rates, self.logged, self.init_from_grad = [], [], [], [], []
        self.searches: list[int] = []

    def update(self, step: int, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        self.steps.append(step)
        self.losses.append(loss.item())
        self.rates.append([group["lr"] for group in optimizer.param_groups])

    def write(self, path: Path, scheduler: Scheduler) -> None:
        if isinstance(scheduler, PersistentCatapultWarmup):
            self.searches = [record.step for record in scheduler.records]
        path.write_text(json.dumps(vars(self)))


def run_transformers(config: str, folder: Path, resume: bool) -> tuple[Log, Scheduler]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model, optimizer, scheduler = build(config)
    inputs, targets = data()
    dataset = [{"x": x, "labels": y} for x, y in zip(inputs, targets)]
    log = Log()

    class WarmupTrainer(Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = super().training_step(model, inputs, num_items_in_batch)
            if isinstance(scheduler, PersistentCatapultWarmup):
                scheduler.observe(loss, inputs["x"], inputs["labels"])
            log.update(self.state.global_step, loss, optimizer)
            return loss

    class Hooks(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            log.init_from_grad.append(init_v0(model, optimizer))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "learning_rate" in logs:
                log.logged.append(logs["learning_rate"])

    args = TrainingArguments(output_dir=str(folder), max_steps=STEPS, per_device_train_batch_size=len(dataset),
                             save_strategy="steps", save_steps=CHECKPOINT_STEP, logging_steps=1, report_to="none",
                             use_cpu=True, max_grad_norm=0.0, seed=0, disable_tqdm=True, dataloader_num_workers=0)
    trainer = WarmupTrainer(model=model, args=args, train_dataset=dataset, optimizers=(optimizer, scheduler),
                            callbacks=[Hooks()])
    trainer.train(resume_from_checkpoint=str(folder / f"checkpoint-{CHECKPOINT_STEP}") if resume else None)
    return log, scheduler


def run_lightning(config: str, folder: Path, resume: bool) -> tuple[Log, Scheduler]:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint

    model, optimizer, scheduler = build(config)
    log = Log()

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def training_step(self, batch, batch_idx):
            inputs, targets = batch
            loss = loss_fn(self.net(inputs), targets)
            if isinstance(scheduler, PersistentCatapultWarmup):
                self.lr_schedulers().observe(loss, inputs, targets)
            log.update(self.global_step, loss, optimizer)
            return loss

        def on_train_start(self) -> None:
            log.init_from_grad.append(init_v0(model, optimizer))

        def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
            log.logged.append(self.lr_schedulers().get_last_lr()[0])

        def configure_optimizers(self):
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*data()), batch_size=64, shuffle=False)
    checkpoints = ModelCheckpoint(dirpath=folder, filename="{step}", every_n_train_steps=CHECKPOINT_STEP,
                                  save_top_k=-1)
    trainer = pl.Trainer(max_steps=STEPS, max_epochs=-1, accelerator="cpu", devices=1, logger=False,
                         callbacks=[checkpoints], enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    trainer.fit(Module(), loader, ckpt_path=folder / f"step={CHECKPOINT_STEP}.ckpt" if resume else None)
    return log, scheduler


def main(framework: str, phase: str, root: Path) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    warnings.filterwarnings("ignore")  # the frameworks' advice about workers, devices and model classes
    run = {"transformers": run_transformers, "lightning": run_lightning}[framework]
    for config in CONFIGS:
        folder = root / config
        folder.mkdir(parents=True, exist_ok=True)
        log, scheduler = run(config, folder, resume=phase == "resume")
        log.write(folder / f"{phase}.json", scheduler)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
