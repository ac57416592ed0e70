"""segloss.torch: the segloss losses as ``torch.nn.Module`` (CPU tensors).

    import segloss.torch

    criterion = segloss.torch.Loss("lovasz_softmax")
    loss = criterion(logits, labels)        # logits [N, C, H, W] float32, labels [N, H, W] int64
    loss.backward()                         # segloss's analytic gradient, times the upstream one

The forward is a ``torch.autograd.Function``: the tensors are handed to the Rust kernels as
numpy views of the same memory (no copy for float32 ``pred``, float targets and uint8, int32 and
int64 labels, any strides), the kernels compute the value and the analytic gradient once, and
the backward returns that gradient times the upstream gradient (no gradient flows to ``target``
or ``weight``). The value is a 0-d tensor of pred's dtype (float32 or float64; float64 inputs are
computed in float32 by the kernels, see ``segloss.Loss``). Tensors on another device than the
CPU raise ``ValueError`` asking to move them: segloss has CPU kernels only, and a silent
device round trip would hide that cost.

The losses, their formulas and the references they equal are listed by ``segloss.catalogue()``
and in the docstring of ``segloss`` (generated from the registry at import).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch

from . import _segloss

__all__ = ["Loss", "SeglossFunction", "SeglossPerImageFunction"]


def _numpy(x: Any, name: str, is_pred: bool = False) -> Any:
    """A CPU tensor as a numpy view of its memory; numpy arrays and other objects as they are."""
    if not isinstance(x, torch.Tensor):
        return x
    if x.device.type != "cpu":
        raise ValueError(
            f"segloss.torch: {name} is on {x.device}, but segloss runs on the CPU: move the inputs "
            f"with .cpu() (and the loss back with .to({str(x.device)!r})) before calling the loss"
        )
    if is_pred and x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"segloss.torch: pred must be float32 or float64, got {x.dtype} (convert it with .float())")
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return x.detach().resolve_conj().resolve_neg().numpy()


def _inputs(pred: torch.Tensor, target: Any, weight: Optional[Any]) -> Tuple[Any, Any, Any]:
    """pred, target and weight as the numpy views ``segloss.Loss`` takes."""
    w = None if weight is None else _numpy(weight, "weight")
    return _numpy(pred, "pred", is_pred=True), _numpy(target, "target"), w


class SeglossFunction(torch.autograd.Function):
    """``SeglossFunction.apply(pred, target, weight, loss, threads)``: the value of the
    ``segloss.Loss`` ``loss`` as a 0-d tensor of pred's dtype; its backward is segloss's
    analytic gradient with respect to ``pred`` times the upstream gradient."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        pred: torch.Tensor,
        target: Any,
        weight: Optional[Any],
        loss: "_segloss.Loss",
        threads: Optional[int],
    ) -> torch.Tensor:
        p, t, w = _inputs(pred, target, weight)
        if ctx.needs_input_grad[0]:
            value, grad = loss.value_and_grad(p, t, w, threads=threads)
            ctx.save_for_backward(torch.from_numpy(grad))
        else:
            value = loss(p, t, w, threads=threads)
        return torch.tensor(value, dtype=pred.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Tuple[Optional[torch.Tensor], None, None, None, None]:  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None, None, None


class SeglossPerImageFunction(torch.autograd.Function):
    """``SeglossPerImageFunction.apply(pred, target, weight, loss, threads)``: the loss of each
    image alone (``loss.per_image``) as a tensor of shape ``[N]`` and pred's dtype. Image ``i``'s
    gradient depends on image ``i`` only, so the forward computes each image's own gradient
    (``loss.per_image_vjp`` with an upstream of ones) and the backward scales image ``i``'s part
    by the upstream ``grad_output[i]``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        pred: torch.Tensor,
        target: Any,
        weight: Optional[Any],
        loss: "_segloss.Loss",
        threads: Optional[int],
    ) -> torch.Tensor:
        p, t, w = _inputs(pred, target, weight)
        if ctx.needs_input_grad[0]:
            values, grad = loss.per_image_vjp(p, t, None, w, threads=threads)
            ctx.save_for_backward(torch.from_numpy(grad))
        else:
            values = loss.per_image(p, t, w, threads=threads)
        return torch.from_numpy(values).to(pred.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Tuple[Optional[torch.Tensor], None, None, None, None]:  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        scale = grad_output.reshape((-1,) + (1,) * (grad.dim() - 1))
        return grad * scale, None, None, None, None


class Loss(torch.nn.Module):
    """A segloss loss (any spec string of ``segloss.catalogue()``) as a ``torch.nn.Module``.

    ``Loss(spec, threads=None, check_finite=False, per_image=False)``;
    ``forward(pred, target, weight=None)`` returns the loss value as a 0-d tensor of pred's
    dtype, differentiable with respect to ``pred`` (CPU tensors; see the module docstring).
    With ``per_image=True`` it returns the loss of each image alone, a tensor of shape ``[N]``
    (for per-sample weighting, hard-example mining and logging; ``loss.mean()`` is the batch's
    loss for the losses that average per-image terms, see docs/LOSSES.md). ``target`` and
    ``weight`` may be tensors or numpy arrays; the shapes, modes and dtypes are those of
    ``segloss.Loss``.
    """

    def __init__(self, spec: str, threads: Optional[int] = None, check_finite: bool = False, per_image: bool = False) -> None:
        super().__init__()
        self.loss = _segloss.Loss(spec, threads, check_finite)
        self.per_image = bool(per_image)

    @property
    def spec(self) -> str:
        """The canonical spec string."""
        return self.loss.spec

    def forward(self, pred: torch.Tensor, target: Any, weight: Optional[Any] = None) -> torch.Tensor:
        if not isinstance(pred, torch.Tensor):
            raise TypeError(f"segloss.torch.Loss: pred must be a torch.Tensor, got {type(pred).__name__}")
        if self.per_image:
            return SeglossPerImageFunction.apply(pred, target, weight, self.loss, None)
        return SeglossFunction.apply(pred, target, weight, self.loss, None)

    def extra_repr(self) -> str:
        return repr(self.loss.spec) + (", per_image=True" if self.per_image else "")

