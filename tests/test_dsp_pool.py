"""ml_avg_pool2d_s8's DSP path (cores with __ARM_FEATURE_DSP, not at -Os):
16 and then 4 channels of a window summed at once with SXTAB16 into packed
16-bit sums while the window has at most 256 elements, int32 sums channel by
channel otherwise and for the last 1-3 channels, TFLM's rounding division,
a packed byte clamp.

- single-op int8 average pools chosen to reach every branch (windows of 256
  elements, the most the packed sums take, filled with -128 and 127;
  windows of 257 and more; windows clipped by padding at every border and
  empty windows; whole-width windows, which the path walks as one run;
  strides; channel counts 1..67 with every tail after blocks of 16 and 4;
  every fused activation, clamping; batches; random shapes) built for
  Cortex-M4F and Cortex-M33 at -O2 and run in Unicorn equal the numpy
  reference and the host build bit for bit, and so does the Cortex-M4F build
  with the DSP paths compiled out (ML_PORTABLE);
- a clamp whose bounds are not bytes (never made by a fused activation:
  forced here) takes the int32 path and is still right;
- the path keeps the raster write order: outputs planned exactly the
  declared lead below their input are still right;
- a KWS-shaped pool (25x5x64 -> 1x1x64) executes under 9,500 instructions
  (measured 8,810 on Cortex-M4F at -O2; the portable loop: 97,958).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_inplace_conv import _tightest  # noqa: E402
from test_int_matrix_ops import merge  # noqa: E402

import microlith.codegen  # noqa: E402
import microlith.ops.pool as pool_ops  # noqa: E402
from microlith import ops  # noqa: E402
from microlith.codegen import generate  # noqa: E402
from microlith.codegen.host import compile_for_host  # noqa: E402
from microlith.emulate.bench import _board_for  # noqa: E402
from microlith.emulate.unicorn import run_unicorn  # noqa: E402
from microlith.ir import DType, Graph, Node, QuantParams, Tensor  # noqa: E402
from microlith.ops.pool import Pool2DAttrs  # noqa: E402
from microlith.plan import plan_memory  # noqa: E402
from microlith.toolchain.arm import build_elf  # noqa: E402
from microlith.verify import run as reference_run  # noqa: E402

assert shutil.which("arm-none-eabi-gcc"), \
    "arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"

PREFIX = "model"
PORTABLE = (f"-D{PREFIX.upper()}_ML_PORTABLE",)
KWS_POOL_MAX_INSTRUCTIONS = 9500


def pool_case(name: str, shape, kernel, stride=(1, 1), pads=(0, 0, 0, 0), act="none",
              zp=0, seed=0, fill: str = "random") -> tuple[Graph, np.ndarray]:
    """x -> avg_pool2d -> y, int8, input and output with the same parameters
    (scale 0.05, zero point ``zp``: relu clamps at zp, relu6 at zp + 120,
    relu_n1_to_1 at zp -+ 20). ``fill``: "random", "min" (-128), "max" (127)
    or "edges" (each channel all -128 or all 127)."""
    rng = np.random.default_rng(seed)
    if fill == "min":
        x = np.full(shape, -128, np.int8)
    elif fill == "max":
        x = np.full(shape, 127, np.int8)
    elif fill == "edges":
        x = np.where(np.arange(shape[3]) % 2 == 0, -128, 127) * np.ones(shape, np.int64)
        x = x.astype(np.int8)
    else:
        x = rng.integers(-128, 128, shape).astype(np.int8)
    q = QuantParams(np.array([0.05], np.float32), np.array([zp]), None)
    g = Graph(f"avg_pool2d {name}")
    xt = g.add_tensor(Tensor("x", tuple(shape), DType.INT8, q))
    attrs = Pool2DAttrs(tuple(kernel), tuple(stride), tuple(pads), act)
    spec = ops.get("avg_pool2d").infer([xt], attrs)[0]
    g.add_tensor(Tensor("y", spec.shape, DType.INT8, q))
    g.add_node(Node("op", "avg_pool2d", ("x",), ("y",), attrs))
    g.inputs, g.outputs = ["x"], ["y"]
    return g, x


KWS = dict(name="KWS 25x5x64 global", shape=(1, 25, 5, 64), kernel=(25, 5))

CHOSEN = [
    KWS,
    # 256 elements, the most the packed sums hold: -128 * 256 = -32768 exactly
    dict(name="16x16 window of -128, 20 ch", shape=(1, 16, 16, 20), kernel=(16, 16),
         fill="min"),
    dict(name="16x16 window of 127, 36 ch", shape=(1, 16, 16, 36), kernel=(16, 16),
         fill="max"),
    dict(name="16x16 window -128/127, 16 ch", shape=(1, 16, 16, 16), kernel=(16, 16),
         fill="edges"),
    dict(name="256 as one run 64x4x20", shape=(1, 64, 4, 20), kernel=(64, 4), fill="edges"),
    # 257 and more: int32 sums
    dict(name="257 window 257x1x17 of -128", shape=(1, 257, 1, 17), kernel=(257, 1),
         fill="min"),
    dict(name="272 window 17x16x19", shape=(1, 17, 16, 19), kernel=(17, 16), fill="edges"),
    dict(name="16x17 random 35 ch", shape=(1, 16, 17, 35), kernel=(16, 17)),
    dict(name="18x18 same, counts 100..324", shape=(1, 18, 18, 16), kernel=(18, 18),
         pads=(8, 9, 8, 9)),
    # borders, strides, channel tails
    dict(name="3x3 same 7x6x67", shape=(1, 7, 6, 67), kernel=(3, 3), pads=(1, 1, 1, 1)),
    dict(name="2x2 stride 2 8x10x21", shape=(1, 8, 10, 21), kernel=(2, 2), stride=(2, 2)),
    dict(name="3x3 stride 2 (0,1,0,1) 9x9x5", shape=(1, 9, 9, 5), kernel=(3, 3),
         stride=(2, 2), pads=(0, 1, 0, 1), act="relu", zp=-10),
    dict(name="5x3 stride 2x1 (2,1,1,2) 10x7x33", shape=(1, 10, 7, 33), kernel=(5, 3),
         stride=(2, 1), pads=(2, 1, 1, 2), act="relu6", zp=-100),
    dict(name="4x4 1 ch", shape=(1, 6, 6, 1), kernel=(4, 4), pads=(1, 2, 1, 2)),
    dict(name="4x4 2 ch", shape=(1, 6, 5, 2), kernel=(4, 4), stride=(2, 1)),
    dict(name="4x4 3 ch", shape=(1, 5, 6, 3), kernel=(4, 4), stride=(1, 3), pads=(3, 0, 0, 3)),
    dict(name="3x2 stride 1x2 batch 2 5x8x38", shape=(2, 5, 8, 38), kernel=(3, 2),
         stride=(1, 2), pads=(1, 1, 0, 1), act="relu_n1_to_1", zp=5),
    dict(name="window past the input 2x3x14", shape=(1, 2, 3, 14), kernel=(4, 4),
         pads=(1, 2, 1, 2)),
    dict(name="empty windows 2x2x8", shape=(1, 2, 2, 8), kernel=(1, 1), pads=(1, 2, 0, 1)),
    # whole-width windows, walked as one run of rows * width pixels
    dict(name="whole width 12x4x27 stride 3", shape=(1, 12, 4, 27), kernel=(5, 4),
         stride=(3, 1)),
    dict(name="whole width padded rows 6x4x18", shape=(1, 6, 4, 18), kernel=(3, 4),
         pads=(1, 1, 0, 0), act="relu", zp=3),
    dict(name="1x1 window 3x3x7", shape=(1, 3, 3, 7), kernel=(1, 1), act="relu6", zp=-128),
]


def _random_specs(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = int(rng.integers(1, 13)), int(rng.integers(1, 13))
        kh, kw = int(rng.integers(1, h + 2)), int(rng.integers(1, w + 2))
        pads = tuple(int(v) for v in rng.integers(0, [kh, kh, kw, kw]))
        if h + pads[0] + pads[1] < kh or w + pads[2] + pads[3] < kw:
            pads = (kh - 1, 0, kw - 1, 0)
        out.append(dict(name=f"random {i}", shape=(int(rng.integers(1, 3)), h, w,
                                                  int(rng.integers(1, 68))),
                        kernel=(kh, kw), stride=tuple(int(v) for v in rng.integers(1, 4, 2)),
                        pads=pads, act=("none", "relu", "relu6", "relu_n1_to_1")[i % 4],
                        zp=int(rng.integers(-60, 61))))
    return out


SPECS = CHOSEN + _random_specs(14, 20261121)


def _cases():
    return [(s["name"], *pool_case(seed=i, **s)) for i, s in enumerate(SPECS)]


def _build_run(graph, samples, root, core="cortex-m4f", extra_cflags=()):
    project = generate(graph, root / "project", prefix=PREFIX)
    build = build_elf(project, core, "-O2", board=_board_for(core), firmware="none",
                      out=root / f"{core}.elf", extra_cflags=extra_cflags)
    return run_unicorn(build.elf, PREFIX, samples, graph, core=core)


def test_the_chosen_cases_reach_every_branch():
    """Counts at and past 256, channel tails 0..3 after 16- and 4-blocks,
    empty windows, whole-width runs, clamping activations."""
    counts, tails, runs = set(), set(), False
    for s in SPECS:
        g, _ = pool_case(**s)
        node = g.nodes[0]
        p = pool_ops.pool_params(g.input_tensors(node), g.output_tensors(node), node.attrs)
        c = p["channels"]
        tails.add((c >= 16, c % 16 >= 4, c % 4))
        for oy in range(p["out_height"]):
            y0 = oy * p["stride_height"] - p["pad_top"]
            rows = min(p["filter_height"], p["height"] - y0) - max(0, -y0)
            for ox in range(p["out_width"]):
                x0 = ox * p["stride_width"] - p["pad_left"]
                cols = min(p["filter_width"], p["width"] - x0) - max(0, -x0)
                counts.add(rows * cols if rows > 0 and cols > 0 else 0)
                runs |= cols == p["width"] and rows > 1
    assert {0, 256, 257}.issubset(counts) and max(counts) > 300, sorted(counts)
    assert runs
    want = {(a, b, t) for a in (True, False) for b in (True, False) for t in range(4)}
    assert want - {(False, False, 0)} <= tails, sorted(want - tails)
    assert {s.get("act", "none") for s in SPECS} == {"none", "relu", "relu6", "relu_n1_to_1"}


def test_dsp_path_equals_portable_host_and_reference(tmp_path, monkeypatch):
    cases = _cases()
    # one extra case whose clamp bounds are not bytes (no fused activation
    # makes them; the DSP path must leave it to the int32 clamp)
    wide_g, wide_x = pool_case("wide clamp", (1, 5, 5, 24), (3, 3), pads=(1, 1, 1, 1),
                               seed=99, fill="edges")
    cases.append(("clamp bounds -300..300", wide_g, wide_x))
    graph, sample = merge([(g, [x]) for _, g, x in cases], "dsp_pools")
    wide_y = graph.outputs[-1]
    real_params = pool_ops.pool_params

    def params(ins, outs, attrs):
        p = real_params(ins, outs, attrs)
        if outs[0].name == wide_y:
            p.update(act_min=-300, act_max=300)
        return p

    monkeypatch.setattr(pool_ops, "pool_params", params)
    runs = {"M4F DSP": _build_run(graph, [sample], tmp_path / "m4f"),
            "M33 DSP": _build_run(graph, [sample], tmp_path / "m33", core="cortex-m33"),
            "M4F portable": _build_run(graph, [sample], tmp_path / "port",
                                       extra_cflags=PORTABLE)}
    host = compile_for_host(graph, prefix=PREFIX, workdir=tmp_path / "host").invoke(sample)
    ref = reference_run(graph, dict(zip(graph.inputs, sample, strict=True)))
    problems = []
    for i, (name, _, _) in enumerate(cases):
        want = ref[graph.outputs[i]]
        got_all = [(label, r.outputs[0][i]) for label, r in runs.items()] + [("host", host[i])]
        for label, got in got_all:
            if got.dtype != want.dtype or got.shape != want.shape or \
                    not np.array_equal(got, want):
                bad = np.count_nonzero(got != want) if got.shape == want.shape else -1
                problems.append(f"{name} ({label}): {bad} of {want.size} values differ")
    assert not problems, "\n".join(problems)
    # the clamp bites somewhere, and the wide case really is unclamped
    assert any(np.any(ref[graph.outputs[i]] == -10) for i in range(len(cases)))
    assert set(np.unique(ref[wide_y])) == {-128, 127}
    # the DSP path ran: the same build without it executes far more
    assert runs["M4F DSP"].instructions[0] * 4 < runs["M4F portable"].instructions[0]


OVERLAP = ["3x3 same 7x6x67", "2x2 stride 2 8x10x21", "5x3 stride 2x1 (2,1,1,2) 10x7x33",
           "whole width padded rows 6x4x18", "3x2 stride 1x2 batch 2 5x8x38"]


def test_dsp_path_keeps_the_raster_order(tmp_path, monkeypatch):
    """Each case with its output exactly the declared lead below its dying
    input (the tightest plan the planner may make), on the M4F DSP build, run
    twice (the input is overwritten, fed again): the reference's values."""
    by_name = {s["name"]: (i, s) for i, s in enumerate(SPECS)}
    overlapped = []

    def planner(g, *args, **kwargs):
        plan = plan_memory(g, *args, **kwargs)
        if plan.buffer(g.outputs[0]).how != "overlap":
            overlapped.append(False)
            return plan
        overlapped.append(True)
        return _tightest(plan, g)

    monkeypatch.setattr(microlith.codegen, "plan_memory", planner)
    for k, name in enumerate(OVERLAP):
        i, spec = by_name[name]
        graph, x = pool_case(seed=i, **spec)
        got = _build_run(graph, [[x], [x]], tmp_path / str(k)).outputs
        want = reference_run(graph, {"x": x})["y"]
        for out in got:
            assert np.array_equal(out[0], want), name
    assert sum(overlapped) >= len(OVERLAP) - 1, overlapped


@pytest.mark.parametrize("core", ["cortex-m4f"])
def test_kws_pool_is_fast(core, tmp_path):
    """The KWS average pool: under KWS_POOL_MAX_INSTRUCTIONS executed
    instructions for the whole invoke (8,000 input elements), the portable
    loop about 11 times as many; the same output."""
    graph, x = pool_case(seed=0, **KWS)
    dsp = _build_run(graph, [[x]], tmp_path / "dsp", core=core)
    portable = _build_run(graph, [[x]], tmp_path / "port", core=core, extra_cflags=PORTABLE)
    assert np.array_equal(dsp.outputs[0][0], portable.outputs[0][0])
    assert dsp.instructions[0] <= KWS_POOL_MAX_INSTRUCTIONS, dsp.instructions
    assert portable.instructions[0] > 8 * dsp.instructions[0], \
        (dsp.instructions, portable.instructions)


def test_pool_kernel_compiles_everywhere(tmp_path):
    """The inline assembly (SSUB8/SEL) and intrinsics at every optimization
    level, with a frame pointer, on cores with DSP, with Helium and without
    either (portable only), -Wall -Wextra -Werror."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    src = Path(pool_ops.__file__).resolve().parents[1] / "kernels" / "ml_pool2d_s8.c"
    cores = (("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
             ("-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"),
             ("-mcpu=cortex-m55", "-mfloat-abi=hard"), ("-mcpu=cortex-m0plus",))
    opts = (("-O0",), ("-O2",), ("-Os",), ("-Og",), ("-O3", "-fno-omit-frame-pointer"))
    jobs = [(c, o) for c in cores for o in opts]

    def build(job):
        out = tmp_path / f"{abs(hash(job))}.o"
        r = subprocess.run(["arm-none-eabi-gcc", "-mthumb", *job[0], *job[1], "-std=c99",
                            "-Wall", "-Wextra", "-Werror", "-c", str(src), "-o", str(out)],
                           capture_output=True, text=True)
        return job, r.returncode, r.stderr

    with ThreadPoolExecutor(4) as pool:
        failed = [f"{job}: {err[-600:]}" for job, rc, err in pool.map(build, jobs) if rc]
    assert not failed, "\n".join(failed)
