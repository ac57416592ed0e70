"""Type stubs of the native module ``segloss._segloss`` (re-exported by ``segloss``)."""

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Array = npt.ArrayLike
_Spacing = Union[float, Sequence[float], None]

class Loss:
    """A loss or a weighted sum of losses from its spec string, parsed and validated once."""

    def __init__(self, spec: str, threads: Optional[int] = None, check_finite: bool = False) -> None: ...
    @property
    def spec(self) -> str:
        """The canonical spec string."""
    @property
    def names(self) -> list[str]:
        """The loss name of each term."""
    @property
    def threads(self) -> Optional[int]: ...
    @property
    def check_finite(self) -> bool: ...
    def __call__(self, pred: _Array, target: _Array, weight: Optional[_Array] = None, *, threads: Optional[int] = None) -> float:
        """The loss value."""
    def value_and_grad(
        self, pred: _Array, target: _Array, weight: Optional[_Array] = None, *, threads: Optional[int] = None
    ) -> Tuple[float, npt.NDArray[Union[np.float32, np.float64]]]:
        """The loss value and d loss / d pred (pred's shape and dtype)."""
    def per_image(
        self, pred: _Array, target: _Array, weight: Optional[_Array] = None, *, threads: Optional[int] = None
    ) -> npt.NDArray[np.float64]:
        """The loss of each image alone, shape [N]."""
    def per_image_vjp(
        self,
        pred: _Array,
        target: _Array,
        upstream: Optional[_Array] = None,
        weight: Optional[_Array] = None,
        *,
        threads: Optional[int] = None,
    ) -> Tuple[npt.NDArray[np.float64], npt.NDArray[Union[np.float32, np.float64]]]:
        """The per-image values and sum_i upstream[i] * d values[i] / d pred (upstream None: all ones)."""
    def __reduce__(self) -> Tuple[Any, Tuple[str, Optional[int], bool]]: ...

def catalogue() -> Dict[str, Dict[str, Any]]:
    """Every loss of the registry: name -> {family, config, modes, weight, formula, anchor, unreduced, keys, aliases}."""

def edt(mask: _Array, spacing: _Spacing = None, squared: bool = False, *, threads: Optional[int] = None) -> npt.NDArray[np.float32]:
    """Exact Euclidean distance transform (scipy.ndimage.distance_transform_edt(mask, sampling=spacing))."""

def label(mask: _Array, connectivity: Optional[int] = None) -> Tuple[npt.NDArray[np.int32], int]:
    """Connected components (scipy.ndimage.label convention): (labels, count)."""

def unet_weights(
    labels: _Array,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: Union[None, str, Tuple[float, float], Sequence[float]] = None,
    connectivity: Optional[int] = None,
    *,
    threads: Optional[int] = None,
) -> npt.NDArray[np.float32]:
    """U-Net weight map (Ronneberger et al. 2015, eq. 2) of instance labels or a boolean mask."""

def export_onnx(
    spec: str,
    rank: int = 4,
    mode: Optional[str] = None,
    classes: Optional[int] = None,
    with_weight: bool = False,
    *,
    pixel_weight: bool = False,
    channel: bool = True,
    opset: int = 17,
    prefix: Optional[str] = None,
) -> bytes:
    """The spec as a standalone ONNX model (the bytes of a .onnx file)."""

def attach_onnx(
    model: Union[bytes, bytearray],
    to: str,
    spec: str,
    rank: Optional[int] = None,
    mode: Optional[str] = None,
    classes: Optional[int] = None,
    with_weight: bool = False,
    *,
    pixel_weight: bool = False,
    channel: bool = True,
    prefix: Optional[str] = None,
) -> bytes:
    """The model with the loss attached to its output `to` (new .onnx bytes)."""

def set_threads(threads: Optional[int]) -> None:
    """The thread count of calls that give none (None: one per core)."""

def get_threads() -> Optional[int]:
    """The module's thread setting."""
