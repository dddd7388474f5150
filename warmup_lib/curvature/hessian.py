"""Hessian-vector products of a training loss with respect to a module's flat parameter vector.

The loss is L(theta) = sum_b (n_b / N) loss_fn(model(x_b; theta), y_b) over one or several batches,
which is the batch-size-weighted mean of per-batch mean losses.  H = d^2 L / d theta^2 is never
formed; ``HVPOperator`` maps a flat vector v (all trainable parameters concatenated in
``model.named_parameters()`` order) to H v by one of two exact methods:

- ``"double_backward"``: g = dL/dtheta is built once with ``create_graph=True``; each product is one
  reverse pass through that graph, Hv = d(g . v)/dtheta.
- ``"forward_over_reverse"``: Hv = jvp(grad(L), (theta,), (v,)) with ``torch.func``; it recomputes the
  forward and backward on every call and keeps no graph between calls.

The model is evaluated through ``torch.func.functional_call`` on detached copies of its parameters
and buffers (cast to ``dtype`` if given), so the user's parameters, buffers, ``.grad`` fields and
global random state are never touched.  Normalisation and dropout layers run in the requested
``mode`` ("train" or "eval"); each submodule's own flag is restored afterwards.  Dropout in train
mode draws the same masks in every evaluation (a fixed seed inside a forked random state), so the
operator is a fixed symmetric matrix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
HVP_METHODS = ("double_backward", "forward_over_reverse")
MODES = ("train", "eval")
DROPOUT_SEED = 0  # fixed dropout masks make H a fixed matrix across products


@contextlib.contextmanager
def module_mode(model: nn.Module, mode: str) -> Iterator[None]:
    """Run the block with every submodule in ``mode`` ("train"/"eval"); restore each flag after.

    Args:
        model: the module whose submodules' ``training`` flags are set.
        mode: "train" or "eval".

    Returns:
        A context manager (it yields None).

    Raises:
        ValueError: if ``mode`` is not one of :data:`MODES`.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    saved = [(module, module.training) for module in model.modules()]
    model.train(mode == "train")
    try:
        yield
    finally:
        for module, was_training in saved:
            module.training = was_training


def as_batches(
    inputs: torch.Tensor | Sequence[torch.Tensor], targets: torch.Tensor | Sequence[torch.Tensor]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pair inputs and targets into a list of batches; a single tensor pair is one batch.

    Args:
        inputs: one batch, or a sequence of batches.
        targets: the matching targets, of the same kind as ``inputs``.

    Returns:
        [(inputs_b, targets_b), ...].

    Raises:
        ValueError: if one argument is a tensor and the other a sequence, or the sequences are
            empty or of different lengths.
    """
    if isinstance(inputs, torch.Tensor) != isinstance(targets, torch.Tensor):
        raise ValueError("inputs and targets must both be tensors or both be sequences of tensors")
    if isinstance(inputs, torch.Tensor):
        return [(inputs, targets)]
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(
            f"inputs and targets must be non-empty sequences of equal length, "
            f"got {len(inputs)} and {len(targets)}"
        )
    return list(zip(inputs, targets))


def trainable_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that define the flat vector theta (those with requires_grad).

    Args:
        model: the network.

    Returns:
        {name: parameter} in ``model.named_parameters()`` order.
    """
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _cast(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """A detached copy, cast to ``dtype`` if it is a floating tensor."""
    copy = tensor.detach().clone()
    if dtype is not None and copy.is_floating_point():
        copy = copy.to(dtype)
    return copy


class HVPOperator:
    """The map v -> H v for the loss of ``model`` on fixed batches at its current parameters.

    Attributes: ``theta`` (the flat parameter copy, in the measurement dtype), ``n`` (its length),
    ``hvps`` (products computed so far).

    Args:
        model: the network, at the parameters where H is taken.
        loss_fn: ``loss_fn(model(x), y)`` is the mean loss on one batch.
        inputs: one batch, or a sequence of batches.
        targets: the matching targets.
        method: "double_backward" or "forward_over_reverse" (module docstring).
        dtype: compute in a copy of this dtype (None: the model's).
        mode: "train" or "eval", the mode of normalisation and dropout layers.

    Raises:
        ValueError: if ``method`` or ``mode`` is unknown, the model has no trainable parameters,
            or the batches do not pair up (:func:`as_batches`).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        inputs: torch.Tensor | Sequence[torch.Tensor],
        targets: torch.Tensor | Sequence[torch.Tensor],
        *,
        method: str = "double_backward",
        dtype: torch.dtype | None = None,
        mode: str = "train",
    ) -> None:
        if method not in HVP_METHODS:
            raise ValueError(f"method must be one of {HVP_METHODS}, got {method!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        params = trainable_parameters(model)
        if not params:
            raise ValueError("model has no trainable parameters")
        self.model, self.loss_fn, self.method, self.mode = model, loss_fn, method, mode
        self.names = list(params)
        self.shapes = [p.shape for p in params.values()]
        self.theta = torch.cat([_cast(p, dtype).reshape(-1) for p in params.values()])
        self.n = self.theta.numel()
        frozen = {name: p for name, p in model.named_parameters() if not p.requires_grad}
        self.constants = {name: _cast(t, dtype) for name, t in {**frozen, **dict(model.named_buffers())}.items()}
        batches = as_batches(inputs, targets)
        total = sum(x.shape[0] for x, _ in batches)
        self.batches = [(_cast(x, dtype), _cast(y, dtype), x.shape[0] / total) for x, y in batches]
        self.hvps = 0
        self._grad_graph: tuple[torch.Tensor, torch.Tensor] | None = None

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat vector into named tensors shaped like the trainable parameters.

        Args:
            flat: a vector of length ``n``.

        Returns:
            {name: view of ``flat``} in the order of theta.
        """
        pieces = torch.split(flat, [s.numel() for s in self.shapes])
        return {name: piece.view(shape) for name, piece, shape in zip(self.names, pieces, self.shapes)}

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """L(theta) = sum_b (n_b / N) loss_fn(model(x_b; theta), y_b), in ``mode``.

        Buffers are fresh copies per evaluation and dropout draws the same masks every time.

        Args:
            theta: the flat trainable parameters, length ``n``.

        Returns:
            L as a scalar tensor (differentiable in ``theta``).
        """
        # Fresh buffer copies per evaluation: batch norm in train mode updates them in place.
        tensors = {**{k: v.clone() for k, v in self.constants.items()}, **self.unflatten(theta)}
        devices = [theta.device] if theta.device.type == "cuda" else []
        with module_mode(self.model, self.mode), torch.random.fork_rng(devices=devices):
            torch.manual_seed(DROPOUT_SEED)
            return sum(
                weight * self.loss_fn(functional_call(self.model, tensors, (x,)), y)
                for x, y, weight in self.batches
            )

    def gradient(self) -> torch.Tensor:
        """dL/dtheta at the current parameters.

        Returns:
            The gradient, flat, in the measurement dtype.
        """
        return torch.func.grad(self.loss)(self.theta)

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        """H v for a flat vector v (cast to the measurement dtype and device); counts one product.

        Args:
            vector: v, shape (n,).

        Returns:
            H v, shape (n,), in the measurement dtype.

        Raises:
            ValueError: if ``vector`` does not have shape (n,).
        """
        if vector.shape != (self.n,):
            raise ValueError(f"vector must have shape ({self.n},), got {tuple(vector.shape)}")
        vector = vector.to(self.theta)
        self.hvps += 1
        if self.method == "forward_over_reverse":
            return torch.func.jvp(torch.func.grad(self.loss), (self.theta,), (vector,))[1]
        theta, grad = self._gradient_graph()
        return torch.autograd.grad(grad, theta, vector, retain_graph=True)[0]

    def _gradient_graph(self) -> tuple[torch.Tensor, torch.Tensor]:
        """theta (a leaf) and dL/dtheta with its graph, built once and reused by every product."""
        if self._grad_graph is None:
            with torch.enable_grad():
                theta = self.theta.clone().requires_grad_(True)
                grad = torch.autograd.grad(self.loss(theta), theta, create_graph=True)[0]
            self._grad_graph = (theta, grad)
        return self._grad_graph


def hvp(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    targets: torch.Tensor | Sequence[torch.Tensor],
    vector: torch.Tensor,
    *,
    method: str = "double_backward",
    dtype: torch.dtype | None = None,
    mode: str = "train",
) -> torch.Tensor:
    """One Hessian-vector product H v of the loss, without forming H.

    H = d^2 L / d theta^2, with theta the trainable parameters flattened in
    ``model.named_parameters()`` order and L the batch-size-weighted mean of the losses on the
    batch(es).  "double_backward" builds g = dL/dtheta with its graph and returns
    H v = d(g . v)/dtheta; "forward_over_reverse" differentiates the gradient along v in forward
    mode (``torch.func.jvp``).  Both are exact.  The model runs on detached copies, so its
    parameters, buffers, ``.grad`` fields and the global random state are untouched; dropout draws
    the same masks in every evaluation, so H is a fixed symmetric matrix.

    Args:
        model: the network, at the parameters where H is taken.
        loss_fn: ``loss_fn(model(x), y)`` is the mean loss on one batch.
        inputs: one batch, or a sequence of batches.
        targets: the matching targets.
        vector: v, flat over the trainable parameters.
        method: "double_backward" or "forward_over_reverse".
        dtype: compute in a copy of this dtype (None: the model's).
        mode: "train" or "eval", the mode of normalisation and dropout layers.

    Returns:
        H v, flat in the order of ``vector``, in ``dtype`` (default: the model's).
    """
    operator = HVPOperator(model, loss_fn, inputs, targets, method=method, dtype=dtype, mode=mode)
    return operator(vector)
