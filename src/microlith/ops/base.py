"""What every op module provides, and the registry that finds them.

An op module defines one ``OpDef`` subclass per op kind and registers it. The
rest of microlith only talks to ops through this interface, so adding an op is
one module (plus, later, its C kernel and tests).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..ir import DType, Node, Tensor

ACTIVATIONS = ("none", "relu", "relu6", "relu_n1_to_1", "tanh")

# Kernel sets a generated project can be built with: "any" lets each kernel
# pick its path from the core it is compiled for (portable C, ARMv7E-M DSP or
# Helium), so scratch covers every path; "portable" is for cores without DSP
# or vector extensions (Cortex-M0/M0+/M3, RISC-V, Xtensa): the project defines
# ML_PORTABLE (in its ml_config.h) and scratch covers the portable C only.
KERNEL_SETS = ("any", "portable")
_KERNEL_SET: contextvars.ContextVar[str] = contextvars.ContextVar("kernel_set", default="any")


def portable_only() -> bool:
    """Whether the lowering in progress is for the portable kernel set (see
    ``KERNEL_SETS``): lowerings size DSP/Helium-only scratch by this."""
    return _KERNEL_SET.get() == "portable"


@contextlib.contextmanager
def kernel_set(name: str) -> Iterator[None]:
    """Lower with kernel set ``name`` ("any" or "portable") inside the block."""
    if name not in KERNEL_SETS:
        raise ValueError(f"kernel set must be one of {KERNEL_SETS}, got {name!r}")
    token = _KERNEL_SET.set(name)
    try:
        yield
    finally:
        _KERNEL_SET.reset(token)


@dataclass(frozen=True)
class Cost:
    """Work one node does per inference.

    ``macs`` counts multiply-accumulates of the matrix-like ops (convolutions,
    fully-connected, recurrent cells): one per multiply-add of a weight with an
    input. ``elementwise`` counts the other per-element arithmetic (pooling
    window elements, adds, activations), reported apart so MAC totals stay
    comparable with published figures.
    """

    macs: int = 0
    elementwise: int = 0
    scratch_bytes: int = 0


class OpError(ValueError):
    """A node whose inputs or attributes make no sense for its op."""


@dataclass(frozen=True)
class OutSpec:
    shape: tuple[int, ...]
    dtype: DType


class OpDef:
    kind: ClassVar[str]
    family: ClassVar[str] = ""
    # Input positions holding learned parameters (weights, biases, BN stats):
    # counted as the model's parameters.
    param_inputs: ClassVar[tuple[int, ...]] = ()
    # Input positions that must be present.
    required_inputs: ClassVar[int] = 1

    def infer(self, inputs: list[Tensor | None], attrs: Any) -> list[OutSpec]:
        """Output shapes and dtypes from input tensors and attributes."""
        raise NotImplementedError

    def cost(self, inputs: list[Tensor | None], outputs: list[Tensor], attrs: Any) -> Cost:
        return Cost(elementwise=sum(t.numel for t in outputs))

    def inplace_input(self, node: Node) -> int | None:
        """Index of an input whose buffer the output may overwrite, if any."""
        return None

    def reference(self, inputs: list[np.ndarray | None], attrs: Any,
                  ctx: RefContext | None = None) -> list[np.ndarray]:
        """The exact numpy result of this op on concrete input arrays (``None``
        for an absent optional input), one array per output. Integer results
        equal TFLite Micro's reference kernels bit for bit. ``ctx`` carries the
        node's tensors (quantization parameters) and collects new values of
        variable inputs (RNN/SVDF state)."""
        raise NotImplementedError(f"op {self.kind!r} has no numpy reference")

    def lower(self, node: Node, ins: list[Tensor | None], outs: list[Tensor]) -> Lowering:
        """The C call this node compiles to (see ``Lowering``)."""
        raise NotImplementedError(f"op {self.kind!r} has no C lowering yet")


@dataclass
class RefContext:
    """What a reference sees besides arrays: the node's tensors, and a place
    to put the new value of a variable (state) input, by input index."""

    ins: list[Tensor | None]
    outs: list[Tensor]
    updates: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class Lowering:
    """How one node becomes one C call in the generated ``model.c``.

    ``function`` is called with ``args``, C expressions in which codegen
    replaces placeholders:
      {in0} {in1} ...   pointer to input K (weights array, arena slot or state
                        buffer; ``NULL`` for an absent optional input)
      {out0} ...        pointer to output K in the arena
      {params}          pointer to this node's ``static const params_type``
                        initialized from ``params`` (field name -> int/float)
      {const:NAME}      this node's constant array ``consts[NAME]`` (C type from
                        the numpy dtype; multipliers, shifts, lookup tables)
      {scratch}         the shared scratch buffer (``scratch_bytes`` of it)
    ``sources`` name the kernel files (stems in ``microlith/kernels``, each a
    .c and .h pair) the call needs; codegen copies only those, plus
    ``ml_common.h`` and the project's ``ml_config.h`` (its kernel set).
    """

    function: str
    sources: tuple[str, ...]
    args: tuple[str, ...]
    params_type: str | None = None
    params: dict[str, int | float] | None = None
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    scratch_bytes: int = 0


REGISTRY: dict[str, OpDef] = {}


def register(cls: type[OpDef]) -> type[OpDef]:
    if cls.kind in REGISTRY:
        raise RuntimeError(f"op {cls.kind} registered twice")
    REGISTRY[cls.kind] = cls()
    return cls


def get(kind: str) -> OpDef:
    return REGISTRY[kind]


# -- helpers shared by op modules --------------------------------------------
def need(cond: bool, message: str) -> None:
    if not cond:
        raise OpError(message)


def need_rank(t: Tensor | None, rank: int | tuple[int, ...], what: str) -> Tensor:
    ranks = (rank,) if isinstance(rank, int) else rank
    need(t is not None, f"{what} is missing")
    assert t is not None
    need(t.rank in ranks, f"{what} must have rank {' or '.join(map(str, ranks))}, "
                          f"has shape {list(t.shape)}")
    return t


def check_window(stride=(1, 1), pads=(), activation="none", dilation=(1, 1),
                 kernel=(1, 1)) -> None:
    """Validation shared by the sliding-window attribute classes."""
    need(all(k >= 1 for k in kernel), f"window must be >= 1, got {kernel}")
    need(all(s >= 1 for s in stride), f"stride must be >= 1, got {stride}")
    need(all(d >= 1 for d in dilation), f"dilation must be >= 1, got {dilation}")
    need(all(p >= 0 for p in pads), f"padding must be >= 0, got {pads}")
    need(activation in ACTIVATIONS, f"unknown fused activation {activation!r}")


def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Numpy-style broadcasting of two shapes."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b, strict=True):
        need(x == y or x == 1 or y == 1, f"shapes {list(a)} and {list(b)} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


def conv_out(size: int, kernel: int, stride: int, dilation: int, pad_total: int) -> int:
    eff = (kernel - 1) * dilation + 1
    out = (size + pad_total - eff) // stride + 1
    need(out >= 1, f"window of {eff} does not fit an input of {size} with {pad_total} padding")
    return out


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding: output ceil(size/stride); extra padding goes after."""
    eff = (kernel - 1) * dilation + 1
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


# -- helpers for numpy references ----------------------------------------------
def float_inputs(kind: str, inputs: list[np.ndarray | None]) -> None:
    """References compute float32 only for now: refuse anything else clearly."""
    for i, a in enumerate(inputs):
        if a is not None and np.asarray(a).dtype != np.float32:
            raise NotImplementedError(
                f"{kind} reference: input {i} is {np.asarray(a).dtype}; only float32 is "
                "implemented (integer semantics are not yet)")


def apply_activation(x: np.ndarray, activation: str) -> np.ndarray:
    """A fused activation (one of ``ACTIVATIONS``) applied to a float result."""
    if activation == "none":
        return x
    if activation == "relu":
        return np.maximum(x, np.float32(0))
    if activation == "relu6":
        return np.clip(x, np.float32(0), np.float32(6))
    if activation == "relu_n1_to_1":
        return np.clip(x, np.float32(-1), np.float32(1))
    if activation == "tanh":
        return np.tanh(x)
    raise OpError(f"unknown fused activation {activation!r}")


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], pads: tuple[int, int, int, int],
            fill: float = 0.0) -> np.ndarray:
    """Sliding windows of an NHWC array padded with ``fill`` by (top, bottom,
    left, right): a read-only view [N, OH, OW, KH, KW, C]."""
    pt, pb, pl, pr = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    n, h, w, c = xp.shape
    kh, kw = kernel
    (sh, sw), (dh, dw) = stride, dilation
    oh = (h - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w - ((kw - 1) * dw + 1)) // sw + 1
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (n, oh, ow, kh, kw, c),
        (s[0], s[1] * sh, s[2] * sw, s[1] * dh, s[2] * dw, s[3]), writeable=False)
