"""2-D convolutions in NHWC: regular (grouped), depthwise, transposed.

Weight layouts follow TFLite: conv2d [Cout, KH, KW, Cin/groups], depthwise
[1, KH, KW, Cout], transpose_conv [Cout, KH, KW, Cin]. Padding is explicit
(top, bottom, left, right); frontends turn SAME/VALID into numbers.

Float references accumulate in float64 and round the result to float32 once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DType, Node, Tensor
from ..plan.overlap import window_overlap_input
from . import qmath
from .base import (
    Cost,
    Lowering,
    OpDef,
    OutSpec,
    RefContext,
    apply_activation,
    check_window,
    conv_out,
    float_inputs,
    need,
    need_rank,
    portable_only,
    register,
    windows,
)


@dataclass(frozen=True)
class Conv2DAttrs:
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right
    activation: str = "none"

    def __post_init__(self):
        check_window(self.stride, self.pads, self.activation, self.dilation)


@dataclass(frozen=True)
class TransposeConvAttrs:
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # cropped from the full output
    output_padding: tuple[int, int] = (0, 0)  # extra rows/cols added at the end
    activation: str = "none"

    def __post_init__(self):
        check_window(self.stride, self.pads + self.output_padding, self.activation)


def _spatial(x: Tensor, kh: int, kw: int, a: Conv2DAttrs) -> tuple[int, int]:
    pt, pb, pl, pr = a.pads
    oh = conv_out(x.shape[1], kh, a.stride[0], a.dilation[0], pt + pb)
    ow = conv_out(x.shape[2], kw, a.stride[1], a.dilation[1], pl + pr)
    return oh, ow


def _check_bias(bias: Tensor | None, channels: int) -> None:
    if bias is not None:
        need(bias.numel == channels,
             f"bias has {bias.numel} values for {channels} output channels")


def _out_dtype(x: Tensor) -> DType:
    return x.dtype


def _finish(acc: np.ndarray, bias: np.ndarray | None, activation: str) -> list[np.ndarray]:
    """Add the bias to a float64 accumulator, round to float32, activate."""
    if bias is not None:
        acc = acc + bias.reshape(-1).astype(np.float64)
    out = apply_activation(acc.astype(np.float32), activation)
    return [np.ascontiguousarray(out, dtype=np.float32)]


def _bias_of(inputs) -> np.ndarray | None:
    return inputs[2] if len(inputs) > 2 else None


# -- integer semantics (TFLite Micro's reference kernels) ------------------------
FLT_MAX = 3.4028234663852886e38  # float32 max: "no clamp" for float kernels


@dataclass(frozen=True)
class ConvQuant:
    """The integer constants of one conv-family node, computed as TFLite
    Micro's Prepare computes them (``PopulateConvolutionQuantizationParams``).

    ``acc64`` says the 16x8 kernel accumulates in int64 and rescales with the
    int64 ``MultiplyByQuantizedMultiplier``; otherwise accumulation is int32
    (wrapping) with the int32 (double rounding) rescale.
    """

    multiplier: np.ndarray  # int32 [C_out]
    shift: np.ndarray  # int32 [C_out], > 0 shifts left
    input_offset: int  # added to every input value (-zero point; 0 for int16)
    output_offset: int  # added after rescaling (zero point; 0 for int16)
    act_min: int
    act_max: int
    acc64: bool


def _scalar_quant(t: Tensor | None, what: str) -> tuple[float, int]:
    need(t is not None and t.quant is not None, f"{what} has no quantization parameters")
    assert t is not None and t.quant is not None
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def channel_scales(w: Tensor, channels: int) -> np.ndarray:
    """The weights' float32 scales, one per output channel (a per-tensor
    scale broadcast, as TFLM does)."""
    need(w.quant is not None, f"weights {w.name!r} have no quantization parameters")
    assert w.quant is not None
    scales = w.quant.scale
    need(scales.size in (1, channels),
         f"weights {w.name!r} have {scales.size} scales for {channels} output channels")
    return np.broadcast_to(scales, (channels,)).astype(np.float32)


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray,
                            output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """double(input_scale) * double(filter_scale[c]) / double(output_scale),
    each as TFLite's QuantizeMultiplier (multiplier, shift)."""
    pairs = [qmath.quantize_multiplier(float(input_scale) * float(fs) / float(output_scale))
             for fs in filter_scales]
    return (np.array([m for m, _ in pairs], dtype=np.int32),
            np.array([s for _, s in pairs], dtype=np.int32))


def conv_quant(kind: str, ins: list[Tensor | None], outs: list[Tensor],
               activation: str) -> ConvQuant:
    """Quantization constants of a conv2d / depthwise_conv2d / transpose_conv
    node. The numpy reference and the C lowering both take them from here."""
    x, w, y = ins[0], ins[1], outs[0]
    bias = ins[2] if len(ins) > 2 else None
    assert x is not None and w is not None
    need(w.dtype is DType.INT8, f"{kind}: integer kernels need int8 weights, got {w.dtype}")
    channels = y.shape[3]
    in_scale, in_zp = _scalar_quant(x, "input")
    out_scale, out_zp = _scalar_quant(y, "output")
    mult, shift = per_channel_multipliers(in_scale, channel_scales(w, channels), out_scale)
    act_min, act_max = qmath.activation_range(activation, out_scale, out_zp, y.dtype.numpy)
    if x.dtype is DType.INT8:
        need(bias is None or bias.dtype is DType.INT32, f"{kind}: int8 needs an int32 bias")
        return ConvQuant(mult, shift, -in_zp, out_zp, act_min, act_max, False)
    need(x.dtype is DType.INT16, f"{kind}: no integer kernel for {x.dtype} input")
    # TFLite Micro (measured against tflite-micro's own runtime): conv2d with an
    # int32 bias accumulates in int32 and rescales with the int32 multiply;
    # with an int64 bias or none, int64 accumulation and the int64 multiply.
    # Depthwise and transpose_conv always take the int64 path and read the bias
    # as int64 (transpose_conv also widens a legacy int16 bias); an int32 bias
    # there is misread by TFLM, so it is refused here.
    allowed = {"conv2d": (DType.INT32, DType.INT64),
               "depthwise_conv2d": (DType.INT64,),
               "transpose_conv": (DType.INT64, DType.INT16)}[kind]
    need(bias is None or bias.dtype in allowed,
         f"{kind} 16x8 needs a bias of type {' or '.join(d.value for d in allowed)}, "
         f"got {bias.dtype.value if bias is not None else None}")
    acc64 = bias is None or bias.dtype is not DType.INT32
    return ConvQuant(mult, shift, 0, 0, act_min, act_max, acc64)


def requantize(acc: np.ndarray, bias: np.ndarray | None, q: ConvQuant,
               dtype: np.dtype) -> np.ndarray:
    """Exact int64 accumulator [..., C] -> output: bias, rescale, offset, clamp,
    with the accumulator width and rescale TFLM uses (see ``ConvQuant``)."""
    acc = np.asarray(acc, dtype=np.int64)
    if bias is not None:
        acc = acc + bias.reshape(-1).astype(np.int64)
    if q.acc64:
        y = qmath.multiply_by_quantized_multiplier_int64(acc, q.multiplier, q.shift)
    else:
        y = qmath.multiply_by_quantized_multiplier(qmath.wrap_int32(acc), q.multiplier,
                                                   q.shift)
    y = y.astype(np.int64) + q.output_offset
    return np.clip(y, q.act_min, q.act_max).astype(dtype)


def _exact_dot(a: np.ndarray, b: np.ndarray, axes) -> np.ndarray:
    """Integer tensordot through float64 BLAS: exact while every partial sum
    stays below 2^53 (int8/int16 x int8 products summed over < 2^30 terms)."""
    return np.rint(np.tensordot(a.astype(np.float64), b.astype(np.float64), axes=axes)
                   ).astype(np.int64)


def _offset_input(x: np.ndarray, q: ConvQuant) -> np.ndarray:
    return x.astype(np.int64) + q.input_offset


def _need_ctx(kind: str, x: np.ndarray, ctx: RefContext | None) -> RefContext:
    if ctx is None:
        raise NotImplementedError(
            f"{kind} reference: a {x.dtype} input needs the node's quantization parameters "
            "(ctx); without them only float32 is computed")
    return ctx


def _conv2d_int(inputs, attrs: Conv2DAttrs, ctx: RefContext) -> np.ndarray:
    x, w = inputs[0], inputs[1]
    q = conv_quant("conv2d", ctx.ins, ctx.outs, attrs.activation)
    cout, kh, kw, cin_g = w.shape
    groups = x.shape[3] // cin_g
    per_group = cout // groups
    # Padding contributes nothing in TFLM ("zero padding by omitting"): pad the
    # offset-adjusted input with zeros.
    win = windows(_offset_input(x, q), (kh, kw), attrs.stride, attrs.dilation, attrs.pads)
    parts = []
    for g in range(groups):
        parts.append(_exact_dot(win[..., g * cin_g:(g + 1) * cin_g],
                                w[g * per_group:(g + 1) * per_group], ([3, 4, 5], [1, 2, 3])))
    acc = parts[0] if groups == 1 else np.concatenate(parts, axis=3)
    return requantize(acc, _bias_of(inputs), q, ctx.outs[0].dtype.numpy)


def _depthwise_int(inputs, attrs: Conv2DAttrs, ctx: RefContext) -> np.ndarray:
    x, w = inputs[0], inputs[1]
    q = conv_quant("depthwise_conv2d", ctx.ins, ctx.outs, attrs.activation)
    _, kh, kw, cout = w.shape
    cin = x.shape[3]
    mult = cout // cin
    win = windows(_offset_input(x, q), (kh, kw), attrs.stride, attrs.dilation, attrs.pads)
    wk = w[0].astype(np.int64).reshape(kh, kw, cin, mult)
    acc = np.zeros(win.shape[:3] + (cin, mult), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            acc += win[:, :, :, i, j, :, None] * wk[i, j]
    acc = acc.reshape(acc.shape[:3] + (cout,))
    return requantize(acc, _bias_of(inputs), q, ctx.outs[0].dtype.numpy)


def _transpose_full(x: np.ndarray, w: np.ndarray, attrs: TransposeConvAttrs,
                    exact: bool) -> np.ndarray:
    """The scatter of every input pixel onto the output, cropped to the
    output window (rows from ``pads[0]``, columns from ``pads[2]``; zeros
    beyond the full output). Integer (exact) or float64 accumulation."""
    n, h, wd, _ = x.shape
    cout, kh, kw, _ = w.shape
    sh, sw = attrs.stride
    pt, pb, pl, pr = attrs.pads
    full_h, full_w = (h - 1) * sh + kh, (wd - 1) * sw + kw
    oh = full_h - pt - pb + attrs.output_padding[0]
    ow = full_w - pl - pr + attrs.output_padding[1]
    if exact:
        contrib = _exact_dot(x, w, ([3], [3]))  # [N, H, W, Cout, KH, KW]
    else:
        contrib = np.tensordot(x.astype(np.float64), w.astype(np.float64), axes=([3], [3]))
    full = np.zeros((n, max(full_h, pt + oh), max(full_w, pl + ow), cout), dtype=contrib.dtype)
    for a in range(kh):
        for b in range(kw):
            full[:, a:a + (h - 1) * sh + 1:sh, b:b + (wd - 1) * sw + 1:sw] += contrib[..., a, b]
    return full[:, pt:pt + oh, pl:pl + ow]


def _transpose_int(inputs, attrs: TransposeConvAttrs, ctx: RefContext) -> np.ndarray:
    q = conv_quant("transpose_conv", ctx.ins, ctx.outs, transpose_activation(attrs))
    acc = _transpose_full(_offset_input(inputs[0], q), inputs[1], attrs, exact=True)
    return requantize(acc, _bias_of(inputs), q, ctx.outs[0].dtype.numpy)


def transpose_activation(attrs: TransposeConvAttrs) -> str:
    """The fused activation TFLM's TRANSPOSE_CONV applies."""
    return attrs.activation


# -- in-place sliding windows -----------------------------------------------------
RASTER_DTYPES = (DType.INT8, DType.INT16, DType.FLOAT32)


def raster_overlap_input(node: Node, ins: list[Tensor | None],
                         outs: list[Tensor]) -> tuple[int, int] | None:
    """``overlap_input`` of the sliding-window ops whose C kernels
    (ml_conv2d_*, ml_depthwise_conv2d_*, ml_{max,avg}_pool2d_*; s8, s16, f32,
    every path) write in raster order: batch, output row, output column, and
    every channel of a pixel before the next pixel, each pixel's outputs only
    after the pixels before it were read, and no read of input below the
    window of the pixel being computed. Their output may then start ``lead``
    bytes below their dying input (``microlith.plan.overlap``). None for
    dtypes without such a kernel."""
    x = ins[0] if ins else None
    if x is None or len(outs) != 1 or x.dtype not in RASTER_DTYPES \
            or outs[0].dtype is not x.dtype:
        return None
    return window_overlap_input(node, ins, outs)


# -- C lowering -------------------------------------------------------------------
FLOAT_CLAMPS = {"none": (-FLT_MAX, FLT_MAX), "relu": (0.0, FLT_MAX), "relu6": (0.0, 6.0),
                "relu_n1_to_1": (-1.0, 1.0)}


def float_clamp(kind: str, activation: str) -> tuple[float, float]:
    """A fused activation as the clamp the float kernels apply."""
    if activation not in FLOAT_CLAMPS:
        raise NotImplementedError(f"{kind}: the fused {activation} activation has no C kernel")
    return FLOAT_CLAMPS[activation]


def _conv_params(x: Tensor, w: Tensor, y: Tensor, kernel: tuple[int, int],
                 stride: tuple[int, int], dilation: tuple[int, int], pads, groups: int,
                 depth_multiplier: int) -> dict[str, int | float]:
    return {"batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3],
            "out_h": y.shape[1], "out_w": y.shape[2], "out_c": y.shape[3],
            "k_h": kernel[0], "k_w": kernel[1], "stride_h": stride[0], "stride_w": stride[1],
            "dil_h": dilation[0], "dil_w": dilation[1], "pad_top": pads[0],
            "pad_left": pads[2], "groups": groups, "depth_multiplier": depth_multiplier,
            "input_offset": 0, "output_offset": 0, "act_min": 0, "act_max": 0,
            "act_min_f": 0.0, "act_max_f": 0.0}


def _lower_conv(kind: str, family: str, ins: list[Tensor | None], outs: list[Tensor],
                params: dict[str, int | float], activation: str) -> Lowering:
    """The call of ``ml_<family>_{s8,s16,f32}`` for one node: params, then
    input, weights, bias (NULL if absent), [multipliers, shifts,] output."""
    x, bias = ins[0], (ins[2] if len(ins) > 2 else None)
    assert x is not None
    if x.dtype is DType.FLOAT32:
        params["act_min_f"], params["act_max_f"] = float_clamp(kind, activation)
        name = f"ml_{family}_f32"
        return Lowering(name, ("ml_conv_params", name),
                        ("{params}", "{in0}", "{in1}", "{in2}", "{out0}"),
                        "ml_conv_params_t", params)
    q = conv_quant(kind, ins, outs, activation)
    params.update(input_offset=q.input_offset, output_offset=q.output_offset,
                  act_min=q.act_min, act_max=q.act_max)
    stem = f"ml_{family}_{'s8' if x.dtype is DType.INT8 else 's16'}"
    function = stem if x.dtype is DType.INT8 or q.acc64 else f"{stem}_acc32"
    consts = {"mult": q.multiplier, "shift": q.shift}
    args = ["{params}", "{in0}", "{in1}", "{in2}", "{const:mult}", "{const:shift}", "{out0}"]
    scratch = 0
    if family == "conv2d":
        scratch = conv2d_scratch_bytes(params, x.dtype.itemsize)
        args.append("{scratch}")
        if x.dtype is DType.INT8:
            consts["bias"] = conv2d_folded_bias(ins[1], bias, q.input_offset)
            args[3] = "{const:bias}"
    if bias is not None and x.dtype is DType.INT16 and bias.dtype is DType.INT16:
        # TFLM widens a legacy int16 transpose_conv bias to int64 at run time;
        # here it is widened once, at compile time.
        need(bias.data is not None, f"{kind}: an int16 bias must be constant")
        consts["bias"] = np.asarray(bias.data, dtype=np.int64).reshape(-1)
        args[3] = "{const:bias}"
    # ml_mve_s8: the Helium paths of the int8 kernels (its header needs ml_fc_params too)
    mve = ("ml_fc_params", "ml_mve_s8") if stem in ("ml_conv2d_s8", "ml_depthwise_conv2d_s8") \
        else ()
    return Lowering(function, ("ml_conv_params", stem) + mve, tuple(args), "ml_conv_params_t",
                    params, consts, scratch)


# Output pixels ml_conv2d_s8's DSP path computes together (ML_CONV2D_S8_DSP_PIXELS).
CONV2D_S8_DSP_PIXELS = 6
# Bytes of loop constants it keeps in scratch (ML_CONV2D_S8_DSP_BLOCK).
CONV2D_S8_DSP_BLOCK = 64


def conv2d_scratch_bytes(params: dict, itemsize: int) -> int:
    """What ml_conv2d_{s8,s16}_scratch_size() returns. int16: one window of
    input values, except for 1x1 convolutions with stride 1 and no padding
    (none). int8: the larger of its two paths, since the lowering does not
    know the core: the DSP path (cores with __ARM_FEATURE_DSP) keeps 16 bytes
    of rescaling constants per output channel, widens CONV2D_S8_DSP_PIXELS
    windows to int16 and gathers one int8 window (not for those 1x1
    convolutions), keeps CONV2D_S8_DSP_BLOCK bytes of loop constants and,
    when the window size k is not a multiple of 4, a zero-padded copy of the
    last weight rows (k4 + 4 bytes); the portable path only needs that int8
    window. Window sizes are rounded up to a multiple of 4 (k4) there. While
    lowering for the portable kernel set (``portable_only()``: the project
    defines ML_PORTABLE) only the portable path's window is reserved."""
    p = params
    pointwise = (p["k_h"] == p["k_w"] == 1 and p["stride_h"] == p["stride_w"] == 1
                 and p["pad_top"] == p["pad_left"] == 0 and p["groups"] <= 1
                 and p["out_h"] == p["in_h"] and p["out_w"] == p["in_w"])
    k = p["k_h"] * p["k_w"] * (p["in_c"] // max(p["groups"], 1))
    if itemsize == 1 and portable_only():
        return 0 if pointwise else k
    if itemsize == 1:
        k4 = (k + 3) // 4 * 4
        return (16 * p["out_c"] + 2 * CONV2D_S8_DSP_PIXELS * k4 + CONV2D_S8_DSP_BLOCK
                + (0 if pointwise else k4) + (k4 + 4 if k % 4 else 0))
    if pointwise:
        return 0
    return k * itemsize


def conv2d_folded_bias(w: Tensor | None, bias: Tensor | None, input_offset: int) -> np.ndarray:
    """bias + input_offset * (sum of each output channel's weights), in int32
    arithmetic: the input-independent part of TFLM's int8 sums, which the
    kernel adds once per output instead of per weight."""
    assert w is not None
    need(w.data is not None, "conv2d: the C kernel needs constant weights")
    sums = np.asarray(w.data, dtype=np.int64).reshape(w.shape[0], -1).sum(axis=1)
    b = (np.zeros(w.shape[0], np.int64) if bias is None
         else np.asarray(bias.data, dtype=np.int64).reshape(-1))
    need(bias is None or bias.data is not None, "conv2d: the C kernel needs a constant bias")
    return qmath.wrap_int32(b + input_offset * sums)


@register
class Conv2D(OpDef):
    kind = "conv2d"
    family = "conv"
    param_inputs = (1, 2)
    required_inputs = 2

    def infer(self, inputs, attrs: Conv2DAttrs):
        x = need_rank(inputs[0], 4, "input")
        w = need_rank(inputs[1], 4, "weights")
        cout, kh, kw, cin_g = w.shape
        need(cin_g >= 1 and x.shape[3] % cin_g == 0,
             f"input has {x.shape[3]} channels, weights expect a multiple of {cin_g}")
        groups = x.shape[3] // cin_g
        need(cout % groups == 0, f"{cout} output channels do not split into {groups} groups")
        _check_bias(inputs[2] if len(inputs) > 2 else None, cout)
        oh, ow = _spatial(x, kh, kw, attrs)
        return [OutSpec((x.shape[0], oh, ow, cout), _out_dtype(x))]

    def cost(self, inputs, outputs, attrs):
        x, w = inputs[0], inputs[1]
        _, kh, kw, cin_g = w.shape
        scratch = 0
        if x.dtype in (DType.INT8, DType.INT16):  # the C kernels' window buffer
            params = _conv_params(x, w, outputs[0], (kh, kw), attrs.stride, attrs.dilation,
                                  attrs.pads, x.shape[3] // cin_g, 1)
            scratch = conv2d_scratch_bytes(params, x.dtype.itemsize)
        return Cost(macs=outputs[0].numel * kh * kw * cin_g, scratch_bytes=scratch)

    def reference(self, inputs, attrs: Conv2DAttrs, ctx=None):
        if inputs[0].dtype != np.float32:
            return [_conv2d_int(inputs, attrs, _need_ctx(self.kind, inputs[0], ctx))]
        float_inputs(self.kind, inputs)
        x, w = inputs[0].astype(np.float64), inputs[1].astype(np.float64)
        cout, kh, kw, cin_g = w.shape
        groups = x.shape[3] // cin_g
        per_group = cout // groups
        win = windows(x, (kh, kw), attrs.stride, attrs.dilation, attrs.pads)
        parts = []
        for g in range(groups):  # output channel o belongs to group o // per_group
            wg = w[g * per_group:(g + 1) * per_group]
            xg = win[..., g * cin_g:(g + 1) * cin_g]
            parts.append(np.tensordot(xg, wg, axes=([3, 4, 5], [1, 2, 3])))
        acc = parts[0] if groups == 1 else np.concatenate(parts, axis=3)
        return _finish(acc, _bias_of(inputs), attrs.activation)


    def lower(self, node: Node, ins: list[Tensor | None], outs: list[Tensor]) -> Lowering:
        x, w = ins[0], ins[1]
        assert x is not None and w is not None
        a: Conv2DAttrs = node.attrs
        params = _conv_params(x, w, outs[0], w.shape[1:3], a.stride, a.dilation, a.pads,
                              x.shape[3] // w.shape[3], 1)
        return _lower_conv(self.kind, "conv2d", ins, outs, params, a.activation)

    def overlap_input(self, node: Node, ins: list[Tensor | None],
                      outs: list[Tensor]) -> tuple[int, int] | None:
        """Raster order in every ml_conv2d_* path (window gather, 1x1, groups)."""
        return raster_overlap_input(node, ins, outs)


# ml_depthwise_conv2d_s8_3x3: channels per group, widest layer, scratch bytes per channel
# (ML_DW3_SCRATCH_PER_CHANNEL: the DSP path's int16 weight pairs and doubled biases;
# ML_DW3_RING_PER_CHANNEL: its ring of three int16 input rows and per-channel records,
# for rows 5 pixels wide).
DW3_GROUP, DW3_MAX_CHANNELS, DW3_SCRATCH_PER_CHANNEL = 4, 256, 28
DW3_RING_PER_CHANNEL = 88


def depthwise3x3_ring(params: dict) -> bool:
    """Whether ml_depthwise_conv2d_s8_3x3's DSP path takes its ring of input
    rows (dw3_ring5 in the C): input and output rows 5 pixels wide, stride 1,
    one padding column each side, the full int8 output range."""
    p = params
    return (int(p["in_w"]) == 5 and int(p["out_w"]) == 5 and int(p["stride_w"]) == 1
            and int(p["pad_left"]) == 1 and int(p["act_min"]) <= -128
            and int(p["act_max"]) >= 127)


def depthwise3x3_scratch_bytes(params: dict) -> int:
    """What ml_depthwise_conv2d_s8_3x3_scratch_size() returns: 0 for the
    portable kernel set (ML_PORTABLE: no DSP or Helium path), else the DSP
    path's ring and records (DW3_RING_PER_CHANNEL a channel) where it takes
    them, whatever the optimization level, or its expanded weights
    (DW3_SCRATCH_PER_CHANNEL), which also cover Helium's 12 a channel."""
    if portable_only():
        return 0
    per = DW3_RING_PER_CHANNEL if depthwise3x3_ring(params) else DW3_SCRATCH_PER_CHANNEL
    return per * int(params["in_c"])


def depthwise3x3_folded_bias(params: dict, w: Tensor, bias: Tensor | None,
                             q: ConvQuant) -> np.ndarray | None:
    """The folded bias ml_depthwise_conv2d_s8_3x3 takes (bias + input_offset *
    the sum of the channel's 9 weights, int32), or None when that kernel
    does not apply: int8, 3x3, depth multiplier 1, dilation 1, channels a
    multiple of 4 up to 256, horizontal stride 1 or 2, every multiplier >= 0
    with shift in [-22, -1], an input zero point inside int8, and biases
    small enough that every sum stays below 2^29 (the DSP rescale's range).
    The kernel reads the layer's own int8 weights, multipliers and shifts
    besides: its constants take as much flash as the original layer's."""
    p = params
    c = p["out_c"]
    if not (p["k_h"] == p["k_w"] == 3 and p["dil_h"] == p["dil_w"] == 1
            and p["depth_multiplier"] == 1 and p["in_c"] == c and c % DW3_GROUP == 0
            and 0 < c <= DW3_MAX_CHANNELS and p["stride_w"] in (1, 2)
            and -128 <= -q.input_offset <= 127 and w.data is not None
            and (bias is None or bias.data is not None)):
        return None
    mult = np.asarray(q.multiplier, dtype=np.int64)
    shift = np.asarray(q.shift, dtype=np.int64)
    if np.any(mult < 0) or np.any(shift > -1) or np.any(shift < -22):
        return None
    wk = np.asarray(w.data, dtype=np.int64).reshape(3, 3, c)  # [row, column, channel]
    b = (np.zeros(c, np.int64) if bias is None
         else np.asarray(bias.data, dtype=np.int64).reshape(-1))
    folded = b + q.input_offset * wk.sum(axis=(0, 1))
    if np.any(np.abs(folded) > (1 << 29) - 9 * (1 << 14) - 1):
        return None
    return folded.astype(np.int32)


def depthwise3x3_rescale_triples(mult: np.ndarray, shift: np.ndarray,
                                 output_offset: int) -> np.ndarray:
    """ml_depthwise_conv2d_s8_3x3's per-channel rescaling constants, int32
    [C * 3]: multiplier, e = -shift - 1, and (2 * output_offset + 1) * 2^e
    (the DSP rescale's rounding constant); needs shifts in [-22, -1]."""
    m = np.asarray(mult, dtype=np.int64).reshape(-1)
    e = -np.asarray(shift, dtype=np.int64).reshape(-1) - 1
    if np.any(e < 0) or np.any(e > 21):
        raise ValueError("depthwise 3x3 rescale triples need shifts in [-22, -1]")
    r = (2 * int(output_offset) + 1) * (np.int64(1) << e)
    return np.stack([m, e, r], axis=1).reshape(-1).astype(np.int32)


@register
class DepthwiseConv2D(OpDef):
    kind = "depthwise_conv2d"
    family = "conv"
    param_inputs = (1, 2)
    required_inputs = 2

    def infer(self, inputs, attrs: Conv2DAttrs):
        x = need_rank(inputs[0], 4, "input")
        w = need_rank(inputs[1], 4, "weights")
        need(w.shape[0] == 1, f"depthwise weights must be [1, KH, KW, C], got {list(w.shape)}")
        cout = w.shape[3]
        need(x.shape[3] >= 1 and cout % x.shape[3] == 0,
             f"{cout} output channels is not a multiple of {x.shape[3]} input channels")
        _check_bias(inputs[2] if len(inputs) > 2 else None, cout)
        oh, ow = _spatial(x, w.shape[1], w.shape[2], attrs)
        return [OutSpec((x.shape[0], oh, ow, cout), _out_dtype(x))]

    def cost(self, inputs, outputs, attrs):
        w = inputs[1]
        return Cost(macs=outputs[0].numel * w.shape[1] * w.shape[2])

    def reference(self, inputs, attrs: Conv2DAttrs, ctx=None):
        if inputs[0].dtype != np.float32:
            return [_depthwise_int(inputs, attrs, _need_ctx(self.kind, inputs[0], ctx))]
        float_inputs(self.kind, inputs)
        x, w = inputs[0].astype(np.float64), inputs[1].astype(np.float64)
        _, kh, kw, cout = w.shape
        cin = x.shape[3]
        mult = cout // cin
        win = windows(x, (kh, kw), attrs.stride, attrs.dilation, attrs.pads)
        # Output channel c = i * mult + m reads input channel i = c // mult.
        acc = np.einsum("nhwijc,ijcm->nhwcm", win, w[0].reshape(kh, kw, cin, mult))
        acc = acc.reshape(acc.shape[:3] + (cout,))
        return _finish(acc, _bias_of(inputs), attrs.activation)


    def lower(self, node: Node, ins: list[Tensor | None], outs: list[Tensor]) -> Lowering:
        x, w = ins[0], ins[1]
        assert x is not None and w is not None
        a: Conv2DAttrs = node.attrs
        params = _conv_params(x, w, outs[0], w.shape[1:3], a.stride, a.dilation, a.pads, 1,
                              w.shape[3] // x.shape[3])
        low = _lower_conv(self.kind, "depthwise_conv2d", ins, outs, params, a.activation)
        if x.dtype is not DType.INT8:
            return low
        folded = depthwise3x3_folded_bias(low.params or {}, w,
                                          ins[2] if len(ins) > 2 else None,
                                          conv_quant(self.kind, ins, outs, a.activation))
        if folded is None:
            return low
        # the folded bias replaces the bias (whose input is then not emitted), the
        # rescaling triples the separate multipliers and shifts
        args = ("{params}", "{in0}", "{in1}", "{const:bias}", "{const:rq}", "{out0}",
                "{scratch}")
        rq = depthwise3x3_rescale_triples(low.consts["mult"], low.consts["shift"],
                                          int((low.params or {})["output_offset"]))
        return Lowering("ml_depthwise_conv2d_s8_3x3", low.sources, args, low.params_type,
                        low.params, {"bias": folded, "rq": rq},
                        depthwise3x3_scratch_bytes(low.params or {}))

    def overlap_input(self, node: Node, ins: list[Tensor | None],
                      outs: list[Tensor]) -> tuple[int, int] | None:
        """Raster order in every ml_depthwise_conv2d_* path (channel blocks of
        one pixel, depth multipliers); the 3x3 DSP path's tiles of two
        neighbouring pixels, written channel group by channel group, and its
        ring path, which writes a whole output row channel by channel once
        the row's input rows are copied into scratch, need no more lead (see
        ml_depthwise_conv2d_s8.c)."""
        return raster_overlap_input(node, ins, outs)


@register
class TransposeConv(OpDef):
    kind = "transpose_conv"
    family = "conv"
    param_inputs = (1, 2)
    required_inputs = 2

    def infer(self, inputs, attrs: TransposeConvAttrs):
        x = need_rank(inputs[0], 4, "input")
        w = need_rank(inputs[1], 4, "weights")
        cout, kh, kw, cin = w.shape
        need(cin == x.shape[3], f"input has {x.shape[3]} channels, weights expect {cin}")
        _check_bias(inputs[2] if len(inputs) > 2 else None, cout)
        pt, pb, pl, pr = attrs.pads
        oh = (x.shape[1] - 1) * attrs.stride[0] + kh - pt - pb + attrs.output_padding[0]
        ow = (x.shape[2] - 1) * attrs.stride[1] + kw - pl - pr + attrs.output_padding[1]
        need(oh >= 1 and ow >= 1, "transposed convolution output would be empty")
        return [OutSpec((x.shape[0], oh, ow, cout), _out_dtype(x))]

    def cost(self, inputs, outputs, attrs):
        x, w = inputs[0], inputs[1]
        cout, kh, kw, _ = w.shape
        return Cost(macs=x.numel * kh * kw * cout)

    def reference(self, inputs, attrs: TransposeConvAttrs, ctx=None):
        """Every input pixel scatters ``x[n, i, j, :] @ w[:, a, b, :].T`` onto
        the full output at (i * stride + a, j * stride + b); the result is that
        full output from row ``pads[0]`` / column ``pads[2]`` on, as many rows
        and columns as ``infer`` says (zeros beyond the full output, which
        output_padding can reach)."""
        if inputs[0].dtype != np.float32:
            return [_transpose_int(inputs, attrs, _need_ctx(self.kind, inputs[0], ctx))]
        float_inputs(self.kind, inputs)
        acc = _transpose_full(inputs[0], inputs[1], attrs, exact=False)
        return _finish(acc, _bias_of(inputs), attrs.activation)

    def lower(self, node: Node, ins: list[Tensor | None], outs: list[Tensor]) -> Lowering:
        """Lowers to a gather: each output pixel sums the input pixels that
        scatter onto it. Integer sums do not depend on order, so this equals
        TFLM's scatter into an accumulator buffer bit for bit, without the
        buffer (no scratch)."""
        x, w = ins[0], ins[1]
        assert x is not None and w is not None
        a: TransposeConvAttrs = node.attrs
        params = _conv_params(x, w, outs[0], w.shape[1:3], a.stride, (1, 1), a.pads, 1, 1)
        return _lower_conv(self.kind, "transpose_conv", ins, outs, params,
                           transpose_activation(a))
