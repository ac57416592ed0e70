"""segloss: image segmentation losses with analytic gradients, exact distance transforms and
U-Net weight maps, on SIMD CPU kernels (Rust), from numpy; ``segloss.torch`` wraps the losses
as ``torch.nn.Module`` (PyTorch is optional).

    import numpy as np, segloss

    loss = segloss.Loss("bce+dice")                    # parsed and validated once
    value = loss(pred, target)                         # pred float32/float64 [N, C, *S]
    value, grad = loss.value_and_grad(pred, target)    # grad: pred's shape and dtype
    w = segloss.unet_weights(instance_labels)          # U-Net border weights, float32
    d = segloss.edt(mask, spacing=(2.0, 1.0))          # scipy's distance_transform_edt

Everything a loss accepts is in the registry of the Rust library, which this module asks at run
time: ``segloss.catalogue()`` gives every loss with its modes, keys, defaults, formula and the
reference it equals, ``segloss.describe(name)`` formats one, and the list at the end of this
docstring is generated from the catalogue when the module is imported. The spec strings are
those of the Rust API and the ``segloss`` command-line program (docs/LOSSES.md in the
repository): ``name[:key=value,...]``, weighted sums ``0.5*ce+lovasz_softmax``.

Errors: bad shapes, keys and values raise ``ValueError`` with segloss's message (both shapes,
the key and the value named); unsupported dtypes raise ``TypeError``. The GIL is released while
the kernels run; ``threads=`` per call or per loss, or ``segloss.set_threads(n)``, sets the
thread count, and every result is the same bits for any thread count.
"""

from __future__ import annotations

from typing import Any, Dict

from ._segloss import Loss, __version__, catalogue, edt, get_threads, label, set_threads, unet_weights

try:
    from ._segloss import attach_onnx, export_onnx
except ImportError:  # a build without the crate's default `onnx` feature
    pass

__all__ = [
    "Loss",
    "attach_onnx",
    "catalogue",
    "describe",
    "edt",
    "export_onnx",
    "get_threads",
    "label",
    "set_threads",
    "unet_weights",
    "__version__",
]


def describe(name: str) -> str:
    """The catalogue entry of the loss ``name`` (or of each term of a spec) as text: formula,
    reference, modes, weight input, and every key with its default and meaning."""
    cat: Dict[str, Dict[str, Any]] = catalogue()
    names = Loss(name).names if name not in cat else [name]
    parts = []
    for n in names:
        d = cat[n]
        lines = [
            f"{n}: {d['formula']}",
            f"  reference: {d['anchor']}",
            f"  modes: {', '.join(d['modes'])}; weight input: {d['weight']}",
        ]
        for key, k in d["keys"].items():
            lines.append(f"  {key} = {k['default']}: {k['doc']}")
        for old, new in d["aliases"].items():
            lines.append(f"  {old}: old name of {new}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _catalogue_doc() -> str:
    lines = ["", "Losses (from the registry, at import):", ""]
    for name, d in catalogue().items():
        lines.append(f"- ``{name}`` ({', '.join(d['modes'])}): {d['formula']}; reference: {d['anchor']}")
    return "\n".join(lines) + "\n"


__doc__ = (__doc__ or "") + _catalogue_doc()


def __getattr__(name: str) -> Any:
    # `segloss.torch` is imported on first use, so that numpy users never import torch.
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'segloss' has no attribute {name!r}")
