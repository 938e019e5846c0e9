"""The Helium (MVE) paths of the int8 matrix kernels (ml_mve_s8.c, taken by
ml_fully_connected_s8, ml_conv2d_s8 and ml_depthwise_conv2d_s8(_3x3) on
cores with __ARM_FEATURE_MVE), built for Cortex-M55 and run under QEMU
(mps3-an547, which emulates MVE; Unicorn cannot run the M55):

- single-op cases (fully connected, 1x1 conv2d and depthwise layers with
  chosen multipliers, shifts and sums on every rounding tie and at the int32
  limits; random shapes whose lengths and channel counts leave tails after
  blocks of 16, 8 and 4; general convolutions and depthwise convolutions
  (3x3 and general kernels) with strides, padding, dilation and extreme zero
  points) equal the numpy reference, the host build and the same M55 build
  with the Helium paths compiled out (ML_PORTABLE), bit for bit;
- the Helium paths run, and execute a fraction of the portable path's
  instructions (counted from QEMU's execution trace, a method checked
  against Unicorn on a Cortex-M4F build);
- the conv2d and depthwise paths keep the raster write order (output
  planned exactly the declared lead below its input);
- KWS and IC on the M55 equal the host build and the portable M55 build;
- ml_mve_s8.c compiles warning-free everywhere (and to nothing without MVE).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from shared_models import model
from test_inplace_conv import Geometry, _tightest
from test_inplace_conv import make_case as geometry_case
from test_int_matrix_ops import make_case as random_case
from test_int_matrix_ops import merge

import microlith.codegen
from microlith.api import prepare
from microlith.codegen import generate
from microlith.codegen.host import compile_for_host
from microlith.emulate.qemu import invoke_instructions, run_qemu
from microlith.ir import DType, Graph, Node, QuantParams, Tensor
from microlith.ops import get
from microlith.ops.conv import Conv2DAttrs
from microlith.ops.fully_connected import FullyConnectedAttrs
from microlith.plan import plan_memory
from microlith.toolchain.arm import build_elf
from microlith.verify import run as reference_run

# The Arm toolchain and QEMU are installed by `make test`: without them these
# tests fail rather than skip.
assert shutil.which("arm-none-eabi-gcc"), \
    "arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
assert shutil.which("qemu-system-arm"), "qemu-system-arm not installed (apt-get install " \
    "qemu-system-arm)"

CORE, BOARD = "cortex-m55", "mps3-an547"
PREFIX = "model"
PORTABLE = (f"-D{PREFIX.upper()}_ML_PORTABLE",)
KERNELS = Path(__file__).resolve().parents[1] / "src" / "microlith" / "kernels"
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def _q(scale, zero_point=0, axis=None) -> QuantParams:
    scale = np.atleast_1d(np.asarray(scale, np.float32))
    zp = np.broadcast_to(np.asarray(zero_point, np.int64), scale.shape)
    return QuantParams(scale, zp, axis if scale.size > 1 else None)


# -- fully connected: the rescale on chosen values --------------------------------------
# Multipliers with at most 24 significant bits are exact float32 scales, so
# multiplier * 2^(shift - 31) as a weight scale (input and output scale 1)
# gives exactly that (multiplier, shift) pair.
MULTIPLIERS = (1 << 30, 0x60000000, 0x5A827980, 0x7FFFFF80, 0x40000080)
SHIFTS = (-31, -30, -24, -17, -9, -4, -2, -1, 0, 1, 3, 7, 15, 30)


def rescale_case(seed: int, op: str = "fully_connected") -> tuple[Graph, list[np.ndarray]]:
    """y[b, c] = rescale_c(x[b] + bias[c]) for x = -128..127 (one input, one
    weight of 1 per output channel): each channel rescales 256 consecutive
    sums around its bias with its own (multiplier, shift). The biases put
    the results in the int8 range, so every rounding tie on the way is seen,
    and reach both int32 limits (shift -31) and left shifts that wrap. As a
    fully connected layer (256 rows), or a 1x1 conv2d or depthwise_conv2d
    over 16 x 16 pixels (one input channel, or every channel the same)."""
    rng = np.random.default_rng(seed)
    # the last pair: a scale below 2^-32, which TFLM turns into multiplier 0
    pairs = [(m, s) for s in SHIFTS for m in MULTIPLIERS] + [(1 << 30, -33)]
    scales, biases = [], []
    for m, s in pairs:
        real = m * 2.0 ** (s - 31)
        scales.append(np.float32(real))
        if s == -31:
            b = INT32_MIN + 128 if len(biases) % 2 else INT32_MAX - 127
        elif s == 7 and m == MULTIPLIERS[-1]:
            b = (1 << 28) + 77  # (x + b) << 7 wraps
        elif s in (15, 30) or s < -31:
            b = int(rng.integers(-(1 << 20), 1 << 20))  # wraps; multiplier 0
        else:
            t = float(rng.uniform(-90, 90))
            b = int(np.clip(round(t / real), INT32_MIN + 128, INT32_MAX - 127))
        biases.append(b)
    assert all(np.float64(sc) == m * 2.0 ** (s - 31) for sc, (m, s) in zip(scales, pairs,
                                                                        strict=True))
    cout = len(pairs)
    x = np.arange(-128, 128, dtype=np.int8)
    if op == "fully_connected":
        x, x_shape, w_shape, y_shape, axis = x.reshape(256, 1), (256, 1), (cout, 1), \
            (256, cout), 0
        attrs = FullyConnectedAttrs()
    elif op == "conv2d":
        x, x_shape, w_shape, y_shape, axis = x.reshape(1, 16, 16, 1), (1, 16, 16, 1), \
            (cout, 1, 1, 1), (1, 16, 16, cout), 0
        attrs = Conv2DAttrs()
    else:
        x = np.repeat(x.reshape(1, 16, 16, 1), cout, axis=3)
        x_shape, w_shape, y_shape, axis = x.shape, (1, 1, 1, cout), (1, 16, 16, cout), 3
        attrs = Conv2DAttrs()
    g = Graph(f"{op}_rescale_{seed}")
    g.add_tensor(Tensor("x", x_shape, DType.INT8, _q(1.0, 0)))
    g.add_tensor(Tensor("w", w_shape, DType.INT8, _q(scales, 0, axis),
                        data=np.ones(w_shape, np.int8)))
    g.add_tensor(Tensor("b", (cout,), DType.INT32, _q(scales, 0, 0),
                        data=np.array(biases, np.int32)))
    g.add_tensor(Tensor("y", y_shape, DType.INT8, _q(1.0, int(rng.integers(-3, 4)))))
    g.add_node(Node("op", op, ("x", "w", "b"), ("y",), attrs))
    g.inputs, g.outputs = ["x"], ["y"]
    return g, [x]


def fc_case(seed: int, n_in: int, n_out: int, batches: int, per_channel: bool,
            in_zp: int, w_zp: int, out_zp: int, activation: str = "none"
            ) -> tuple[Graph, list[np.ndarray]]:
    """A fully connected layer of the given shape and zero points, random
    values; the output scale spreads the results over the int8 range."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (n_out, n_in)).astype(np.int8)
    x = rng.integers(-128, 128, (batches, n_in)).astype(np.int8)
    w_scales = (10 ** rng.uniform(-3, -1, n_out if per_channel else 1)).astype(np.float32)
    bias = rng.integers(-(1 << 18), 1 << 18, n_out).astype(np.int32)
    in_scale = np.float32(0.02)
    acc = (x.astype(np.int64) - in_zp) @ (w.astype(np.int64) - w_zp).T + bias
    real = acc * (float(in_scale) * np.broadcast_to(w_scales, (n_out,)).astype(np.float64))
    out_scale = np.float32(max(float(np.abs(real).max()), 1e-3) / 120)
    g = Graph(f"fc_{seed}")
    g.add_tensor(Tensor("x", x.shape, DType.INT8, _q(in_scale, in_zp)))
    g.add_tensor(Tensor("w", w.shape, DType.INT8,
                        _q(w_scales, w_zp if not per_channel else 0, 0), data=w))
    g.add_tensor(Tensor("b", (n_out,), DType.INT32, _q(in_scale * w_scales, 0, 0), data=bias))
    g.add_tensor(Tensor("y", (batches, n_out), DType.INT8, _q(out_scale, out_zp)))
    g.add_node(Node("op", "fully_connected", ("x", "w", "b"), ("y",),
                    FullyConnectedAttrs(activation)))
    g.inputs, g.outputs = ["x"], ["y"]
    return g, [x]


def _fc_cases():
    out = [(f"{op} rescale ties and limits", *rescale_case(1, op))
           for op in ("fully_connected", "conv2d", "depthwise_conv2d")]
    shapes = [  # n_in, n_out, batches, per_channel, in_zp, w_zp, out_zp, activation
        (1, 1, 1, True, 0, 0, 0, "none"),
        (15, 5, 2, True, -128, 0, 127, "none"),
        (16, 4, 1, True, 127, 0, -128, "relu"),
        (17, 7, 3, False, -128, 3, -128, "none"),
        (250, 10, 1, True, -7, 0, 5, "relu6"),
        (64, 12, 2, False, 127, -128, 127, "none"),
        (33, 9, 1, False, 11, 127, 0, "relu"),
        (490, 13, 1, True, -128, 0, -3, "none"),
    ]
    for i, s in enumerate(shapes):
        out.append((f"fc {s}", *fc_case(500 + i, *s)))
    rng = np.random.default_rng(20261121)
    for i in range(6):
        g, x = random_case(rng, "fully_connected", "int8", per_channel=i % 3 != 2,
                           bias="int32" if i % 4 else None)
        out.append((f"random fully_connected {i}", g, x))
    return out


# -- conv2d -----------------------------------------------------------------------------
CONV_GEOMETRIES = [
    # input NHWC, kernel, stride, dilation, pads, cout; channel counts leave
    # tails after 16 (k) and pixel counts after 4
    Geometry("1x1 64->20, 25 pixels", (1, 5, 5, 64), (1, 1), pads="valid", cout=20),
    Geometry("1x1 21->7, 7 pixels", (1, 1, 7, 21), (1, 1), pads="valid", cout=7),
    Geometry("1x1 3->5 batch 2", (2, 3, 3, 3), (1, 1), pads="valid", cout=5),
    Geometry("1x1 stride 2", (1, 7, 9, 8), (1, 1), (2, 2), pads="valid", cout=16),
    Geometry("3x3 same 16->16", (1, 7, 6, 16), (3, 3), cout=16),
    Geometry("3x3 stride 2 in 3, k=27", (1, 9, 9, 3), (3, 3), (2, 2), pads=(0, 1, 0, 1),
             cout=8),
    Geometry("10x4 stride 2 in 1 (KWS)", (1, 13, 10, 1), (10, 4), (2, 2), cout=12),
    Geometry("3x3 dilation 2 in 8", (1, 9, 8, 8), (3, 3), dilation=(2, 2), cout=5),
    Geometry("2x3 stride 1x2 batch 2 in 7", (2, 6, 9, 7), (2, 3), (1, 2), pads=(0, 1, 1, 0),
             cout=11),
    Geometry("5x3 valid 9 channels", (1, 9, 6, 9), (5, 3), pads="valid", cout=9),
    Geometry("3x3 same 40 channels", (1, 4, 5, 40), (3, 3), cout=6),
    Geometry("1x3 same, 1 row", (1, 1, 9, 4), (1, 3), cout=4),
]
# (input zero point, output zero point) forced on some cases: the padding
# value and the folded offsets at their extremes
EXTREME_ZP = {1: (-128, 127), 4: (127, -128), 6: (-128, -128), 9: (127, 127)}


def _conv_cases():
    out = []
    for i, geo in enumerate(CONV_GEOMETRIES):
        g, x = geometry_case("conv2d", "int8", geo, 700 + i)
        if i in EXTREME_ZP:
            in_zp, out_zp = EXTREME_ZP[i]
            xt, yt = g.tensor("x"), g.tensor("y")
            xt.quant = _q(xt.quant.scale, in_zp)
            yt.quant = _q(yt.quant.scale, out_zp)
        out.append((f"conv2d {geo.name}", g, [x]))
    rng = np.random.default_rng(20261122)
    for i in range(8):
        g, x = random_case(rng, "conv2d", "int8", per_channel=i % 3 != 2,
                           bias="int32" if i % 4 else None)
        out.append((f"random conv2d {i}", g, x))
    return out


# -- depthwise conv2d --------------------------------------------------------------------
DW_GEOMETRIES = [
    # the 3x3 kernel's cases (channels a multiple of 4, stride_w 1 or 2) and
    # the general one's (other sizes, dilation, odd channel counts, multiplier 2)
    Geometry("3x3 same 64", (1, 7, 5, 64), (3, 3)),
    Geometry("3x3 same 12 stride 2", (1, 9, 8, 12), (3, 3), (2, 2)),
    Geometry("3x3 valid 8 batch 2", (2, 5, 6, 8), (3, 3), pads="valid"),
    Geometry("3x3 same 4, 1 row", (1, 1, 7, 4), (3, 3)),
    Geometry("3x3 same 7 channels", (1, 6, 6, 7), (3, 3)),
    Geometry("5x3 same 18, pad 2", (1, 7, 6, 18), (5, 3)),
    Geometry("3x3 dilation 2, 10", (1, 9, 8, 10), (3, 3), dilation=(2, 2)),
    Geometry("2x2 stride 2 valid 3", (1, 8, 10, 3), (2, 2), (2, 2), pads="valid"),
    Geometry("3x3 multiplier 2 (general path)", (1, 6, 5, 6), (3, 3), multiplier=2),
]
DW_EXTREME_ZP = {0: (-128, 127), 1: (127, -128), 4: (-128, -128), 6: (127, 127)}


def _dw_cases():
    out = []
    for i, geo in enumerate(DW_GEOMETRIES):
        g, x = geometry_case("depthwise_conv2d", "int8", geo, 800 + i)
        if i in DW_EXTREME_ZP:
            in_zp, out_zp = DW_EXTREME_ZP[i]
            xt, yt = g.tensor("x"), g.tensor("y")
            xt.quant = _q(xt.quant.scale, in_zp)
            yt.quant = _q(yt.quant.scale, out_zp)
        out.append((f"depthwise {geo.name}", g, [x]))
    rng = np.random.default_rng(20261123)
    for i in range(8):
        g, x = random_case(rng, "depthwise_conv2d", "int8", per_channel=i % 3 != 2,
                           bias="int32" if i % 4 else None)
        out.append((f"random depthwise {i}", g, x))
    return out


def _functions(graph) -> set[str]:
    return {get(n.op).lower(n, graph.input_tensors(n), graph.output_tensors(n)).function
            for n in graph.nodes}


# -- building and running ---------------------------------------------------------------
def _run_m55(graph, samples, root: Path, extra_cflags=(), opt="-O2"):
    project = generate(graph, root / "project", prefix=PREFIX)
    build = build_elf(project, CORE, opt, board=BOARD, samples=samples,
                      out=root / f"m55{'-portable' if extra_cflags else ''}{opt}.elf",
                      extra_cflags=extra_cflags)
    return build, run_qemu(build, timeout=120)


def _symbols(elf: Path) -> set[str]:
    r = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                       check=True)
    return {ln.split()[-1] for ln in r.stdout.splitlines() if ln.strip()}


def test_single_ops_helium_equal_portable_host_and_reference(tmp_path):
    cases = _fc_cases() + _conv_cases() + _dw_cases()
    graph, sample = merge([(g, x) for _, g, x in cases], "helium_single_ops")
    # both depthwise kernels (3x3 and general) are reached
    assert {"ml_depthwise_conv2d_s8", "ml_depthwise_conv2d_s8_3x3"} <= _functions(graph)
    mve_build, mve = _run_m55(graph, [sample], tmp_path / "mve")
    _, mve_os = _run_m55(graph, [sample], tmp_path / "mve", opt="-Os")
    portable_build, portable = _run_m55(graph, [sample], tmp_path / "portable", PORTABLE)
    host = compile_for_host(graph, prefix=PREFIX, workdir=tmp_path / "host").invoke(sample)
    ref = reference_run(graph, dict(zip(graph.inputs, sample, strict=True)))
    problems = []
    for i, (name, _, _) in enumerate(cases):
        want = ref[graph.outputs[i]]
        for label, got in (("Helium", mve.outputs[0][i]), ("Helium -Os", mve_os.outputs[0][i]),
                           ("portable M55", portable.outputs[0][i]), ("host", host[i])):
            if got.dtype != want.dtype or got.shape != want.shape or \
                    not np.array_equal(got, want):
                bad = np.count_nonzero(got != want) if got.shape == want.shape else -1
                problems.append(f"{name} ({label} build): {bad} values differ")
    assert not problems, "\n".join(problems)
    # the Helium paths are linked in (called), and only without ML_PORTABLE
    mve_fns = {f"{PREFIX}_ml_mve_{op}_s8"
               for op in ("fully_connected", "conv2d", "depthwise_conv2d")}
    assert mve_fns <= _symbols(mve_build.elf)
    assert not mve_fns & _symbols(portable_build.elf)


def test_helium_paths_run_and_execute_fewer_instructions(tmp_path):
    """Measured in QEMU (invoke_instructions): 1x1 and 3x3 convolutions, a
    fully connected layer and two depthwise convolutions (3x3 and general
    kernel) take a fraction of the portable path's instructions on the same
    core, the same for every sample; every Helium function runs."""
    picked = [c for c in _fc_cases() + _conv_cases() + _dw_cases()
              if c[0] in ("conv2d 1x1 64->20, 25 pixels", "conv2d 3x3 same 40 channels",
                          "fc (490, 13, 1, True, -128, 0, -3, 'none')",
                          "depthwise 3x3 same 64", "depthwise 5x3 same 18, pad 2")]
    assert len(picked) == 5
    graph, sample = merge([(g, x) for _, g, x in picked], "helium_count")
    mve_build, mve = _run_m55(graph, [sample, sample], tmp_path / "mve")
    portable_build, portable = _run_m55(graph, [sample, sample], tmp_path / "portable",
                                        PORTABLE)
    for a, b in zip(mve.outputs[0], portable.outputs[0], strict=True):
        assert np.array_equal(a, b)
    (fast, by), slow = invoke_instructions(mve_build.elf), invoke_instructions(
        portable_build.elf)[0]
    assert len(fast) == len(slow) == 2 and fast[0] == fast[1] and slow[0] == slow[1]
    assert all(by.get(f"{PREFIX}_ml_mve_{op}_s8", 0) > 100
               for op in ("fully_connected", "conv2d", "depthwise_conv2d")), by
    print("measured instructions per invoke, Helium vs portable:", fast[0], slow[0])
    assert fast[0] * 4 < slow[0], (fast, slow)


def test_rescale_case_reaches_ties_and_limits():
    """The chosen sums do what rescale_case says: results inside int8 for most
    channels, sums at both int32 limits, and ties of both roundings."""
    from microlith.ops import qmath
    g, (x,) = rescale_case(1)
    bias = g.tensor("b").data.astype(np.int64)
    acc = x.astype(np.int64) + bias[None, :]  # [256, C]
    assert acc.min() == INT32_MIN and acc.max() == INT32_MAX
    pairs = [(m, s) for s in SHIFTS for m in MULTIPLIERS] + [(0, 0)]
    mult = np.array([m for m, _ in pairs], np.int64)
    shift = np.array([s for _, s in pairs], np.int64)
    node = g.nodes[0]
    low = get("fully_connected").lower(node, g.input_tensors(node), g.output_tensors(node))
    assert low.consts["mult"].tolist() == mult.tolist()
    assert low.consts["shift"].tolist() == shift.tolist()
    left = np.maximum(shift, 0)
    a = (((acc << left) + 2 ** 31) % 2 ** 32) - 2 ** 31  # the wrapping left shift
    srdhm_ties = ((a * mult) % (1 << 31) == 1 << 30) & (a < 0)
    assert srdhm_ties.sum() > 50
    high = qmath.saturating_rounding_doubling_high_mul(a, mult).astype(np.int64)
    e = np.maximum(-shift, 0)
    rdbpot_ties = (e > 0) & (high < 0) & ((high % (1 << e)) == (1 << np.maximum(e - 1, 0)))
    assert rdbpot_ties.sum() > 200
    y = reference_run(g, {"x": x})["y"].astype(np.int64)
    inside = (y > -128) & (y < 127)
    assert inside.mean() > 0.5


@pytest.mark.parametrize("op,index", [("conv2d", 0), ("conv2d", 4), ("conv2d", 6),
                                      ("conv2d", 8), ("depthwise_conv2d", 0),
                                      ("depthwise_conv2d", 5)])
def test_helium_paths_keep_the_raster_order(op, index, tmp_path, monkeypatch):
    """Output exactly the declared lead below its dying input (the tightest
    plan the planner may make), on the Helium build: still the reference's
    values, twice (the input is overwritten and fed again)."""
    geo = (CONV_GEOMETRIES if op == "conv2d" else DW_GEOMETRIES)[index]
    graph, x = geometry_case(op, "int8", geo, 900 + index)
    seen = []

    def planner(g, *args, **kwargs):
        plan = plan_memory(g, *args, **kwargs)
        seen.append(plan.buffer(g.outputs[0]).how)
        return _tightest(plan, g) if seen[-1] == "overlap" else plan

    monkeypatch.setattr(microlith.codegen, "plan_memory", planner)
    _, got = _run_m55(graph, [[x], [x]], tmp_path)
    assert seen == ["overlap"], seen
    want = reference_run(graph, {"x": x})["y"]
    for out in got.outputs:
        assert np.array_equal(out[0], want), graph.name


@pytest.mark.parametrize("name", ["kws_ref_model", "pretrainedResnet_quant"])
def test_model_on_m55_equals_host_and_portable(name, tmp_path):
    """KWS and IC (MLPerf Tiny) on the M55: the Helium build, the portable
    build and the host build give the same bytes."""
    from microlith.verify.validate import random_samples

    graph = prepare(model(f"mlcommons_tiny/{name}.tflite"))
    samples = random_samples(graph, 2, seed=11)
    _, mve = _run_m55(graph, samples, tmp_path / "mve")
    _, portable = _run_m55(graph, samples, tmp_path / "portable", PORTABLE)
    host = compile_for_host(graph, prefix=PREFIX, workdir=tmp_path / "host")
    for s, sample in enumerate(samples):
        want = host.invoke(sample)
        for label, got in (("Helium", mve.outputs[s]), ("portable M55", portable.outputs[s])):
            assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True)), \
                (label, s)


def test_mve_kernel_compiles_everywhere(tmp_path):
    """-Wall -Wextra -Werror: on the M55 at every optimization level (with
    and without ML_PORTABLE) with gcc and clang, and on cores and hosts
    without MVE, where the unit has no code."""
    from concurrent.futures import ThreadPoolExecutor

    src = str(KERNELS / "ml_mve_s8.c")
    arm = ["arm-none-eabi-gcc", "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror",
           "-Wpedantic", "-c", src]
    jobs = [arm + ["-mcpu=cortex-m55", "-mfloat-abi=hard", o] + d
            for o in ("-O0", "-O2", "-Os", "-O3", "-Og")
            for d in ([], ["-DML_PORTABLE"], ["-fno-omit-frame-pointer"])]
    jobs += [arm + ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-O2"],
             arm + ["-mcpu=cortex-m0plus", "-O2"]]
    for cc in ("gcc", "clang"):
        if shutil.which(cc):
            jobs.append([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-O2",
                         "-c", src])
    if shutil.which("clang"):  # clang's own arm_mve.h, for the M55 (freestanding headers)
        jobs += [["clang", "--target=arm-none-eabi", "-mcpu=cortex-m55", "-mthumb",
                  "-mfloat-abi=hard", "-ffreestanding", "-std=c99", "-Wall", "-Wextra",
                  "-Werror", "-Wpedantic", o, "-c", src] for o in ("-O0", "-O2", "-Os")]

    def build(i_cmd):
        i, cmd = i_cmd
        out = tmp_path / f"{i}.o"
        r = subprocess.run(cmd + ["-o", str(out)], capture_output=True, text=True)
        text = ""
        if r.returncode == 0:
            arm = "arm" in cmd[0] or "--target=arm-none-eabi" in cmd
            size = subprocess.run(["arm-none-eabi-size" if arm else "size", str(out)],
                                  capture_output=True, text=True).stdout
            text = size.splitlines()[-1]
        return cmd, r.returncode, r.stderr, text

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(build, enumerate(jobs)))
    failed = [f"{' '.join(c[-6:])}: {err[-600:]}" for c, rc, err, _ in results if rc]
    assert not failed, "\n".join(failed)
    for cmd, _, _, size in results:
        with_code = "-mcpu=cortex-m55" in cmd and "-DML_PORTABLE" not in cmd
        text_bytes = int(size.split()[0])
        assert (text_bytes > 500) == with_code, (cmd, size)


def test_generated_project_with_mve_kernel_builds_with_werror(tmp_path):
    """The renamed copy in a generated project (prefix on every ml_/ML_ name,
    the MVE feature macro and intrinsics untouched) builds with -Werror with
    the host compilers and for the M55."""
    cases = ([c[1:] for c in _fc_cases()[:3]] + [c[1:] for c in _conv_cases()[:2]]
             + [c[1:] for c in _dw_cases()[:2]])
    graph, _ = merge(cases, "helium_werror")
    project = generate(graph, tmp_path / "p", prefix="kws1")
    text = (Path(project.path) / "kernels" / "kws1_ml_mve_s8.c").read_text()
    assert "__ARM_FEATURE_MVE" in (Path(project.path) / "kernels" / "kws1_ml_mve_s8.h").read_text()
    assert "vmladavaq_s8" in text and "kws1_ml_mve_conv2d_s8" in text
    for kernel in ("fully_connected_s8", "conv2d_s8", "depthwise_conv2d_s8"):
        called = (Path(project.path) / "kernels" / f"kws1_ml_{kernel}.c").read_text()
        assert f"kws1_ml_mve_{kernel}(" in called and "KWS1_ML_MVE_S8_ENABLED" in called
    srcs = sorted(str(p) for p in Path(project.path).rglob("*.c"))
    incs = [f"-I{project.path}", f"-I{Path(project.path) / 'kernels'}"]
    cmds = [[cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-c"] for cc in
            ("gcc", "clang") if shutil.which(cc)]
    cmds.append(["arm-none-eabi-gcc", "-mthumb", "-mcpu=cortex-m55", "-mfloat-abi=hard",
                 "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-c"])
    assert len(cmds) == 3
    for cmd in cmds:
        for i, s in enumerate(srcs):
            r = subprocess.run(cmd + incs + [s, "-o", str(tmp_path / f"{i}.o")],
                               capture_output=True, text=True)
            assert r.returncode == 0, (cmd[0], s, r.stderr[-1500:])


def test_lowerings_list_the_mve_kernel_and_reserve_its_scratch():
    """int8 fully connected, conv2d and depthwise lowerings carry ml_mve_s8
    (and the parameter headers it includes); conv2d's scratch holds the
    Helium path's ML_MVE_CONV_PIXELS windows and the 3x3 depthwise scratch
    its unfolded bias, multipliers and shifts (three int32 per channel)."""
    header = (KERNELS / "ml_mve_s8.h").read_text()
    pixels = int(re.search(r"#define ML_MVE_CONV_PIXELS (\d+)", header).group(1))
    seen = set()
    for name, g, _ in _fc_cases() + _conv_cases() + _dw_cases():
        node = g.nodes[0]
        low = get(node.op).lower(node, g.input_tensors(node), g.output_tensors(node))
        seen.add(low.function)
        assert {"ml_mve_s8", "ml_conv_params", "ml_fc_params"} <= set(low.sources), \
            (name, low.sources)
        p = low.params
        if low.function == "ml_conv2d_s8":
            k = p["k_h"] * p["k_w"] * p["in_c"] // max(p["groups"], 1)
            assert low.scratch_bytes >= pixels * k, name
        if low.function == "ml_depthwise_conv2d_s8_3x3":
            assert low.scratch_bytes >= 12 * p["out_c"], name
    assert {"ml_fully_connected_s8", "ml_conv2d_s8", "ml_depthwise_conv2d_s8",
            "ml_depthwise_conv2d_s8_3x3"} <= seen


def test_trace_count_equals_unicorn_on_m4f(tmp_path):
    """invoke_instructions (QEMU's trace) counts what Unicorn's basic-block
    counter counts, on a Cortex-M4F build Unicorn can run (mps2-an386)."""
    from microlith.emulate.unicorn import run_unicorn

    picked = [c for c in _fc_cases() + _conv_cases() + _dw_cases()
              if c[0] in ("conv2d 3x3 same 40 channels", "depthwise 3x3 same 64",
                          "fc (250, 10, 1, True, -7, 0, 5, 'relu6')")]
    assert len(picked) == 3
    graph, sample = merge([(g, x) for _, g, x in picked], "count_check")
    project = generate(graph, tmp_path / "project", prefix=PREFIX)
    harness = build_elf(project, "cortex-m4f", "-O2", board="mps2-an386", samples=[sample],
                        out=tmp_path / "h.elf")
    bare = build_elf(project, "cortex-m4f", "-O2", board="mps2-an386", firmware="none",
                     out=tmp_path / "n.elf")
    want = run_unicorn(bare.elf, PREFIX, [sample], graph, core="cortex-m4f").instructions
    got, by = invoke_instructions(harness.elf, board="mps2-an386")
    assert got == want and sum(by.values()) == got[0], (got, want)
