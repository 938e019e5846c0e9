"""The DSP paths of the int8 matrix kernels (ml_conv2d_s8,
ml_depthwise_conv2d_s8, ml_fully_connected_s8 on cores with
__ARM_FEATURE_DSP) against the portable path, in Unicorn:

- random and chosen single-op int8 cases (1x1 and 3x3 convolutions, strides,
  padding, dilation, odd channel and pixel counts, depthwise multipliers 1
  and 2, fully connected layers) built for Cortex-M4F equal the host build
  (the portable kernels) and the numpy reference bit for bit, and so does
  the same Cortex-M4F build with the DSP paths compiled out (ML_PORTABLE,
  which in a generated project is <PREFIX>_ML_PORTABLE like every ML_ name),
  which executes more instructions;
- the DSP paths keep the raster write order: outputs planned exactly the
  declared lead below their input are still right;
- whole models on Cortex-M4F are bit-exact with the host build, at the MACs
  per executed instruction given in MIN_MACS_PER_INSTRUCTION.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from shared_models import model

# unicorn, pyelftools and the Arm toolchain are installed by `make test`:
# without them these tests fail rather than skip.
assert shutil.which("arm-none-eabi-gcc"), \
    "arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"

# the single-op graph builders of the other matrix and in-place tests
from test_inplace_conv import Geometry, _tightest  # noqa: E402
from test_inplace_conv import make_case as geometry_case  # noqa: E402
from test_int_matrix_ops import make_case as random_case  # noqa: E402
from test_int_matrix_ops import merge  # noqa: E402

import microlith.codegen  # noqa: E402
from microlith.api import prepare  # noqa: E402
from microlith.codegen import generate  # noqa: E402
from microlith.codegen.host import compile_for_host  # noqa: E402
from microlith.emulate.bench import _board_for, bench  # noqa: E402
from microlith.emulate.unicorn import run_unicorn  # noqa: E402
from microlith.ir import QuantParams  # noqa: E402
from microlith.ops import get  # noqa: E402
from microlith.ops.conv import DW3_SCRATCH_PER_CHANNEL, conv_quant  # noqa: E402
from microlith.plan import plan_memory  # noqa: E402
from microlith.toolchain.arm import build_elf  # noqa: E402
from microlith.verify import run as reference_run  # noqa: E402

CORE = "cortex-m4f"
PREFIX = "model"
PORTABLE = (f"-D{PREFIX.upper()}_ML_PORTABLE",)

# Chosen to reach every branch of the DSP paths: pointwise and gathered
# windows (input channels a multiple of 4 or not), window sizes k with every
# k % 4, the last group of pixels of every size 1..6, channel counts with a
# tail of 1-3 after blocks of 4, clipped 3x3 windows, dilations, strides.
GEOMETRIES = [
    # name, input NHWC, kernel, stride, dilation, pads, cout (conv) / multiplier (dw)
    Geometry("1x1 64->64, 25 pixels", (1, 5, 5, 64), (1, 1), pads="valid", cout=64),
    Geometry("1x1 12->10, 21 pixels", (1, 3, 7, 12), (1, 1), pads="valid", cout=10),
    Geometry("1x1 6->9, k%4=2", (1, 4, 5, 6), (1, 1), pads="valid", cout=9),
    Geometry("1x1 5->7 batch 2, k%4=1", (2, 2, 5, 5), (1, 1), pads="valid", cout=7),
    Geometry("1x1 stride 2", (1, 7, 9, 8), (1, 1), (2, 2), pads="valid", cout=16),
    Geometry("3x3 same 16->16", (1, 7, 6, 16), (3, 3), cout=16, multiplier=1),
    Geometry("3x3 stride 2 in 3, k=27", (1, 9, 9, 3), (3, 3), (2, 2), pads=(0, 1, 0, 1),
             cout=8),
    Geometry("10x4 stride 2 in 1 (KWS)", (1, 13, 10, 1), (10, 4), (2, 2), cout=12),
    Geometry("3x3 dilation 2 in 8", (1, 9, 8, 8), (3, 3), dilation=(2, 2), cout=5),
    Geometry("3x3 dilation 1x2 in 12", (1, 6, 9, 12), (3, 3), dilation=(1, 2), cout=6,
             multiplier=2),
    Geometry("2x3 stride 1x2 batch 2 in 7", (2, 6, 9, 7), (2, 3), (1, 2), pads=(0, 1, 1, 0),
             cout=11),
    Geometry("3x3 same 10 channels", (1, 6, 6, 10), (3, 3), cout=3, multiplier=1),
    Geometry("3x3 same 64 channels", (1, 5, 5, 64), (3, 3), cout=8, multiplier=1),
    Geometry("3x3 stride 2 32 channels", (1, 8, 7, 32), (3, 3), (2, 2), pads=(0, 1, 0, 1),
             cout=4),
    Geometry("3x3 multiplier 2", (1, 6, 5, 6), (3, 3), cout=4, multiplier=2),
    Geometry("5x3 valid 8 channels", (1, 9, 6, 8), (5, 3), pads="valid", cout=9),
    Geometry("1x3 same, 1 row", (1, 1, 9, 4), (1, 3), cout=4),
    Geometry("3x3 valid in 3, k=27, 10 pixels", (1, 7, 4, 3), (3, 3), pads="valid", cout=6),
    Geometry("3x3 valid in 3, k=27, 11 pixels", (1, 13, 3, 3), (3, 3), pads="valid", cout=7),
    Geometry("1x1 7->9, k%4=3, 11 pixels", (1, 1, 11, 7), (1, 1), pads="valid", cout=9),
    Geometry("1x1 16->8, 10 pixels", (1, 2, 5, 16), (1, 1), pads="valid", cout=8),
]


def _geometry_cases() -> list[tuple[str, object, list[np.ndarray]]]:
    out, seed = [], 100
    for geo in GEOMETRIES:
        for op in ("conv2d", "depthwise_conv2d"):
            seed += 1
            if op == "conv2d" and geo.multiplier > 1:
                continue
            g, x = geometry_case(op, "int8", geo, seed)
            out.append((f"{op} {geo.name}", g, [x]))
    return out


def _slow_cases() -> list[tuple[str, object, list[np.ndarray]]]:
    """Cases whose odd output channels have 2^10 times the weight scale:
    their rescaling shift becomes >= 0, which the DSP paths leave to the
    portable rescale (per channel in conv2d, per layer in depthwise)."""
    out = []
    for name, g, x in _geometry_cases():
        if not any(k in name for k in ("64", "16->16", "k=27")):
            continue
        w = g.tensor("w")
        scale = np.array(w.quant.scale, dtype=np.float32)
        scale[1::2] *= 1024
        w.quant = QuantParams(scale, w.quant.zero_point, w.quant.axis)
        out.append((f"{name}, slow channels", g, x))
    return out


def _random_cases() -> list[tuple[str, object, list[np.ndarray]]]:
    rng = np.random.default_rng(20240901)
    out = []
    for op in ("conv2d", "depthwise_conv2d", "fully_connected"):
        for i in range(12):
            g, x = random_case(rng, op, "int8", per_channel=i % 3 != 2,
                               bias="int32" if op == "depthwise_conv2d" or i % 4 else None)
            out.append((f"random {op} {i}", g, x))
    return out


def _slow_rescale(graph) -> bool:
    """Whether some channel takes the portable rescale in the DSP paths
    (shift outside [-22, -1]; the bias bound is not checked here)."""
    node = graph.nodes[0]
    if node.op == "fully_connected":
        return False
    q = conv_quant(node.op, graph.input_tensors(node), graph.output_tensors(node),
                   node.attrs.activation)
    s = np.asarray(q.shift)
    return bool(np.any(s > -1) or np.any(s < -22))


def _run_m4f(graph, samples, root, extra_cflags=()):
    project = generate(graph, root / "project", prefix=PREFIX)
    build = build_elf(project, CORE, "-O2", board=_board_for(CORE), firmware="none",
                      out=root / f"m4f{'-portable' if extra_cflags else ''}.elf",
                      extra_cflags=extra_cflags)
    return run_unicorn(build.elf, PREFIX, samples, graph, core=CORE)


def dsp_portable_reference(cases, name, tmp_path, small=False):
    """Single-op cases [(name, graph, input)] merged into one graph, run on
    Cortex-M4F with and without the DSP paths (and, with ``small``, the DSP
    build at -Os) on one sample and compared with the numpy reference.
    Returns a namespace: graph, dsp, portable, small (runs), wants (reference
    outputs by case), problems (every difference as text)."""
    from types import SimpleNamespace

    graph, sample = merge([(g, [x]) for _, g, x in cases], name)
    r = SimpleNamespace(graph=graph, small=None, wants=[], problems=[])
    r.dsp = _run_m4f(graph, [sample], tmp_path / "dsp")
    r.portable = _run_m4f(graph, [sample], tmp_path / "portable", PORTABLE)
    builds = [("DSP", r.dsp), ("portable", r.portable)]
    if small:  # the compact DSP path
        project = generate(graph, tmp_path / "os" / "project", prefix=PREFIX)
        build = build_elf(project, CORE, "-Os", board=_board_for(CORE), firmware="none",
                          out=tmp_path / "os" / "m4f.elf")
        r.small = run_unicorn(build.elf, PREFIX, [sample], graph, core=CORE)
        builds.append(("DSP -Os", r.small))
    ref = reference_run(graph, dict(zip(graph.inputs, sample, strict=True)))
    for i, (case, _, _) in enumerate(cases):
        want = ref[graph.outputs[i]]
        r.wants.append(want)
        for label, run in builds:
            got = run.outputs[0][i]
            if got.shape != want.shape or not np.array_equal(got, want):
                r.problems.append(f"{case} ({label}): {np.count_nonzero(got != want)} differ")
    return r


def test_single_ops_dsp_equal_portable_and_reference(tmp_path):
    cases = _geometry_cases() + _slow_cases() + _random_cases()
    assert any(_slow_rescale(g) for _, g, _ in cases)  # both rescaling paths are reached
    assert not all(_slow_rescale(g) for _, g, _ in cases)
    graph, sample = merge([(g, x) for _, g, x in cases], "dsp_single_ops")
    dsp = _run_m4f(graph, [sample], tmp_path / "dsp")
    portable = _run_m4f(graph, [sample], tmp_path / "portable", PORTABLE)
    host = compile_for_host(graph, prefix=PREFIX, workdir=tmp_path / "host").invoke(sample)
    ref = reference_run(graph, dict(zip(graph.inputs, sample, strict=True)))
    problems = []
    for i, (name, _, _) in enumerate(cases):
        want = ref[graph.outputs[i]]
        for label, got in (("DSP", dsp.outputs[0][i]), ("portable", portable.outputs[0][i]),
                           ("host", host[i])):
            if got.dtype != want.dtype or got.shape != want.shape or \
                    not np.array_equal(got, want):
                bad = np.count_nonzero(got != want) if got.shape == want.shape else -1
                problems.append(f"{name} ({label} build): {bad} values differ")
    assert not problems, "\n".join(problems)
    # the DSP paths did run: the same kernels without them execute more
    assert dsp.instructions[0] * 2 < portable.instructions[0]


def _overlap_cases():
    seed = 300
    for geo in GEOMETRIES:
        for op in ("conv2d", "depthwise_conv2d"):
            seed += 1
            if op == "conv2d" and geo.multiplier > 1 or geo.shape[0] > 1:
                continue
            yield pytest.param(op, geo, seed, id=f"{op}-{geo.name}")


@pytest.mark.parametrize("op,geo,seed", list(_overlap_cases()))
def test_dsp_paths_keep_the_raster_order(op, geo, seed, tmp_path, monkeypatch):
    """The output exactly the declared lead below its dying input (the
    tightest plan the planner may make) on the DSP build: still the
    reference's values."""
    graph, x = geometry_case(op, "int8", geo, seed)
    seen = []

    def planner(g, *args, **kwargs):
        plan = plan_memory(g, *args, **kwargs)
        y = plan.buffer(g.outputs[0])
        if y.how != "overlap":  # nothing to save: the planner keeps them apart
            seen.append(None)
            return plan
        seen.append(y)
        return _tightest(plan, g)

    monkeypatch.setattr(microlith.codegen, "plan_memory", planner)
    got = _run_m4f(graph, [[x], [x]], tmp_path).outputs
    assert len(seen) == 1
    want = reference_run(graph, {"x": x})["y"]
    for out in got:  # twice: the input is overwritten, fed again
        assert np.array_equal(out[0], want), graph.name


def test_most_raster_cases_overlap():
    """The cases above test something: the compiled plan overlaps most of them."""
    from microlith.codegen import compiled_plan
    overlapped = []
    for param in _overlap_cases():
        op, geo, seed = param.values
        graph, _ = geometry_case(op, "int8", geo, seed)
        overlapped.append(compiled_plan(graph).buffer(graph.outputs[0]).how == "overlap")
    assert sum(overlapped) >= 0.7 * len(overlapped), overlapped


MODELS = {
    "kws": "mlcommons_tiny/kws_ref_model.tflite",
    "vww": "mlcommons_tiny/vww_96_int8.tflite",
    "ic": "mlcommons_tiny/pretrainedResnet_quant.tflite",
    "ad": "mlcommons_tiny/ad01_int8.tflite",
}
# Cortex-M4F at -O2, measured with these kernels: KWS 0.579, VWW 0.483, IC
# 0.663, AD 0.490 (portable kernels: 0.102, 0.098, 0.153, 0.164). The issue
# asks for 0.8 on KWS, VWW and IC. What keeps them below: IC's convolutions
# run at 0.82, but its three int8 adds (ml_add_s8, ~125 instructions an
# element) take 3.6 M of its 18.9 M instructions; KWS and VWW spend a third
# and more in depthwise convolutions (0.18-0.19: no scratch allowed, so
# weights are widened again for every pixel, and each output of 9 MACs has
# its own rescale), VWW's pointwise layers with 8-32 input channels carry the
# rescale of every output on few MACs, and KWS's average pool costs 98 k.
# IC since the fast ml_add_s8 path (16 instructions an element) and the
# conv2d rescale constants read after the dot product: 0.804.
# Since conv2d's assembly channel loop (dot product, rescale and stores of a
# channel in one loop), the deep-shift rescale and faster window gathers:
# KWS 0.676, VWW 0.598, IC 0.840 (with the depthwise kernel as it stood).
# Since conv2d skips the dot products of channels whose output is the same
# for every input (46.8% of VWW's conv2d MACs) and gathers six windows of a
# row without checks: VWW conv2d 5.37 M instructions (was 9.04 M), the whole
# model about 0.94.
# Since the 3x3 depthwise ring (KWS's depthwise layers 0.317 -> 0.619), the
# DSP average pool (98 k -> 8.8 k) and conv2d's four-quad channel loop with
# the bias as first accumulator (KWS first conv 0.70 -> 0.86, pointwise
# 0.889 -> 0.953): KWS 0.886, VWW 0.982, IC 0.882. The bar is 0.8 on
# KWS, VWW and IC; these floors hold it. Counts are exact (no noise): a
# change of compiler can move them, nothing else.
MIN_MACS_PER_INSTRUCTION = {"kws": 0.85, "vww": 0.95, "ic": 0.86, "ad": 0.48}


@pytest.mark.parametrize("name", list(MODELS))
def test_models_on_m4f_bit_exact_and_fast(name):
    graph = prepare(model(MODELS[name]))
    d = bench(graph, CORE, "-O2").to_dict()
    assert d["bit_exact"] is True, d["mismatches"]
    assert d["macs_per_instruction"] >= MIN_MACS_PER_INSTRUCTION[name], \
        (name, d["macs_per_instruction"])


def test_kws_portable_build_is_the_same_and_slower(tmp_path):
    """The whole model with the DSP paths compiled out (ML_PORTABLE) on the
    same core: the same outputs, several times the instructions."""
    from microlith.verify.validate import random_samples

    graph = prepare(model(MODELS["kws"]))
    samples = random_samples(graph, 2, seed=5)
    dsp = _run_m4f(graph, samples, tmp_path / "dsp")
    portable = _run_m4f(graph, samples, tmp_path / "portable", PORTABLE)
    for a, b in zip(dsp.outputs, portable.outputs, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert max(dsp.instructions) * 4 < min(portable.instructions)


def test_the_lowering_reserves_what_the_kernels_ask(tmp_path):
    """conv2d int8 scratch: the Python formula (sized for the DSP path) is the
    kernel's own, and the DSP path's needs are covered on chosen shapes; the
    portable kernel set reserves only the portable path's window."""
    from microlith.ops.base import kernel_set

    for _, g, _ in _geometry_cases():
        node = g.nodes[0]
        low = get(node.op).lower(node, g.input_tensors(node), g.output_tensors(node))
        if low.function == "ml_depthwise_conv2d_s8_3x3":  # its expanded weights, or
            # the ring and records for rows 5 wide (C-checked in test_dsp_depthwise)
            from microlith.ops.conv import DW3_RING_PER_CHANNEL

            p = low.params
            ring = (p["in_w"], p["out_w"], p["stride_w"], p["pad_left"]) == (5, 5, 1, 1) \
                and (p["act_min"], p["act_max"]) == (-128, 127)
            per = DW3_RING_PER_CHANNEL if ring else DW3_SCRATCH_PER_CHANNEL
            assert low.scratch_bytes == per * p["in_c"]
            with kernel_set("portable"):  # ML_PORTABLE: the portable path takes none
                port = get(node.op).lower(node, g.input_tensors(node), g.output_tensors(node))
            assert port.scratch_bytes == 0
            continue
        if node.op != "conv2d":
            assert low.scratch_bytes == 0
            continue
        p = low.params
        k = p["k_h"] * p["k_w"] * p["in_c"] // max(p["groups"], 1)
        assert low.scratch_bytes >= 16 * p["out_c"] + 12 * ((k + 3) // 4 * 4)
        with kernel_set("portable"):  # ML_PORTABLE: the portable path's window only
            port = get(node.op).lower(node, g.input_tensors(node), g.output_tensors(node))
        assert port.scratch_bytes in (0, k) and port.scratch_bytes < low.scratch_bytes


KERNELS = Path(__file__).resolve().parents[1] / "src" / "microlith" / "kernels"
DSP_KERNELS = ("ml_conv2d_s8.c", "ml_depthwise_conv2d_s8.c", "ml_fully_connected_s8.c")


def test_dsp_kernels_compile_everywhere(tmp_path):
    """The inline assembly needs up to 13 free registers: every optimization
    level, with and without a frame pointer, and cores without DSP (where
    the portable path is all there is), -Wall -Wextra -Werror."""
    from concurrent.futures import ThreadPoolExecutor

    cores = (("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
             ("-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"),
             ("-mcpu=cortex-m55", "-mfloat-abi=hard"), ("-mcpu=cortex-m0plus",))
    opts = (("-O0",), ("-O2",), ("-Os",), ("-Og",), ("-O3",), ("-O2", "-fno-omit-frame-pointer"),
            ("-Os", "-fno-omit-frame-pointer"), ("-Og", "-fno-omit-frame-pointer"),
            ("-O3", "-funroll-loops"), ("-O3", "-fno-omit-frame-pointer"))
    jobs = [(c, o, f) for c in cores for o in opts for f in DSP_KERNELS]

    def build(job):
        core, opt, src = job
        out = tmp_path / f"{abs(hash(job))}.o"
        r = subprocess.run(["arm-none-eabi-gcc", "-mthumb", *core, *opt, "-std=c99", "-Wall",
                            "-Wextra", "-Werror", "-c", str(KERNELS / src), "-o", str(out)],
                           capture_output=True, text=True)
        return job, r.returncode, r.stderr

    with ThreadPoolExecutor(8) as pool:
        failed = [f"{job}: {err[-600:]}" for job, rc, err in pool.map(build, jobs) if rc]
    assert not failed, "\n".join(failed)
