"""2-D max and average pooling in NHWC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DType, Tensor
from .base import (
    Cost,
    Lowering,
    OpDef,
    OutSpec,
    apply_activation,
    check_window,
    conv_out,
    float_inputs,
    need,
    need_rank,
    register,
    windows,
)
from .conv import raster_overlap_input
from .elementwise import FLT_MAX, int_kind, qparams
from .qmath import activation_range


@dataclass(frozen=True)
class Pool2DAttrs:
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right
    activation: str = "none"
    # Average pooling divides by the in-bounds element count (TFLite, ONNX
    # default) unless this is set, when padded zeros count too.
    count_include_pad: bool = False

    def __post_init__(self):
        check_window(self.stride, self.pads, self.activation, kernel=self.kernel)


class _Pool(OpDef):
    family = "pool"

    def infer(self, inputs, attrs: Pool2DAttrs):
        x = need_rank(inputs[0], 4, "input")
        pt, pb, pl, pr = attrs.pads
        oh = conv_out(x.shape[1], attrs.kernel[0], attrs.stride[0], 1, pt + pb)
        ow = conv_out(x.shape[2], attrs.kernel[1], attrs.stride[1], 1, pl + pr)
        return [OutSpec((x.shape[0], oh, ow, x.shape[3]), x.dtype)]

    def cost(self, inputs, outputs, attrs):
        return Cost(elementwise=outputs[0].numel * attrs.kernel[0] * attrs.kernel[1])

    def overlap_input(self, node, ins, outs):
        """ml_{max,avg}_pool2d_* write in raster order (see ``raster_overlap_input``)."""
        return raster_overlap_input(node, ins, outs)


def _done(out: np.ndarray, attrs: Pool2DAttrs) -> list[np.ndarray]:
    out = apply_activation(out.astype(np.float32), attrs.activation)
    return [np.ascontiguousarray(out, dtype=np.float32)]


def pool_params(ins: list[Tensor | None], outs: list[Tensor],
                attrs: Pool2DAttrs) -> dict[str, int | float]:
    """The kernel's geometry and output clamp. Integer pooling works on raw
    values (TFLM requires equal input and output parameters and does not
    rescale); the fused activation is the output's quantized range."""
    x, y = ins[0], outs[0]
    n, h, w, c = x.shape
    p: dict[str, int | float] = dict(
        batches=n, height=h, width=w, channels=c, out_height=y.shape[1], out_width=y.shape[2],
        filter_height=attrs.kernel[0], filter_width=attrs.kernel[1],
        stride_height=attrs.stride[0], stride_width=attrs.stride[1],
        pad_top=attrs.pads[0], pad_left=attrs.pads[2])
    if y.dtype == DType.FLOAT32:
        lo, hi = {"none": (-FLT_MAX, FLT_MAX), "relu": (0.0, FLT_MAX), "relu6": (0.0, 6.0),
                  "relu_n1_to_1": (-1.0, 1.0)}[attrs.activation]
        p.update(act_min=lo, act_max=hi)
    else:
        need(attrs.activation != "tanh", "a fused tanh has no quantized form")
        scale, zp = qparams(y, "output")
        lo, hi = activation_range(attrs.activation, scale, zp, y.dtype.numpy)
        p.update(act_min=lo, act_max=hi)
    return p


def _int_windows(x: np.ndarray, attrs: Pool2DAttrs, fill: int) -> np.ndarray:
    return windows(x.astype(np.int64), attrs.kernel, attrs.stride, (1, 1), attrs.pads, fill)


def _pool_lowering(kind: str, node, ins, outs) -> Lowering:
    t = int_kind(outs[0])
    sources = (f"ml_pool2d_{t}",) if t == "f32" else ("ml_loops", f"ml_pool2d_{t}")
    return Lowering(f"ml_{kind}_{t}", sources, ("{in0}", "{out0}", "{params}"),
                    f"ml_pool2d_{t}_params_t", pool_params(ins, outs, node.attrs))


@register
class MaxPool2D(_Pool):
    kind = "max_pool2d"

    def reference(self, inputs, attrs: Pool2DAttrs, ctx=None):
        """Maximum over the in-bounds window elements (padding never wins)."""
        x = inputs[0]
        if x.dtype != np.float32:
            need(ctx is not None, "max_pool2d: an integer reference needs the node's tensors")
            p = pool_params(ctx.ins, ctx.outs, attrs)
            out = _int_windows(x, attrs, -(1 << 40)).max(axis=(3, 4))
            out = np.clip(out, p["act_min"], p["act_max"])
            return [np.ascontiguousarray(out.astype(x.dtype))]
        float_inputs(self.kind, inputs)
        win = windows(inputs[0], attrs.kernel, attrs.stride, (1, 1), attrs.pads, -np.inf)
        return _done(win.max(axis=(3, 4)), attrs)

    def lower(self, node, ins, outs):
        return _pool_lowering("max_pool2d", node, ins, outs)


@register
class AvgPool2D(_Pool):
    kind = "avg_pool2d"

    def reference(self, inputs, attrs: Pool2DAttrs, ctx=None):
        """Window sum (float64) over the in-bounds count, or over the whole
        window size with ``count_include_pad``. Integers: TFLM's
        (sum + count/2) / count, rounding half away from zero (C division),
        on raw values."""
        if inputs[0].dtype != np.float32:
            return [self._int_reference(inputs[0], attrs, ctx)]
        float_inputs(self.kind, inputs)
        x = inputs[0].astype(np.float64)
        total = windows(x, attrs.kernel, attrs.stride, (1, 1), attrs.pads).sum(axis=(3, 4))
        if attrs.count_include_pad:
            count = float(attrs.kernel[0] * attrs.kernel[1])
        else:
            ones = np.ones((1,) + x.shape[1:3] + (1,))
            count = windows(ones, attrs.kernel, attrs.stride, (1, 1), attrs.pads).sum(axis=(3, 4))
        return _done(total / count, attrs)

    def _int_reference(self, x: np.ndarray, attrs: Pool2DAttrs, ctx) -> np.ndarray:
        need(ctx is not None, "avg_pool2d: an integer reference needs the node's tensors")
        p = pool_params(ctx.ins, ctx.outs, attrs)
        acc = _int_windows(x, attrs, 0).sum(axis=(3, 4))
        ones = np.ones((1,) + x.shape[1:3] + (1,), dtype=np.int64)
        if attrs.count_include_pad:
            count = np.full_like(acc, attrs.kernel[0] * attrs.kernel[1])
        else:
            count = np.broadcast_to(_int_windows(ones, attrs, 0).sum(axis=(3, 4)), acc.shape)
        half = count // 2
        num = np.where(acc > 0, acc + half, acc - half)
        # C division truncates toward zero; a window wholly in the padding (no
        # element to average) gives 0, as the C kernels do
        q = np.where(count > 0, np.abs(num) // np.maximum(count, 1) * np.sign(num), 0)
        out = np.clip(q, p["act_min"], p["act_max"])
        return np.ascontiguousarray(out.astype(x.dtype))

    def lower(self, node, ins, outs):
        need(not node.attrs.count_include_pad or not any(node.attrs.pads),
             "average pooling that counts padded elements has no C kernel")
        return _pool_lowering("avg_pool2d", node, ins, outs)
