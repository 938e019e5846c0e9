"""ml_depthwise_conv2d_s8_3x3: the 3x3 depthwise kernel, whose Armv7E-M DSP
path expands the layer's int8 weights into int16 tap pairs in scratch and
computes two output pixels per pass with SMLAD on them, or, for rows 5
pixels wide (KWS's layers: stride 1, one padding column each side, full
int8 range), keeps a ring of three input rows widened to int16 in scratch
and computes whole output rows channel by channel from it (at -O2).

- the lowering passes the layer's own int8 weights, a folded bias
  (ops/conv.py depthwise3x3_folded_bias) instead of the bias, and one
  interleaved array of rescaling triples (multiplier, -shift - 1, rounding
  constant) instead of the multipliers and shifts, so the layer's constants
  take the original model's bytes plus 4 per channel (9 + 4 + 12), measured
  in the ELF; it declares the scratch
  the kernel's ml_depthwise_conv2d_s8_3x3_scratch_size() asks (28 bytes a
  channel, 88 where the ring applies, 0 for the portable kernel set, whose
  build defines ML_PORTABLE); it takes the kernel only where the path
  applies;
- built for Cortex-M4F (DSP path) and with the DSP paths compiled out, run
  in Unicorn, on shapes chosen to reach every branch (stride 1 and 2, odd
  and even widths, every padding side, rows and columns outside the input,
  1 to 256 channels, clamping activations, extreme zero points, weights and
  biases; ring rows with padding rows, batches, vertical strides 2 and 4):
  equal to the numpy reference bit for bit;
- the output planned exactly the declared lead below its input is still
  right (the path writes two pixels' channel groups per pass, the ring path
  a whole output row channel by channel);
- it is fast (MACs per executed instruction on a KWS layer) and its stack
  stays small with 256 channels;
- ml_depthwise_conv2d_s8's DSP path for one input channel with a depth
  multiplier (person_detect's first layer) equals the reference and the
  portable build, and is faster.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_dsp_kernels import _run_m4f, dsp_portable_reference  # noqa: E402
from test_inplace_conv import Geometry, _tightest  # noqa: E402
from test_inplace_conv import make_case as geometry_case  # noqa: E402

import microlith.codegen  # noqa: E402
from microlith.ir import DType, QuantParams  # noqa: E402
from microlith.ops import get  # noqa: E402
from microlith.ops.base import kernel_set  # noqa: E402
from microlith.ops.conv import (  # noqa: E402
    DW3_RING_PER_CHANNEL,
    DW3_SCRATCH_PER_CHANNEL,
    conv_quant,
    depthwise3x3_folded_bias,
    depthwise3x3_scratch_bytes,
)
from microlith.plan import plan_memory  # noqa: E402
from microlith.profile import layer_costs  # noqa: E402
from microlith.toolchain.host import find_cc  # noqa: E402
from microlith.verify import run as reference_run  # noqa: E402

assert shutil.which("arm-none-eabi-gcc"), \
    "arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"

CORE = "cortex-m4f"
PREFIX = "model"
PORTABLE = (f"-D{PREFIX.upper()}_ML_PORTABLE",)

# name, input NHWC, kernel, stride, dilation, pads (all 3x3 depthwise, multiplier 1)
GEOMETRIES = [
    Geometry("KWS layer 25x5x64", (1, 25, 5, 64), (3, 3)),
    Geometry("even width 6x8x16", (1, 6, 8, 16), (3, 3)),
    Geometry("width 1", (1, 5, 1, 8), (3, 3)),
    Geometry("width 2 height 1", (1, 1, 2, 4), (3, 3)),
    Geometry("width 3, 256 channels", (1, 3, 3, 256), (3, 3)),
    Geometry("valid 7x7x12", (1, 7, 7, 12), (3, 3), pads="valid"),
    Geometry("stride 2 (0,1,0,1) 9x9x8", (1, 9, 9, 8), (3, 3), (2, 2), pads=(0, 1, 0, 1)),
    Geometry("stride 2 same 8x10x32", (1, 8, 10, 32), (3, 3), (2, 2)),
    Geometry("stride 2 odd out width 7x11x4", (1, 7, 11, 4), (3, 3), (2, 2), pads="valid"),
    Geometry("stride 2x1 8x7x8", (1, 8, 7, 8), (3, 3), (2, 1)),
    Geometry("stride 1x2 6x9x8", (1, 6, 9, 8), (3, 3), (1, 2)),
    Geometry("pads (2,0,0,2) 5x6x4", (1, 5, 6, 4), (3, 3), pads=(2, 0, 0, 2)),
    Geometry("window past the input 2x2x4", (1, 2, 2, 4), (3, 3), pads=(2, 2, 2, 2)),
    Geometry("batch 2 4x5x8", (2, 4, 5, 8), (3, 3)),
    # rows 5 wide (the ring path where the clamp is int8's): vertical strides,
    # padding rows, 256 channels
    Geometry("width 5 stride 2x1 9x5x12", (1, 9, 5, 12), (3, 3), (2, 1)),
    Geometry("width 5 stride 4x1 13x5x8", (1, 13, 5, 8), (3, 3), (4, 1)),
    Geometry("width 5 pads (2,0,1,1) 6x5x4", (1, 6, 5, 4), (3, 3), pads=(2, 0, 1, 1)),
    Geometry("width 5, 256 channels 3x5x256", (1, 3, 5, 256), (3, 3)),
]


def _ring(params: dict) -> bool:
    """The ring path's shapes, written out here: rows 5 wide in and out,
    stride 1 across, one padding column each side, the full int8 range."""
    p = params
    return ((p["in_w"], p["out_w"], p["stride_w"], p["pad_left"]) == (5, 5, 1, 1)
            and (p["act_min"], p["act_max"]) == (-128, 127))


def _cases() -> list[tuple[str, object, np.ndarray]]:
    out = []
    for i, geo in enumerate(GEOMETRIES):
        g, x = geometry_case("depthwise_conv2d", "int8", geo, 700 + i)
        out.append((geo.name, _full_range_if_5_wide(g), x))
    # extremes: input zero point -128 and 127, weights -128 and 127, biases near
    # the largest the 3x3 kernel takes, a clamp inside int8 (relu6-like)
    for i, (zp, w_fill, bias_scale, act) in enumerate(
            [(-128, -128, 0, (-128, 127)), (127, 127, 1, (-50, 60)),
             (0, -128, -1, (-128, 127))]):
        g, x = geometry_case("depthwise_conv2d", "int8", Geometry(f"extreme {i}", (1, 4, 5, 8),
                                                                  (3, 3)), 800 + i)
        xt, wt, bt = g.tensor("x"), g.tensor("w"), g.tensor("b")
        xt.quant = QuantParams(xt.quant.scale, np.array([zp]), None)
        w = wt.data.copy()
        w[:, ::2] = w_fill
        wt.data = w
        if bias_scale:
            folded = -zp * w.astype(np.int64).reshape(9, -1).sum(axis=0)
            limit = (1 << 29) - 9 * (1 << 14) - 1
            bt.data = (bias_scale * limit - folded).astype(np.int32)
        yt = g.tensor("y")
        yt.quant = QuantParams(yt.quant.scale * 4, yt.quant.zero_point, None)
        x = np.where(np.arange(x.size).reshape(x.shape) % 3 == 0, np.int8(-128), x)
        x = np.where(np.arange(x.size).reshape(x.shape) % 5 == 0, np.int8(127), x)
        out.append((f"extreme {i}", g, x.astype(np.int8), act))
    return [c[:3] if len(c) == 3 else _with_clamp(*c) for c in out]


def _full_range_if_5_wide(g):
    """Rows 5 wide in and out with relu (geometry_case's choice by seed):
    output zero point -128, so relu's clamp is int8's and the ring path can
    take the layer."""
    y = g.tensor("y")
    if g.tensor("x").shape[2] == y.shape[2] == 5 and g.nodes[0].attrs.activation == "relu":
        y.quant = QuantParams(y.quant.scale, np.array([-128]), None)
    return g


def _with_clamp(name, g, x, act):
    """Mark the case's activation range by choosing relu6 where act is narrow
    (the fused activation decides act_min/act_max; relu6 on this output scale
    gives a range inside int8)."""
    if act != (-128, 127):
        node = g.nodes[0]
        attrs = node.attrs
        node.attrs = type(attrs)(attrs.stride, attrs.dilation, attrs.pads, "relu6")
    return name, g, x


def _lowering_of(graph):
    node = graph.nodes[0]
    low = get(node.op).lower(node, graph.input_tensors(node), graph.output_tensors(node))
    return low


KERNELS = Path(__file__).resolve().parents[1] / "src" / "microlith" / "kernels"


def test_the_lowering_passes_the_layers_own_constants():
    """weights ({in1}, the graph's int8 tensor), a folded bias replacing the
    bias (bias + input_offset * the channel's weight sum), triples holding
    the reference multipliers and shifts with the rounding constant, and
    nothing else."""
    for name, g, _ in _cases():
        node = g.nodes[0]
        ins, outs = g.input_tensors(node), g.output_tensors(node)
        low = _lowering_of(g)
        assert low.function == "ml_depthwise_conv2d_s8_3x3", name
        assert low.args == ("{params}", "{in0}", "{in1}", "{const:bias}", "{const:rq}",
                            "{out0}", "{scratch}"), name
        q = conv_quant(node.op, ins, outs, node.attrs.activation)
        c = outs[0].shape[3]
        w = ins[1].data.astype(np.int64).reshape(9, c)
        b = ins[2].data.astype(np.int64)
        assert sorted(low.consts) == ["bias", "rq"], name
        assert low.consts["bias"].dtype == np.int32 and low.consts["rq"].dtype == np.int32
        assert np.array_equal(low.consts["bias"], b + q.input_offset * w.sum(axis=0)), name
        rq = low.consts["rq"].astype(np.int64).reshape(c, 3)
        e = -q.shift.astype(np.int64) - 1
        assert np.array_equal(rq[:, 0], q.multiplier), name
        assert np.array_equal(rq[:, 1], e), name
        assert np.array_equal(rq[:, 2], (2 * q.output_offset + 1) * 2**e), name
        per = (DW3_RING_PER_CHANNEL if _ring(low.params) else DW3_SCRATCH_PER_CHANNEL)
        assert low.scratch_bytes == per * c and per in (28, 88), name
        assert low.scratch_bytes == depthwise3x3_scratch_bytes(low.params), name
        with kernel_set("portable"):  # ML_PORTABLE: the portable path takes none
            assert _lowering_of(g).scratch_bytes == 0, name


def test_scratch_bytes_equal_the_kernels_own_scratch_size(tmp_path):
    """Both kernel sets: "any" (the C built as it is) and "portable" (the C
    built with ML_PORTABLE, the lowering inside kernel_set("portable"))."""
    graphs = [g for _, g, _ in _cases()]
    lows = [_lowering_of(g) for g in graphs]
    with kernel_set("portable"):
        portable = [_lowering_of(g).scratch_bytes for g in graphs]
    # the cases reach both DSP figures, and the portable set reserves nothing
    assert {low.scratch_bytes // low.params["in_c"] for low in lows} == {28, 88}
    assert portable == [0] * len(lows)
    lines = ["#include <stdio.h>", '#include "ml_depthwise_conv2d_s8.h"', "int main(void) {"]
    for i, low in enumerate(lows):
        fields = ", ".join(f".{k} = {v}" for k, v in low.params.items())
        lines.append(f"  static const ml_conv_params_t p{i} = {{ {fields} }};")
        lines.append(f'  printf("%zu\\n", ml_depthwise_conv2d_s8_3x3_scratch_size(&p{i}));')
    lines += ["  return 0;", "}"]
    (tmp_path / "main.c").write_text("\n".join(lines) + "\n")
    for flags, want in (((), [low.scratch_bytes for low in lows]),
                        (("-DML_PORTABLE",), portable)):
        exe = tmp_path / f"sizes{len(flags)}"
        subprocess.run([find_cc(), "-std=c99", "-Wall", "-Wextra", "-Werror", *flags,
                        f"-I{KERNELS}", str(tmp_path / "main.c"),
                        str(KERNELS / "ml_depthwise_conv2d_s8.c"), "-o", str(exe)], check=True)
        sizes = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True,
                                                check=True).stdout.split()]
        assert sizes == want, flags


def test_the_lowering_packs_only_where_the_path_applies():
    base = Geometry("base", (1, 5, 6, 8), (3, 3))
    assert _lowering_of(geometry_case("depthwise_conv2d", "int8", base, 1)[0]).function == \
        "ml_depthwise_conv2d_s8_3x3"
    others = [Geometry("5x5", (1, 6, 6, 8), (5, 5)),
              Geometry("dilation 2", (1, 7, 7, 8), (3, 3), dilation=(2, 2)),
              Geometry("multiplier 2", (1, 5, 6, 4), (3, 3), multiplier=2),
              Geometry("6 channels", (1, 5, 6, 6), (3, 3)),
              Geometry("260 channels", (1, 3, 3, 260), (3, 3)),
              Geometry("stride 3", (1, 7, 7, 8), (3, 3), (3, 3))]
    for geo in others:
        g, _ = geometry_case("depthwise_conv2d", "int8", geo, 2)
        low = _lowering_of(g)
        assert low.function == "ml_depthwise_conv2d_s8" and "bias" not in low.consts, geo.name
        assert low.scratch_bytes == 0 and "{in2}" in low.args, geo.name
    g16, _ = geometry_case("depthwise_conv2d", "int16", base, 3)
    assert not _lowering_of(g16).function.endswith("_3x3")
    # a shift >= 0 (weight scales far above the input's) or a bias past 2^29 - 9 * 2^14
    g, _ = geometry_case("depthwise_conv2d", "int8", base, 4)
    node = g.nodes[0]
    ins, outs = g.input_tensors(node), g.output_tensors(node)
    q = conv_quant(node.op, ins, outs, node.attrs.activation)
    params = _lowering_of(g).params
    assert depthwise3x3_folded_bias(params, ins[1], ins[2], q) is not None
    q_up = type(q)(q.multiplier, np.where(np.arange(8) == 3, 0, q.shift), q.input_offset,
                   q.output_offset, q.act_min, q.act_max, q.acc64)
    assert depthwise3x3_folded_bias(params, ins[1], ins[2], q_up) is None
    big = ins[2].data.copy()
    big[5] = (1 << 29) - 9 * (1 << 14) - q.input_offset * int(
        ins[1].data.astype(np.int64).reshape(9, -1)[:, 5].sum())
    ins[2].data = big.astype(np.int32)
    assert depthwise3x3_folded_bias(params, ins[1], ins[2], q) is None



def test_dsp_and_portable_equal_the_reference(tmp_path):
    cases = _cases()
    # both rescaling flavours: the full int8 range and a narrower clamp
    acts = {(low.params["act_min"], low.params["act_max"]) == (-128, 127)
            for low in (_lowering_of(g) for _, g, _ in cases)}
    assert acts == {True, False}
    r = dsp_portable_reference(cases, "dw3x3", tmp_path)
    graph, dsp, portable = r.graph, r.dsp, r.portable
    assert all(f == "ml_depthwise_conv2d_s8_3x3" for f in
               (get(n.op).lower(n, graph.input_tensors(n), graph.output_tensors(n)).function
                for n in graph.nodes))
    assert not r.problems, "\n".join(r.problems)
    assert dsp.instructions[0] * 3 < portable.instructions[0]
    # flash: the original layers' bytes (int8 weights, int32 bias, multiplier
    # and shift: 21 per channel) + 4 per channel (the rescaling triples' third
    # word), measured from the ELF's weight objects, plus each call's
    # parameter struct (4-byte fields)
    channels = sum(graph.output_tensors(n)[0].shape[3] for n in graph.nodes)
    params = sum(4 * len(_lowering_of(g).params) for _, g, _ in cases)
    for run in (dsp, portable):
        assert run.sections["flash"]["weights"] == 25 * channels + params


@pytest.mark.parametrize("index", [0, 1, 2, 4, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16])
def test_the_dsp_path_keeps_the_raster_order(index, tmp_path, monkeypatch):
    """Output exactly the declared lead below the dying input: still right,
    run twice (the second run reads the input the first one overwrote)."""
    geo = GEOMETRIES[index]
    graph, x = geometry_case("depthwise_conv2d", "int8", geo, 900 + index)
    graph = _full_range_if_5_wide(graph)
    seen = []

    def planner(g, *args, **kwargs):
        plan = plan_memory(g, *args, **kwargs)
        y = plan.buffer(g.outputs[0])
        seen.append(y.how)
        return _tightest(plan, g) if y.how == "overlap" else plan

    monkeypatch.setattr(microlith.codegen, "plan_memory", planner)
    got = _run_m4f(graph, [[x], [x]], tmp_path).outputs
    assert seen == ["overlap"], seen
    want = reference_run(graph, {"x": x})["y"]
    for out in got:
        assert np.array_equal(out[0], want), geo.name


def test_fast_and_small_stack(tmp_path):
    """A KWS depthwise layer (25x5x64) and a 3x3x256 one on Cortex-M4F: MACs
    per executed instruction (measured 0.619 and 0.276: the KWS layer from
    the ring of int16 input rows, whole rows channel by channel, 59.5
    instructions a channel a row plus 9.5 to widen its input row; the 3x3
    one with the 2-pixel tiles, which gave 0.317 on the KWS layer; 0.430
    with the first ring (experiment branch dw-ring); 0.280 and 0.246 with
    separate multipliers and shifts; the portable kernels give about 0.1),
    and the painted stack peak."""
    cases = [geometry_case("depthwise_conv2d", "int8", GEOMETRIES[i], 950 + i) for i in (0, 4)]
    for k, ((g, x), floor) in enumerate(zip(cases, (0.60, 0.26), strict=True)):
        g.tensor("y").quant = QuantParams(g.tensor("y").quant.scale, np.array([-128]), None)
        run = _run_m4f(g, [[x]], tmp_path / f"case{k}")
        macs = sum(layer.macs for layer in layer_costs(g))
        print(g.name, "measured MACs/instruction", macs / run.instructions[0],
              "stack", run.stack_peak_bytes)
        assert macs / run.instructions[0] >= floor, (g.name, macs / run.instructions[0])
        assert run.stack_peak_bytes <= 640, run.stack_peak_bytes


def test_int16_depthwise_is_unchanged():
    g, _ = geometry_case("depthwise_conv2d", "int16", GEOMETRIES[0], 5)
    assert g.tensor("x").dtype is DType.INT16
    assert _lowering_of(g).function.startswith("ml_depthwise_conv2d_s16")


# one input channel, depth multiplier = output channels (person_detect's first layer):
# ml_depthwise_conv2d_s8's DSP path dw_c1
C1_GEOMETRIES = [
    Geometry("c1 x8 stride 2 same 13x12", (1, 13, 12, 1), (3, 3), (2, 2), multiplier=8),
    Geometry("c1 x6 stride 1 valid 5x7", (1, 5, 7, 1), (3, 3), pads="valid", multiplier=6),
    Geometry("c1 x3 5x5 window 6x6", (1, 6, 6, 1), (5, 5), multiplier=3),
    Geometry("c1 x4 dilation 2 7x7", (1, 7, 7, 1), (3, 3), dilation=(2, 2), multiplier=4),
    Geometry("c1 x12 past the input 2x3", (1, 2, 3, 1), (3, 3), pads=(2, 2, 2, 2),
             multiplier=12),
    Geometry("c1 x5 7x7 window (portable: > 25 taps) 8x8", (1, 8, 8, 1), (7, 7),
             multiplier=5),
]


def test_single_input_channel_path_equals_the_reference(tmp_path):
    """DSP (dw_c1, both rescales: relu6 on one case; the 7x7 window takes
    the generic loop) and portable builds against the numpy reference, bit
    for bit; the DSP one is faster."""
    cases = []
    for i, geo in enumerate(C1_GEOMETRIES):
        g, x = geometry_case("depthwise_conv2d", "int8", geo, 1100 + i)
        if i == 1:
            g = _with_clamp(geo.name, g, x, (-50, 60))[1]
        cases.append((geo.name, g, x))
    for name, g, _ in cases:
        low = _lowering_of(g)
        assert low.function == "ml_depthwise_conv2d_s8" and low.params["in_c"] == 1, name
    r = dsp_portable_reference(cases, "dwc1", tmp_path)
    dsp, portable = r.dsp, r.portable
    assert not r.problems, "\n".join(r.problems)
    assert dsp.instructions[0] < portable.instructions[0]
    # the person_detect-like layer alone: several times faster
    g, x = geometry_case("depthwise_conv2d", "int8", C1_GEOMETRIES[0], 1100)
    fast = _run_m4f(g, [[x]], tmp_path / "c1-dsp").instructions[0]
    slow = _run_m4f(g, [[x]], tmp_path / "c1-portable", PORTABLE).instructions[0]
    print("c1 layer instructions: measured DSP", fast, "portable", slow)
    assert fast * 2 < slow, (fast, slow)
