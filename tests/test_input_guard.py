"""Input guards (generate(..., input_guard=True), `microlith compile --input-guard`):
the generated invoke rejects NaN, +-Inf and out-of-range float inputs with
defined codes and does not run the model; without the option the generated
project is byte-for-byte what it was."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from shared_models import model

import microlith
from microlith.codegen import generate
from microlith.codegen.host import CModel, build_harness
from microlith.errors import MicrolithError
from microlith.ir import DType, Graph, Node, QuantParams, Tensor
from microlith.ops.elementwise import QuantizeAttrs
from microlith.toolchain.host import WARNINGS, build_shared_library
from microlith.verify.reference import run as _run

HELLO_F = "tflite_micro/hello_world_float.tflite"
HELLO_I8 = "tflite_micro/hello_world_int8.tflite"
OK, NAN, INF, RANGE = 0, -2, -3, -4
SCALE, ZP = 0.05, -10  # the QUANTIZE at the synthetic model's input


def reference_run(graph, inputs):
    out = _run(graph, dict(zip(graph.inputs, inputs, strict=True)))
    return [out[n] for n in graph.outputs]


def _quantize_graph() -> Graph:
    """An int8 model with a float interface: x float32[1,8] -> QUANTIZE int8 ->
    DEQUANTIZE -> y float32 (what the TFLite converter makes with float I/O)."""
    g = Graph("quantize_at_input")
    g.add_tensor(Tensor("x", (1, 8), DType.FLOAT32))
    g.add_tensor(Tensor("q", (1, 8), DType.INT8, QuantParams([SCALE], [ZP])))
    g.add_tensor(Tensor("y", (1, 8), DType.FLOAT32))
    g.add_node(Node("quant", "quantize", ("x",), ("q",), QuantizeAttrs(DType.INT8)))
    g.add_node(Node("dequant", "dequantize", ("q",), ("y",)))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def _load(graph, path, **options) -> CModel:
    """Generate and build with the debug hook: the trace shows which nodes ran."""
    project = generate(graph, path / "project", **options)
    lib = path / "libmodel.so"
    build_shared_library(project.path, lib, extra=("-DMODEL_DEBUG",))
    return CModel(graph, project, lib, debug=True)


def _invoke(m: CModel, x: np.ndarray) -> tuple[int, int]:
    """(return code, number of nodes that ran)."""
    m.set_inputs([x])
    m.trace.append({})
    rc = m._invoke()
    return rc, len(m.trace[-1])


@pytest.fixture(scope="module")
def hello_float():
    return microlith.api.prepare(model(HELLO_F))


def test_hello_float_with_a_range(tmp_path, hello_float):
    m = _load(hello_float, tmp_path, input_guard=True, input_range=(0.0, 6.25))
    plain = _load(hello_float, tmp_path / "plain")
    nodes = len(hello_float.nodes)
    for value, code in [(np.nan, NAN), (np.inf, INF), (-np.inf, INF), (6.5, RANGE),
                        (-0.01, RANGE), (np.float32(6.25) + np.float32(1e-6), RANGE)]:
        rc, ran = _invoke(m, np.full((1, 1), value, np.float32))
        assert (rc, ran) == (code, 0), value
    for value in (0.0, 1.5, 3.14159, 6.25):
        x = np.full((1, 1), value, np.float32)
        rc, ran = _invoke(m, x)
        assert (rc, ran) == (OK, nodes)
        got = m.get_outputs()[0]
        assert got.tobytes() == plain.invoke([x])[0].tobytes()
        np.testing.assert_allclose(got, reference_run(hello_float, [x])[0], atol=1e-5)
    assert m.lib.model_check_inputs() == OK  # the last input is in range
    header = (m.project.path / "model.h").read_text()
    for name in ("MODEL_ERR_INPUT_NAN (-2)", "MODEL_ERR_INPUT_INF (-3)",
                 "MODEL_ERR_INPUT_RANGE (-4)", "MODEL_INPUT0_MIN 0.0f",
                 "MODEL_INPUT0_MAX 6.25f", "int model_check_inputs(void);"):
        assert name in header
    meta = json.loads((m.project.path / "model.json").read_text())
    assert meta["input_guard"] == [{"input": 0, "name": hello_float.inputs[0], "min": 0.0,
                                    "max": 6.25, "range_source": "option"}]


def test_without_a_range_only_nan_and_inf(tmp_path, hello_float):
    m = _load(hello_float, tmp_path, input_guard=True)
    assert _invoke(m, np.full((1, 1), np.nan, np.float32))[0] == NAN
    assert _invoke(m, np.full((1, 1), -np.inf, np.float32))[0] == INF
    for big in (3.4e38, -3.4e38, 1e-45):
        assert _invoke(m, np.full((1, 1), big, np.float32)) == (OK, len(hello_float.nodes))
    assert "no range known" in (m.project.path / "model.h").read_text()


def test_quantize_at_the_input_gives_the_range(tmp_path):
    g = _quantize_graph()
    m = _load(g, tmp_path, input_guard=True)
    lo, hi = np.float32(SCALE * (-128 - ZP)), np.float32(SCALE * (127 - ZP))
    meta = json.loads((m.project.path / "model.json").read_text())["input_guard"][0]
    assert (meta["min"], meta["max"], meta["range_source"]) == (float(lo), float(hi),
                                                                 "quantize")
    x = np.linspace(lo, hi, 8, dtype=np.float32).reshape(1, 8)
    assert _invoke(m, x) == (OK, 2)
    assert m.get_outputs()[0].tobytes() == reference_run(g, [x])[0].tobytes()
    below = x.copy()
    below[0, 3] = np.nextafter(lo, np.float32(-np.inf))
    assert _invoke(m, below) == (RANGE, 0)
    above = x.copy()
    above[0, 7] = np.nextafter(hi, np.float32(np.inf))
    assert _invoke(m, above) == (RANGE, 0)
    # Every offending element counts, not only the first: NaN beats Inf beats range.
    mixed = below.copy()
    mixed[0, 6] = np.inf
    assert _invoke(m, mixed) == (INF, 0)
    mixed[0, 5] = np.nan
    assert _invoke(m, mixed) == (NAN, 0)
    # A recorded calibration range wins over the quantization range; an option
    # over both.
    g.meta["input_ranges"] = {"x": (-1.0, 1.0)}
    cal = generate(g, tmp_path / "cal", input_guard=True).meta["input_guard"][0]
    assert (cal["min"], cal["max"], cal["range_source"]) == (-1.0, 1.0, "calibration")
    opt = generate(g, tmp_path / "opt", input_guard=True,
                   input_range={"x": (-2, 2)}).meta["input_guard"][0]
    assert (opt["min"], opt["max"], opt["range_source"]) == (-2.0, 2.0, "option")


def _tree(path):
    return {p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_default_output_is_unchanged(tmp_path, hello_float):
    for g in (hello_float, microlith.api.prepare(model(HELLO_I8)), _quantize_graph()):
        generate(g, tmp_path / "a")
        generate(g, tmp_path / "b", input_guard=False, input_range=None)
        generate(g, tmp_path / "c", input_guard=g.tensor(g.inputs[0]).dtype == DType.FLOAT32)
        a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
        assert a == b
        assert "check_inputs" not in a["model.c"].decode() + a["model.h"].decode()
        assert "input_guard" not in json.loads(a["model.json"])
        # The guard touches only model.h, model.c and model.json.
        changed = {k for k in a if a[k] != c.get(k)}
        if g.tensor(g.inputs[0]).dtype == DType.FLOAT32:
            assert changed == {"model.h", "model.c", "model.json"}
        else:
            assert changed == set()
        for d in "abc":
            shutil.rmtree(tmp_path / d)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_strict_warnings(tmp_path, cc, hello_float):
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is not installed")
    for i, (g, rng) in enumerate([(hello_float, (0, 6.25)), (hello_float, None),
                                  (_quantize_graph(), None)]):
        project = generate(g, tmp_path / f"p{i}", input_guard=True, input_range=rng)
        sources = [str(p) for p in project.path.rglob("*.c")]
        r = subprocess.run([cc, "-O2", *WARNINGS, "-pedantic", "-Wshadow", "-Wconversion",
                            "-c", *[s for s in sources if s.endswith("model.c")],
                            f"-I{project.path}", f"-I{project.path / 'kernels'}"],
                           cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([cc, "-O2", *WARNINGS, "-pedantic", "-c", *sources,
                            f"-I{project.path}", f"-I{project.path / 'kernels'}"],
                           cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_sanitizers(tmp_path):
    """ASan/UBSan harness: good inputs run; a NaN makes invoke fail (the
    harness exits 4) with no sanitizer report."""
    g = _quantize_graph()
    project = generate(g, tmp_path / "p", input_guard=True)
    exe = build_harness(project, tmp_path / "harness", sanitize=True)
    rng = np.random.default_rng(0)
    good = [rng.uniform(-5.9, 6.8, (1, 8)).astype(np.float32) for _ in range(20)]
    for k, xs in enumerate([good, good[:3] + [np.full((1, 8), np.nan, np.float32)]]):
        (tmp_path / "in.bin").write_bytes(b"".join(x.tobytes() for x in xs))
        r = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"),
                            str(len(xs))], capture_output=True, text=True, timeout=60)
        assert r.returncode == (0 if k == 0 else 4), r.stderr
        assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
        out = np.frombuffer((tmp_path / "out.bin").read_bytes(), np.float32).reshape(-1, 1, 8)
        want = [reference_run(g, [x])[0] for x in xs[:len(out)]]
        assert len(out) == (20 if k == 0 else 3)
        assert out.tobytes() == b"".join(w.tobytes() for w in want)


def test_errors(tmp_path, hello_float):
    with pytest.raises(MicrolithError, match="has none"):
        generate(microlith.api.prepare(model(HELLO_I8)), tmp_path / "a", input_guard=True)
    with pytest.raises(MicrolithError, match="only used by the input guard"):
        generate(hello_float, tmp_path / "b", input_range=(0, 1))
    for bad in [(1, 0), (0, float("nan")), (0, 1e39), ("a", 1), (1,)]:
        with pytest.raises(MicrolithError, match="input range"):
            generate(hello_float, tmp_path / "c", input_guard=True, input_range=bad)
    with pytest.raises(MicrolithError, match="not a float input"):
        generate(hello_float, tmp_path / "d", input_guard=True, input_range={"nope": (0, 1)})


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "microlith", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli(tmp_path):
    out = tmp_path / "o"
    r = _cli("compile", str(model(HELLO_F)), "-o", str(out), "--input-guard",
             "--input-range", "-1.5:6.5", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["input_guard"][0]["min"] == -1.5
    assert "MODEL_INPUT0_MAX 6.5f" in (out / "model.h").read_text()
    r = _cli("compile", str(model(HELLO_F)), "-o", str(tmp_path / "x"), "--input-guard",
             "--input-range", "3:1")
    assert r.returncode == 2 and "--input-range" in r.stderr, r.stderr
    r = _cli("compile", str(model(HELLO_I8)), "-o", str(tmp_path / "y"), "--input-guard")
    assert r.returncode == 1 and "has none" in r.stderr and "Traceback" not in r.stderr
