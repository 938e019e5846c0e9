"""conv2d, depthwise_conv2d, fully_connected and transpose_conv in int8 and
int16x8: the numpy references against TensorFlow Lite Micro (layer by layer on
the shared real models, and on random single-op models), and the C kernels
against the references (plain build, sanitizer build, float32 kernels too).

Every integer comparison is exact: one differing value fails.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from shared_models import model

from microlith.codegen import generate
from microlith.codegen.host import build_harness, run_graph_c, run_harness
from microlith.frontends.flatbuf import Buffer
from microlith.frontends.tflite import load_tflite
from microlith.frontends.tflite_schema import Model as SModel
from microlith.frontends.tflite_schema import SubGraph as SSubGraph
from microlith.frontends.tflite_schema import TensorT as STensor
from microlith.ir import DType, Graph, Node, QuantParams, Tensor
from microlith.ops import OpError, get
from microlith.ops.base import RefContext, same_padding
from microlith.ops.conv import (
    DW3_SCRATCH_PER_CHANNEL,
    Conv2DAttrs,
    TransposeConvAttrs,
    conv_quant,
)
from microlith.ops.fully_connected import FullyConnectedAttrs, fc_quant
from microlith.quant.tflite_writer import write_tflite
from microlith.toolchain.host import find_cc
from microlith.verify import run
from microlith.verify.tflm import run_tflm

MATRIX_OPS = ("conv2d", "depthwise_conv2d", "fully_connected", "transpose_conv")
ACTIVATIONS = ("none", "relu", "relu6", "relu_n1_to_1")
KERNELS = Path(__file__).resolve().parents[1] / "src" / "microlith" / "kernels"
MY_KERNELS = sorted(p for p in KERNELS.glob("ml_*.c") if p.stem.startswith(
    ("ml_conv", "ml_depthwise", "ml_fully_connected", "ml_transpose_conv", "ml_fc_")))



# -- random single-op quantized graphs ---------------------------------------------
def _q(scale, zero_point=0, axis=None) -> QuantParams:
    scale = np.atleast_1d(np.asarray(scale, np.float32))
    zp = np.broadcast_to(np.asarray(zero_point, np.int64), scale.shape)
    return QuantParams(scale, zp, axis if scale.size > 1 else None)


def _conv_attrs(rng, h, w, kh, kw, activation) -> Conv2DAttrs:
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dil = (1, 1) if rng.random() < 0.6 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    fits = (kh - 1) * dil[0] + 1 <= h and (kw - 1) * dil[1] + 1 <= w
    if fits and rng.random() < 0.5:
        return Conv2DAttrs(stride, dil, (0, 0, 0, 0), activation)  # VALID
    pads = same_padding(h, kh, stride[0], dil[0]) + same_padding(w, kw, stride[1], dil[1])
    return Conv2DAttrs(stride, dil, pads, activation)  # SAME


def _transpose_attrs(rng, h, w, kh, kw, activation) -> TransposeConvAttrs:
    """Output size as TensorFlow gives it for SAME/VALID, pads as TFLM (and
    microlith's importer) derive them from that output size."""
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    same = rng.random() < 0.5
    pads, extra = [], []
    for size_in, k, s in ((h, kh, stride[0]), (w, kw, stride[1])):
        size_out = size_in * s if same else (size_in - 1) * s + max(k, s)
        steps = (size_out + s - 1) // s if same else (size_out + s - k) // s
        before = max((steps - 1) * s + k - size_out, 0) // 2
        after = (size_in - 1) * s + k - before - size_out
        pads += [before, max(after, 0)]
        extra.append(max(-after, 0))
    return TransposeConvAttrs(stride, tuple(pads), tuple(extra), activation)


def make_case(rng, op: str, dtype: str, *, per_channel: bool = True, bias: str | None = "auto",
              activation: str | None = None) -> tuple[Graph, list[np.ndarray]]:
    """One quantized single-op graph (tensors x, w, b, y) with one input sample.

    Scales are chosen from a float run of the same op so the output uses its
    range and the fused activation actually clamps; bias values are large
    enough to matter. ``bias``: "auto" (the usual type), None, or a dtype name.
    """
    idt = np.dtype(dtype)
    act = activation or ACTIVATIONS[rng.integers(len(ACTIVATIONS))]
    n = int(rng.integers(1, 3))
    h, w_, c = int(rng.integers(2, 11)), int(rng.integers(2, 11)), int(rng.integers(1, 9))
    if op == "fully_connected":
        n_in, cout = int(rng.integers(1, 48)), int(rng.integers(1, 20))
        keep = rng.random() < 0.3
        x_shape = (n, int(rng.integers(1, 4)), n_in) if keep or rng.random() < 0.2 else (n, n_in)
        w_shape, axis = (cout, n_in), 0
        attrs = FullyConnectedAttrs(act, keep_num_dims=keep)
    elif op == "conv2d":
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        groups = 2 if c % 2 == 0 and rng.random() < 0.2 else 1
        cout = int(rng.integers(1, 7)) * groups
        x_shape, w_shape, axis = (n, h, w_, c), (cout, kh, kw, c // groups), 0
        attrs = _conv_attrs(rng, h, w_, kh, kw, act)
    elif op == "depthwise_conv2d":
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        cout = c * int(rng.integers(1, 4))
        x_shape, w_shape, axis = (n, h, w_, c), (1, kh, kw, cout), 3
        attrs = _conv_attrs(rng, h, w_, kh, kw, act)
    else:
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        cout = int(rng.integers(1, 6))
        x_shape, w_shape, axis = (n, h, w_, c), (cout, kh, kw, c), 0
        attrs = _transpose_attrs(rng, h, w_, kh, kw, act)

    size = cout if per_channel else 1
    w_scales = (10 ** rng.uniform(-3, -1, size=size)).astype(np.float32)
    wq = rng.integers(-127, 128, size=w_shape).astype(np.int8)
    info = np.iinfo(idt)
    x = rng.integers(info.min, info.max + 1, size=x_shape).astype(idt)
    if idt == np.int16:  # int16 activations rarely use their whole range
        x = (x // int(rng.integers(1, 32))).astype(idt)
    in_zp = int(rng.integers(-60, 61)) if idt == np.int8 else 0
    if bias == "auto":
        bias = None if rng.random() < 0.15 else ("int32" if idt == np.int8 else "int64")

    g = Graph(f"{op}_{dtype}")
    xt = g.add_tensor(Tensor("x", x_shape, DType(dtype), _q(1.0, in_zp)))
    wt = g.add_tensor(Tensor("w", w_shape, DType.INT8, _q(w_scales, 0, axis), data=wq))
    bt = None
    if bias:
        taps = np.prod(w_shape[1:]) if op != "depthwise_conv2d" else kh * kw
        mag = int((128 if idt == np.int8 else 1024) * 127 * np.sqrt(taps))
        bv = rng.integers(-mag, mag + 1, size=cout).astype(bias)
        bt = g.add_tensor(Tensor("b", (cout,), DType(bias), None, data=bv))
    spec = get(op).infer([xt, wt, bt], attrs)[0]

    # Outputs are linear in the input scale (the bias scale follows it): pick
    # the input scale that puts the float outputs where the activation clamps.
    w_bcast = [1] * len(w_shape)
    w_bcast[axis] = -1
    wf = wq * np.broadcast_to(w_scales, (cout,)).reshape(w_bcast).astype(np.float64)
    bf = None if bt is None else bt.data * np.broadcast_to(w_scales, (cout,)).astype(np.float64)
    plain = (FullyConnectedAttrs("none", attrs.keep_num_dims) if op == "fully_connected"
             else type(attrs)(**{**attrs.__dict__, "activation": "none"}))
    xf = (x.astype(np.float64) - in_zp).astype(np.float32)
    yf = get(op).reference([xf, wf.astype(np.float32),
                            None if bf is None else bf.astype(np.float32)], plain)[0]
    target = {"relu6": 12.0, "relu_n1_to_1": 2.0}.get(act, 10 ** rng.uniform(-1, 1))
    in_scale = np.float32(target / max(float(np.abs(yf).max()), 1e-6))
    xt.quant = _q(in_scale, in_zp)
    if bt is not None:
        bt.quant = _q((in_scale * np.broadcast_to(w_scales, (cout,))).astype(np.float32), 0, 0)
    yf = yf.astype(np.float64) * float(in_scale)
    lo, hi = float(yf.min()), float(yf.max())
    if idt == np.int8:
        out_scale = np.float32(max(hi - lo, 1e-3) * rng.uniform(0.6, 1.3) / 255)
        out_zp = int(np.clip(round(-128 - lo / float(out_scale)), -128, 127))
    else:
        out_scale = np.float32(max(abs(lo), abs(hi), 1e-3) * rng.uniform(0.6, 1.3) / 32767)
        out_zp = 0
    g.add_tensor(Tensor("y", spec.shape, DType(dtype), _q(out_scale, out_zp)))
    g.add_node(Node("op", op, ("x", "w", "b" if bt is not None else ""), ("y",), attrs))
    g.inputs, g.outputs = ["x"], ["y"]
    return g, [x]


def make_float_case(rng, op: str) -> tuple[Graph, list[np.ndarray]]:
    """The float32 twin of a random case (same shapes and attributes)."""
    g, _ = make_case(rng, op, "int8")
    f = Graph(g.name.replace("int8", "float32"))
    for t in g.tensors.values():
        data = None
        if t.data is not None:
            data = rng.standard_normal(t.shape).astype(np.float32)
        f.add_tensor(Tensor(t.name, t.shape, DType.FLOAT32, None, data=data))
    f.nodes, f.inputs, f.outputs = list(g.nodes), ["x"], ["y"]
    return f, [rng.standard_normal(f.tensor("x").shape).astype(np.float32)]


def merge(cases: list[tuple[Graph, list[np.ndarray]]], name: str
          ) -> tuple[Graph, list[np.ndarray]]:
    """Independent graphs side by side in one graph (tensor names prefixed),
    so one TFLM run and one C build cover them all."""
    g = Graph(name)
    sample: list[np.ndarray] = []
    for i, (sub, inputs) in enumerate(cases):
        rename = {n: f"c{i}_{n}" for n in sub.tensors}
        for t in sub.tensors.values():
            g.add_tensor(Tensor(rename[t.name], t.shape, t.dtype, t.quant, data=t.data))
        for node in sub.nodes:
            g.add_node(Node(f"c{i}_{node.name}", node.op,
                            tuple(rename[n] if n else "" for n in node.inputs),
                            tuple(rename[n] for n in node.outputs), node.attrs))
        g.inputs += [rename[n] for n in sub.inputs]
        g.outputs += [rename[n] for n in sub.outputs]
        sample += inputs
    return g, sample


def _configs():
    """(op, dtype, options) of the random cases: every op in both integer
    types, per-channel and per-tensor weights, every bias type TFLM accepts,
    every fused activation."""
    out = []
    for op, dtype in itertools.product(MATRIX_OPS, ("int8", "int16")):
        biases = {"int8": ["int32"],
                  "int16": {"conv2d": ["int32", "int64"], "fully_connected": ["int32", "int64"],
                            "depthwise_conv2d": ["int64"],
                            "transpose_conv": ["int64", "int16"]}[op]}[dtype]
        # TFLM crashes on a depthwise node whose absent bias is index -1 (what
        # write_tflite emits), so depthwise cases always carry a bias here; the
        # C tests below cover depthwise without bias.
        if op != "depthwise_conv2d":
            biases = biases + [None]
        for i in range(12):
            out.append((op, dtype, {"per_channel": i % 3 != 2, "bias": biases[i % len(biases)],
                                    "activation": ACTIVATIONS[i % len(ACTIVATIONS)]}))
    return out


@pytest.fixture(scope="module")
def int_cases():
    rng = np.random.default_rng(20240607)
    return [(cfg, *make_case(rng, cfg[0], cfg[1], **cfg[2])) for cfg in _configs()]


def _mismatch_report(label, got, expected) -> str | None:
    got = np.asarray(got)
    expected = np.asarray(expected).reshape(got.shape)
    bad = got.astype(np.int64) != expected.astype(np.int64)
    if not bad.any():
        return None
    diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
    return f"{label}: {int(bad.sum())}/{bad.size} values differ (max by {int(diff.max())})"


# -- reference vs TFLM: random single-op models ----------------------------------------
def test_reference_equals_tflm_on_random_single_op_models(int_cases):
    merged, sample = merge([(g, s) for _, g, s in int_cases], "random_matrix_ops")
    tflm = run_tflm(write_tflite(merged), [sample]).outputs[0]
    ours = run(merged, dict(zip(merged.inputs, sample, strict=True)))
    problems = []
    for i, ((op, dtype, opts), g, _) in enumerate(int_cases):
        report = _mismatch_report(f"case {i} {op} {dtype} {opts} {g.nodes[0].attrs}",
                                  ours[merged.outputs[i]], tflm[i])
        if report:
            problems.append(report)
    assert not problems, "\n".join(problems)
    # The suite is meaningful only if outputs vary: not all clamped to one value.
    varied = sum(len(np.unique(ours[name])) > 2 for name in merged.outputs)
    assert len(int_cases) >= 90 and varied >= 0.8 * len(int_cases)


# -- reference vs TFLM: real models, layer by layer -------------------------------------
REAL_MODELS = ("mlcommons_tiny/kws_ref_model.tflite", "mlcommons_tiny/vww_96_int8.tflite",
               "mlcommons_tiny/ad01_int8.tflite", "mlcommons_tiny/pretrainedResnet_quant.tflite",
               "tflite_micro/hello_world_int8.tflite", "tflite_micro/person_detect.tflite",
               "tflite_micro/micro_speech_quantized.tflite",
               "tflite_micro/seanet_int16/conv0.tflite",
               "tflite_micro/seanet_int16/conv15.tflite",
               "tflite_micro/seanet_int16/transpose_conv4.tflite")


def _tensor_names(data: bytes) -> list[str]:
    """The main subgraph's tensor names by TFLite tensor index."""
    sg = Buffer(data).root().tables(SModel.subgraphs)[0]
    return [t.string(STensor.name) or f"tensor_{i}"
            for i, t in enumerate(sg.tables(SSubGraph.tensors))]


@pytest.fixture(scope="module")
def real_layers():
    """Every matrix-op node of the real models with the input TFLM fed it and
    the output TFLM computed: [(model, graph, node, inputs, tflm_output)]."""
    rng = np.random.default_rng(7)
    layers = []
    for rel in REAL_MODELS:
        path = model(rel)
        data = path.read_bytes()
        g = load_tflite(data, str(path))
        sample = []
        for name in g.inputs:
            t = g.tensor(name)
            info = np.iinfo(t.dtype.numpy)
            sample.append(rng.integers(info.min, info.max + 1, size=t.shape)
                          .astype(t.dtype.numpy))
        kept = run_tflm(data, [sample], keep_tensors=True).tensors[0]
        names = _tensor_names(data)
        by_name = {n: kept[i] for i, n in enumerate(names)
                   if i in kept and names.count(n) == 1}
        for node in g.nodes:
            if node.op not in MATRIX_OPS:
                continue
            inputs = []
            for t in g.input_tensors(node):
                if t is None:
                    inputs.append(None)
                elif t.data is not None:
                    inputs.append(np.asarray(t.data))
                else:
                    inputs.append(np.asarray(by_name[t.name]).reshape(t.shape)
                                  .astype(t.dtype.numpy))
            out = g.output_tensors(node)[0]
            layers.append((path.name, g, node, inputs,
                           np.asarray(by_name[out.name]).reshape(out.shape)))
    return layers


def test_reference_equals_tflm_layer_by_layer_on_real_models(real_layers):
    problems, slowest, per_op = [], 0.0, {}
    for name, g, node, inputs, expected in real_layers:
        ctx = RefContext(g.input_tensors(node), g.output_tensors(node))
        t0 = time.perf_counter()
        got = get(node.op).reference(inputs, node.attrs, ctx)[0]
        slowest = max(slowest, time.perf_counter() - t0)
        key = (node.op, g.input_tensors(node)[0].dtype.value)
        per_op[key] = per_op.get(key, 0) + 1
        report = _mismatch_report(f"{name} {node.op} {node.name}", got, expected)
        if report:
            problems.append(report)
    assert not problems, "\n".join(problems)
    # 10 kws + 28 vww + 10 ad01 + 10 resnet + 3 hello + 28 person + 2 speech + 3 seanet
    assert len(real_layers) == 94, per_op
    assert {op for op, _ in per_op} == set(MATRIX_OPS)
    assert slowest < 1.0, f"slowest layer reference took {slowest:.2f} s"


def _csv(path: Path, dtype) -> np.ndarray:
    return np.array([int(v) for v in path.read_text().replace("\n", ",").split(",")
                     if v.strip()], dtype=dtype)


@pytest.mark.parametrize("name", ["conv0", "conv15", "transpose_conv4"])
def test_reference_equals_upstream_golden_outputs_int16(name):
    """TFLM's own SEANet integration tests: upstream input and golden output."""
    folder = "tflite_micro/seanet_int16"
    g = load_tflite(model(f"{folder}/{name}.tflite").read_bytes())
    feeds = {}
    for i, x_name in enumerate(g.inputs):  # transpose_conv4: [output shape, data]
        t = g.tensor(x_name)
        feeds[x_name] = _csv(model(f"{folder}/{name}_input{i}_{t.dtype.value}.csv"),
                             t.dtype.numpy).reshape(t.shape)
    golden = _csv(model(f"{folder}/{name}_golden_int16.csv"), np.int16)
    (y,) = run(g, feeds).values()
    assert np.array_equal(y.reshape(-1), golden)


# -- C kernels vs the references ----------------------------------------------------------
def _no_bias_depthwise_cases(rng):
    return [make_case(rng, "depthwise_conv2d", dtype, bias=None) for dtype in ("int8", "int16")
            for _ in range(3)]


@pytest.fixture(scope="module")
def c_int_graph(int_cases):
    rng = np.random.default_rng(99)
    return merge([(g, s) for _, g, s in int_cases] + _no_bias_depthwise_cases(rng), "c_int")


def test_int_kernels_equal_reference(c_int_graph):
    g, sample = c_int_graph
    (outs,) = run_graph_c(g, [sample])
    ref = run(g, dict(zip(g.inputs, sample, strict=True)))
    problems = [r for name, got in zip(g.outputs, outs, strict=True)
                if (r := _mismatch_report(name, got, ref[name]))]
    assert not problems, "\n".join(problems)


def test_int_kernels_equal_tflm_on_real_layers(real_layers):
    """The C kernels on every real-model layer, fed TFLM's own intermediate
    tensors: equal to TFLM's outputs."""
    cases = []
    for _, g, node, inputs, _ in real_layers:
        sub = Graph(node.name)
        ins = g.input_tensors(node)
        for t in ins + g.output_tensors(node):
            if t is not None and t.name not in sub.tensors:
                sub.add_tensor(t)
        sub.add_node(node)
        sub.inputs = [t.name for t in ins if t is not None and t.data is None]
        sub.outputs = list(node.outputs)
        cases.append((sub, [a for a, t in zip(inputs, ins, strict=True)
                            if t is not None and t.data is None]))
    g, sample = merge(cases, "real_layers")
    t0 = time.perf_counter()
    (outs,) = run_graph_c(g, [sample])
    elapsed = time.perf_counter() - t0
    problems = [r for i, got in enumerate(outs)
                if (r := _mismatch_report(real_layers[i][2].name, got, real_layers[i][4]))]
    assert not problems, "\n".join(problems)
    assert elapsed < 30


def test_float_kernels_match_reference():
    rng = np.random.default_rng(5)
    cases = [make_float_case(rng, op) for op in MATRIX_OPS for _ in range(6)]
    g, sample = merge(cases, "c_float")
    (outs,) = run_graph_c(g, [sample])
    ref = run(g, dict(zip(g.inputs, sample, strict=True)))
    for name, got in zip(g.outputs, outs, strict=True):
        np.testing.assert_allclose(got, ref[name], rtol=1e-4, atol=1e-4, err_msg=name)


def test_kernels_are_clean_under_address_and_undefined_sanitizers(c_int_graph, tmp_path):
    rng = np.random.default_rng(11)
    floats = [make_float_case(rng, op) for op in MATRIX_OPS for _ in range(2)]
    g, sample = merge([c_int_graph] + floats, "sanitized")
    project = generate(g, tmp_path / "project", prefix="san")
    exe = build_harness(project, tmp_path / "harness", sanitize=True, opt="-O1")
    (outs,) = run_harness(g, exe, [sample])
    ref = run(g, dict(zip(g.inputs, sample, strict=True)))
    for name, got in zip(g.outputs, outs, strict=True):
        if got.dtype == np.float32:
            np.testing.assert_allclose(got, ref[name], rtol=1e-4, atol=1e-4, err_msg=name)
        else:
            assert _mismatch_report(name, got, ref[name]) is None


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_kernels_compile_warning_free(cc, tmp_path):
    assert shutil.which(cc), f"{cc} is not installed (make test installs it)"
    for src in MY_KERNELS:
        r = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wpedantic",
                            "-Wconversion", "-Wno-sign-conversion", "-O2", "-c", str(src),
                            "-o", str(tmp_path / "k.o")], capture_output=True, text=True)
        assert r.returncode == 0, f"{src.name}:\n{r.stderr}"


def test_every_kernel_file_has_its_pair():
    stems = {p.stem for p in MY_KERNELS}
    assert len(stems) == 14
    for stem in stems:
        assert (KERNELS / f"{stem}.h").is_file()


# -- lowering and refusals ------------------------------------------------------------------
def test_lowering_takes_its_constants_from_the_reference_helpers(int_cases):
    for (op, _, _), g, _ in int_cases:
        node = g.nodes[0]
        ins, outs = g.input_tensors(node), g.output_tensors(node)
        low = get(op).lower(node, ins, outs)
        if op == "fully_connected":
            q = fc_quant(ins, outs, node.attrs.activation)
        else:
            q = conv_quant(op, ins, outs, node.attrs.activation)
        if low.function == "ml_depthwise_conv2d_s8_3x3":  # one interleaved triple array
            assert "mult" not in low.consts and "shift" not in low.consts
            assert low.consts["rq"].dtype == np.int32 and low.consts["rq"].size == 3 * q.shift.size
            triples = low.consts["rq"].reshape(-1, 3)  # multiplier, -shift - 1, rounding
            mult, shift = triples[:, 0], -triples[:, 1] - 1
        else:
            mult, shift = low.consts["mult"], low.consts["shift"]
        assert np.array_equal(mult, q.multiplier)
        assert np.array_equal(shift, q.shift)
        assert mult.dtype == np.int32 and shift.dtype == np.int32
        assert (low.params["act_min"], low.params["act_max"]) == (q.act_min, q.act_max)
        if low.function == "ml_depthwise_conv2d_s8_3x3":  # = its _scratch_size() (C-checked
            # in test_dsp_depthwise): the DSP path's expanded weights
            assert low.scratch_bytes == DW3_SCRATCH_PER_CHANNEL * low.params["in_c"]
        elif op != "conv2d":
            assert low.scratch_bytes == 0


def test_scratch_bytes_equal_the_kernels_own_scratch_size(int_cases, tmp_path):
    """Lowering.scratch_bytes (what the planner reserves) against the C
    ml_conv2d_*_scratch_size() companions, on every random conv2d."""
    lows = [get(op).lower(g.nodes[0], g.input_tensors(g.nodes[0]), g.output_tensors(g.nodes[0]))
            for (op, _, _), g, _ in int_cases if op == "conv2d"]
    lines = ['#include <stdio.h>', '#include "ml_conv2d_s8.h"', '#include "ml_conv2d_s16.h"',
             "int main(void) {"]
    for i, low in enumerate(lows):
        fields = ", ".join(f".{k} = {v}" for k, v in low.params.items())
        lines.append(f"  static const ml_conv_params_t p{i} = {{ {fields} }};")
        fn = "ml_conv2d_s8" if low.function == "ml_conv2d_s8" else "ml_conv2d_s16"
        lines.append(f'  printf("%zu\\n", {fn}_scratch_size(&p{i}));')
    lines += ["  return 0;", "}"]
    (tmp_path / "main.c").write_text("\n".join(lines) + "\n")
    exe = tmp_path / "sizes"
    subprocess.run([find_cc(), "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{KERNELS}",
                    str(tmp_path / "main.c"), str(KERNELS / "ml_conv2d_s8.c"),
                    str(KERNELS / "ml_conv2d_s16.c"), "-o", str(exe)], check=True)
    sizes = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True,
                                            check=True).stdout.split()]
    assert sizes == [low.scratch_bytes for low in lows]
    assert any(sizes) and not all(sizes)


def test_16x8_bias_type_picks_the_accumulator():
    rng = np.random.default_rng(3)
    names = {}
    for op, bias in (("conv2d", "int32"), ("conv2d", "int64"), ("conv2d", None),
                     ("fully_connected", "int32"), ("fully_connected", None),
                     ("transpose_conv", "int16"), ("depthwise_conv2d", "int64")):
        g, _ = make_case(rng, op, "int16", bias=bias)
        node = g.nodes[0]
        names[(op, bias)] = get(op).lower(node, g.input_tensors(node), g.output_tensors(node))
    assert names[("conv2d", "int32")].function == "ml_conv2d_s16_acc32"
    assert names[("conv2d", "int64")].function == "ml_conv2d_s16"
    assert names[("conv2d", None)].function == "ml_conv2d_s16"
    assert names[("fully_connected", "int32")].function == "ml_fully_connected_s16_acc32"
    assert names[("fully_connected", None)].function == "ml_fully_connected_s16"
    legacy = names[("transpose_conv", "int16")]
    assert legacy.consts["bias"].dtype == np.int64 and "{const:bias}" in legacy.args


@pytest.mark.parametrize("op", ["depthwise_conv2d", "transpose_conv"])
def test_int32_bias_that_tflm_would_misread_is_refused(op):
    g, sample = make_case(np.random.default_rng(1), op, "int16", bias="int32")
    node = g.nodes[0]
    with pytest.raises(OpError, match="bias"):
        run(g, {"x": sample[0]})
    with pytest.raises(OpError, match="bias"):
        get(op).lower(node, g.input_tensors(node), g.output_tensors(node))


def test_integer_reference_needs_quantization_parameters():
    g, sample = make_case(np.random.default_rng(2), "conv2d", "int8")
    w = g.tensor("w").data
    with pytest.raises(NotImplementedError, match="quantization parameters"):
        get("conv2d").reference([sample[0], w, None], g.nodes[0].attrs)


def test_float_tanh_has_no_kernel():
    g, _ = make_float_case(np.random.default_rng(4), "fully_connected")
    node = g.nodes[0]
    node.attrs = FullyConnectedAttrs("tanh", node.attrs.keep_num_dims)
    with pytest.raises(NotImplementedError, match="tanh"):
        get(node.op).lower(node, g.input_tensors(node), g.output_tensors(node))
