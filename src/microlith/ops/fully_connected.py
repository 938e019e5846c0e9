"""Fully-connected (dense) layer: y = x @ W.T + b, weights [OUT, IN]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DType, Node, Tensor
from . import qmath
from .base import (
    ACTIVATIONS,
    Cost,
    Lowering,
    OpDef,
    OutSpec,
    RefContext,
    apply_activation,
    float_inputs,
    need,
    need_rank,
    register,
)
from .conv import float_clamp


@dataclass(frozen=True)
class FullyConnectedAttrs:
    activation: str = "none"
    keep_num_dims: bool = False  # keep the input's leading dims instead of flattening

    def __post_init__(self):
        need(self.activation in ACTIVATIONS, f"unknown fused activation {self.activation!r}")


# -- integer semantics (TFLite Micro's reference kernels) ------------------------
@dataclass(frozen=True)
class FcQuant:
    """Integer constants of one fully-connected node, as TFLM's
    ``CalculateOpDataFullyConnected`` computes them. ``multiplier``/``shift``
    hold one entry (per-tensor weights) or one per output (per-channel)."""

    multiplier: np.ndarray  # int32 [1] or [OUT]
    shift: np.ndarray  # int32, > 0 shifts left
    per_channel: bool
    input_offset: int  # -input zero point (int8; 0 for int16)
    filter_offset: int  # -weights zero point (per-tensor only, as TFLM)
    output_offset: int  # output zero point (int8; 0 for int16)
    act_min: int
    act_max: int
    acc64: bool  # 16x8 with an int64 bias or none: int64 accumulator and rescale


def _scalar(t: Tensor | None, what: str) -> tuple[np.float32, int]:
    need(t is not None and t.quant is not None, f"{what} has no quantization parameters")
    assert t is not None and t.quant is not None
    return np.float32(t.quant.scale[0]), int(t.quant.zero_point[0])


def fc_quant(ins: list[Tensor | None], outs: list[Tensor], activation: str) -> FcQuant:
    """Quantization constants of a fully_connected node; the numpy reference
    and the C lowering both take them from here."""
    x, w, y = ins[0], ins[1], outs[0]
    bias = ins[2] if len(ins) > 2 else None
    assert x is not None and w is not None
    need(w.dtype is DType.INT8, f"fully_connected: integer kernels need int8 weights, "
                                f"got {w.dtype}")
    need(w.quant is not None, "fully_connected: weights have no quantization parameters")
    assert w.quant is not None
    in_scale, in_zp = _scalar(x, "input")
    out_scale, out_zp = _scalar(y, "output")
    n_out = w.shape[0]
    per_channel = w.quant.scale.size > 1
    if per_channel:
        need(w.quant.scale.size == n_out,
             f"weights have {w.quant.scale.size} scales for {n_out} outputs")
        pairs = [qmath.quantize_multiplier(float(in_scale) * float(fs) / float(out_scale))
                 for fs in w.quant.scale]
        filter_offset = 0
    else:
        # The scale product is formed in double, as for per-channel weights.
        # (LiteRT forms it in float32 and so differs from TFLM on ad01_int8:
        # one LSB on near-ties, e.g. -21.49902 vs -21.49903.)
        pairs = [qmath.quantize_multiplier(float(in_scale) * float(w.quant.scale[0])
                                           / float(out_scale))]
        filter_offset = -int(w.quant.zero_point[0])
    mult = np.array([m for m, _ in pairs], dtype=np.int32)
    shift = np.array([s for _, s in pairs], dtype=np.int32)
    act_min, act_max = qmath.activation_range(activation, float(out_scale), out_zp,
                                              y.dtype.numpy)
    if x.dtype is DType.INT8:
        need(bias is None or bias.dtype is DType.INT32,
             "fully_connected: int8 needs an int32 bias")
        return FcQuant(mult, shift, per_channel, -in_zp, filter_offset, out_zp,
                       act_min, act_max, False)
    need(x.dtype is DType.INT16, f"fully_connected: no integer kernel for {x.dtype} input")
    need(bias is None or bias.dtype in (DType.INT32, DType.INT64),
         "fully_connected 16x8 needs an int32 or int64 bias")
    # As TFLite Micro: an int32 bias selects int32 accumulation and the int32
    # multiply; an int64 bias or none, int64 accumulation and the int64 one.
    acc64 = bias is None or bias.dtype is DType.INT64
    return FcQuant(mult, shift, per_channel, 0, filter_offset, 0, act_min, act_max, acc64)


def _fc_int(inputs, attrs: FullyConnectedAttrs, ctx: RefContext | None) -> np.ndarray:
    x, w = inputs[0], inputs[1]
    if ctx is None:
        raise NotImplementedError(
            f"fully_connected reference: a {x.dtype} input needs the node's quantization "
            "parameters (ctx); without them only float32 is computed")
    q = fc_quant(ctx.ins, ctx.outs, attrs.activation)
    n_out, n_in = w.shape
    xs = x.reshape(-1, n_in).astype(np.float64) + q.input_offset
    ws = w.astype(np.float64) + q.filter_offset
    acc = np.rint(xs @ ws.T).astype(np.int64)  # exact: partial sums < 2^53
    bias = inputs[2] if len(inputs) > 2 else None
    if bias is not None:
        acc = acc + bias.reshape(-1).astype(np.int64)
    if q.acc64:
        y = qmath.multiply_by_quantized_multiplier_int64(acc, q.multiplier, q.shift)
    else:
        y = qmath.multiply_by_quantized_multiplier(qmath.wrap_int32(acc), q.multiplier,
                                                   q.shift)
    y = np.clip(y.astype(np.int64) + q.output_offset, q.act_min, q.act_max)
    return y.astype(ctx.outs[0].dtype.numpy).reshape(ctx.outs[0].shape)


@register
class FullyConnected(OpDef):
    kind = "fully_connected"
    family = "fully_connected"
    param_inputs = (1, 2)
    required_inputs = 2

    def infer(self, inputs, attrs: FullyConnectedAttrs):
        x = inputs[0]
        need(x is not None and x.rank >= 1, "input is missing or a scalar")
        w = need_rank(inputs[1], 2, "weights")
        n_out, n_in = w.shape
        need(n_in >= 1 and x.numel % n_in == 0,
             f"input of {x.numel} values does not split into rows of {n_in}")
        bias = inputs[2] if len(inputs) > 2 else None
        if bias is not None:
            need(bias.numel == n_out, f"bias has {bias.numel} values for {n_out} outputs")
        if attrs.keep_num_dims:
            need(x.shape[-1] == n_in, f"last input dim {x.shape[-1]} != weights' {n_in}")
            shape = x.shape[:-1] + (n_out,)
        else:
            shape = (x.numel // n_in, n_out)
        return [OutSpec(shape, x.dtype)]

    def cost(self, inputs, outputs, attrs):
        n_out, n_in = inputs[1].shape
        rows = inputs[0].numel // n_in
        return Cost(macs=rows * n_out * n_in)

    def reference(self, inputs, attrs: FullyConnectedAttrs, ctx=None):
        """float64 accumulation, rounded to float32 once; integer inputs as
        TFLite Micro computes them."""
        if inputs[0].dtype != np.float32:
            return [_fc_int(inputs, attrs, ctx)]
        float_inputs(self.kind, inputs)
        x, w = inputs[0], inputs[1].astype(np.float64)
        n_out, n_in = w.shape
        acc = x.reshape(-1, n_in).astype(np.float64) @ w.T
        bias = inputs[2] if len(inputs) > 2 else None
        if bias is not None:
            acc = acc + bias.reshape(-1).astype(np.float64)
        shape = x.shape[:-1] + (n_out,) if attrs.keep_num_dims else (acc.shape[0], n_out)
        out = apply_activation(acc.astype(np.float32), attrs.activation)
        return [np.ascontiguousarray(out.reshape(shape), dtype=np.float32)]

    def lower(self, node: Node, ins: list[Tensor | None], outs: list[Tensor]) -> Lowering:
        """``ml_fully_connected_{s8,s16,f32}(params, input, weights, bias
        (NULL if absent), [multipliers, shifts,] output)``."""
        x, w = ins[0], ins[1]
        assert x is not None and w is not None
        a: FullyConnectedAttrs = node.attrs
        n_out, n_in = w.shape
        params: dict[str, int | float] = {
            "batches": x.numel // n_in, "in_features": n_in, "out_features": n_out,
            "input_offset": 0, "filter_offset": 0, "output_offset": 0, "per_channel": 0,
            "act_min": 0, "act_max": 0, "act_min_f": 0.0, "act_max_f": 0.0}
        if x.dtype is DType.FLOAT32:
            params["act_min_f"], params["act_max_f"] = float_clamp(self.kind, a.activation)
            return Lowering("ml_fully_connected_f32", ("ml_fc_params", "ml_fully_connected_f32"),
                            ("{params}", "{in0}", "{in1}", "{in2}", "{out0}"),
                            "ml_fc_params_t", params)
        q = fc_quant(ins, outs, a.activation)
        params.update(input_offset=q.input_offset, filter_offset=q.filter_offset,
                      output_offset=q.output_offset, per_channel=int(q.per_channel),
                      act_min=q.act_min, act_max=q.act_max)
        stem = f"ml_fully_connected_{'s8' if x.dtype is DType.INT8 else 's16'}"
        function = stem if x.dtype is DType.INT8 or q.acc64 else f"{stem}_acc32"
        consts = {"mult": q.multiplier, "shift": q.shift}
        bias_arg = "{in2}"
        sources: tuple[str, ...] = ("ml_fc_params", stem)
        if x.dtype is DType.INT8:
            consts["bias"] = fc_folded_bias(w, ins[2] if len(ins) > 2 else None, q)
            bias_arg = "{const:bias}"
            # the Helium path (its header also declares ml_conv_params_t)
            sources = ("ml_fc_params", "ml_conv_params", "ml_mve_s8", stem)
        return Lowering(function, sources,
                        ("{params}", "{in0}", "{in1}", bias_arg, "{const:mult}",
                         "{const:shift}", "{out0}"),
                        "ml_fc_params_t", params, consts)


def fc_folded_bias(w: Tensor, bias: Tensor | None, q: FcQuant) -> np.ndarray:
    """bias + input_offset * (sum of each output's weights + in_features *
    filter_offset), in int32 arithmetic: the input-independent terms of TFLM's
    int8 sums, added once per output by the kernel."""
    need(w.data is not None, "fully_connected: the C kernel needs constant weights")
    need(bias is None or bias.data is not None,
         "fully_connected: the C kernel needs a constant bias")
    n_out, n_in = w.shape
    sums = np.asarray(w.data, dtype=np.int64).sum(axis=1) + n_in * q.filter_offset
    b = (np.zeros(n_out, np.int64) if bias is None
         else np.asarray(bias.data, dtype=np.int64).reshape(-1))
    return qmath.wrap_int32(b + q.input_offset * sums)
