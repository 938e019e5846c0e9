"""microlith package: CMake/Make, Arduino, PlatformIO, Zephyr and zip packages
of a compiled project. The CMake package is built and run on the host, the
example sketch and the example main.c are built for cortex-m4f and run under
QEMU, the manifests are checked against the rules of their specifications."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from shared_models import model
from typer.testing import CliRunner

from microlith import api
from microlith.cli import app
from microlith.emulate.qemu import run_qemu
from microlith.errors import MicrolithError
from microlith.package import package
from microlith.package.project import _fit, read_project
from microlith.toolchain.arm import CORES, ArmBuild, find_arm_gcc, firmware_dir
from microlith.verify.reference import run as reference_run

HELLO = "tflite_micro/hello_world_int8.tflite"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (the package tests need it: apt-get install {name})"
    return path


def _run(cmd, cwd=None, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, **kw)
    return r


def _tiny_onnx(path: Path) -> Path:
    """A float model with a 4-D NCHW input and ten outputs: conv, relu, pool,
    dense, softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array((rng.standard_normal((4, 2, 3, 3)) * 0.5)
                                     .astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b1"),
             numpy_helper.from_array((rng.standard_normal((10, 16)) * 0.3)
                                     .astype(np.float32), "w2"),
             numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "b2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 2, 4, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 10])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("package")


@pytest.fixture(scope="module")
def hello(work) -> Path:
    api.compile(model(HELLO), work / "hello", prefix="sine")
    return work / "hello"


@pytest.fixture(scope="module")
def tiny(work) -> Path:
    api.compile(_tiny_onnx(work / "tiny.onnx"), work / "tiny", prefix="tiny")
    return work / "tiny"


def _printed_values(stdout: str) -> list[list[float]]:
    """The values the example prints under each 'output i ...:' line."""
    lines = stdout.splitlines()
    values = []
    for i, line in enumerate(lines):
        if re.match(r"^output \d+ ", line):
            values.append([float(v) for v in lines[i + 1].split()])
    return values


# -- the arithmetic of the sample input ------------------------------------------
def test_sample_quantization_rounds_half_away_from_zero_and_saturates():
    d = {"name": "x", "shape": [1, 6], "dtype": "int8",
         "quant": {"scale": 0.5, "zero_point": -3}}
    a = np.array([[0.25, -0.25, 0.75, -0.75, 100.0, -100.0]], np.float32)
    q, note = _fit(d, a)
    # 0.5 -> 1, -0.5 -> -1, 1.5 -> 2, -1.5 -> -2, then + zero point, then int8 range.
    assert q.dtype == np.int8
    assert q.tolist() == [[-2, -4, -1, -5, 127, -128]]
    assert "quantized" in note


def test_sample_shapes_nchw_and_sample_axis():
    d = {"name": "x", "shape": [1, 4, 5, 2], "dtype": "float32",
         "layout": "NHWC (ONNX NCHW transposed)"}
    nchw = np.arange(40, dtype=np.float32).reshape(1, 2, 4, 5)
    q, _ = _fit(d, nchw)
    assert q.shape == (1, 4, 5, 2) and q[0, 1, 2, 1] == nchw[0, 1, 1, 2]
    batch = np.stack([nchw[0], nchw[0] + 1])  # [2, 2, 4, 5]: two samples, first taken
    q2, note = _fit(d, batch)
    assert np.array_equal(q2, q) and "first of 2" in note
    with pytest.raises(MicrolithError, match="needs"):
        _fit(d, np.zeros((3, 3), np.float32))
    with pytest.raises(MicrolithError, match="range"):
        _fit({"name": "x", "shape": [2], "dtype": "int8"}, np.array([0, 300]))


# -- cmake: built and run on the host ---------------------------------------------
def test_cmake_package_builds_and_runs_on_host(hello, work):
    cmake = _tool("cmake")
    out = work / "cmake-sine"
    result = package(hello, "cmake", out)
    build = work / "cmake-sine-build"
    r = _run([cmake, "-S", str(out), "-B", str(build),
              "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror -pedantic"])
    assert r.returncode == 0, r.stderr
    r = _run([cmake, "--build", str(build)])
    assert r.returncode == 0, r.stdout + r.stderr
    r = _run([str(build / "sine_example")])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result: PASS" in r.stdout and "bit for bit" in r.stdout
    # The printed output is what the numpy reference (bit-exact with TFLM)
    # computes for the same seeded input.
    graph = api.prepare(model(HELLO))
    x = np.random.default_rng(0).integers(-128, 128, (1, 1), dtype=np.int8)
    want = reference_run(graph, {graph.inputs[0]: x})[graph.outputs[0]]
    assert _printed_values(r.stdout) == [[float(v) for v in want.reshape(-1)]]
    assert result.expected == [want.reshape(-1).tolist()]
    assert "measured" in json.dumps(result.to_dict())


def test_cmake_package_with_sample_file_and_float_model(tiny, work):
    cmake = _tool("cmake")
    x = np.random.default_rng(3).uniform(-1, 1, (1, 2, 4, 4)).astype(np.float32)  # NCHW
    np.save(work / "x.npy", x)
    out = work / "cmake-tiny"
    package(tiny, "cmake", out, sample=work / "x.npy")
    build = work / "cmake-tiny-build"
    assert _run([cmake, "-S", str(out), "-B", str(build)]).returncode == 0
    assert _run([cmake, "--build", str(build)]).returncode == 0
    r = _run([str(build / "tiny_example")])
    assert r.returncode == 0 and "result: PASS" in r.stdout, r.stdout + r.stderr
    graph = api.prepare(work / "tiny.onnx")
    want = reference_run(graph, {graph.inputs[0]: x.transpose(0, 2, 3, 1)})[graph.outputs[0]]
    got = np.array(_printed_values(r.stdout)[0])
    assert got.shape == (10,) and np.allclose(got, want.reshape(-1), atol=2e-6)
    assert "argmax" in r.stdout and "x.npy" in (out / "README.md").read_text()


def test_make_package_runs_and_a_wrong_expectation_fails(hello, work):
    make = _tool("make")
    out = work / "make-sine"
    package(hello, "cmake", out)
    r = _run([make, "run", "CFLAGS=-O2 -Werror"], cwd=out)
    assert r.returncode == 0 and "result: PASS" in r.stdout, r.stdout + r.stderr
    # The check can fail: change the stored expectation, rebuild, exit code 1.
    ex = out / "example" / "sine_example.c"
    text = ex.read_text()
    m = re.search(r"sine_ex_expected0\[1\] = \{\n  0x([0-9a-f]{2})", text)
    flipped = f"0x{int(m.group(1), 16) ^ 1:02x}"
    ex.write_text(text[:m.start(1) - 2] + flipped + text[m.end(1):])
    r = _run([make, "run", "CFLAGS=-O2 -Werror"], cwd=out)
    assert r.returncode != 0 and "result: FAIL" in r.stdout and "MISMATCH" in r.stdout


def test_package_of_a_weights_slot_project_with_input_guard(work):
    """Extra generated sources (weights slot, input guard) are packaged and
    renamed with their includes; the seeded input stays inside the guard's
    range, so the example passes."""
    make = _tool("make")
    project = work / "tiny-slot"
    api.compile(work / "tiny.onnx" if (work / "tiny.onnx").exists()
                else _tiny_onnx(work / "tiny.onnx"), project, prefix="tiny",
                weights_slot=True, input_guard=True, input_range=(-0.5, 0.5))
    out = work / "tiny-slot-pkg"
    result = package(project, "cmake", out)
    assert "weights.bin" in result.files and "guard" in result.sample
    r = _run([make, "run", "CFLAGS=-O2 -Werror"], cwd=out)
    assert r.returncode == 0 and "result: PASS" in r.stdout, r.stdout + r.stderr
    assert not any(re.search(r'#include "model', p.read_text())
                   for p in (out / "src").rglob("*.[ch]"))


# -- Cortex-M4F: the example main.c and the Arduino sketch, run under QEMU -----------
def _arm_run(work: Path, name: str, c_files: list[Path], includes: list[Path],
             cxx_files: tuple[Path, ...] = (), defines: tuple[str, ...] = ()) -> str:
    gcc = find_arm_gcc()
    gxx = _tool("arm-none-eabi-g++")
    _tool("qemu-system-arm")
    core = CORES["cortex-m4f"]
    fw = firmware_dir()
    inc = [f"-I{p}" for p in (*includes, fw)]
    common = [*core.flags, "-Os", "-ffunction-sections", "-fdata-sections", "-Wall",
              "-Wextra", "-Werror", *defines, *inc]
    objs = []
    obj_dir = work / f"{name}-obj"
    obj_dir.mkdir(exist_ok=True)
    for k, src in enumerate([*c_files, fw / "ml_startup.c", fw / "ml_semihost.c"]):
        o = obj_dir / f"{k}.o"
        r = _run([gcc, *common, "-std=c99", "-c", str(src), "-o", str(o)])
        assert r.returncode == 0, f"{src.name}:\n{r.stderr}"
        objs.append(str(o))
    for k, src in enumerate(cxx_files):
        o = obj_dir / f"cxx{k}.o"
        r = _run([gxx, *common, "-x", "c++", "-std=c++11", "-fno-exceptions", "-fno-rtti",
                  "-fno-threadsafe-statics", "-c", str(src), "-o", str(o)])
        assert r.returncode == 0, f"{src.name}:\n{r.stderr}"
        objs.append(str(o))
    elf = work / f"{name}.elf"
    board = core.board
    r = _run([gcc, *core.flags, "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
              f"-L{fw}", f"-T{board}.ld", *objs, "-o", str(elf), "-lm"])
    assert r.returncode == 0, r.stderr
    build = ArmBuild(elf, "cortex-m4f", board, "-Os", [], elf.with_suffix(".map"),
                     firmware="none")
    return run_qemu(build, timeout=60).stdout  # a non-zero exit code raises


def test_cmake_example_main_runs_on_cortex_m4f(hello, work):
    out = work / "cmake-sine-arm"
    package(hello, "cmake", out)
    srcs = sorted((out / "src").rglob("*.c")) + sorted((out / "example").glob("*.c"))
    stdout = _arm_run(work, "cmake-main", srcs, [out / "src"],
                      defines=("-DEXAMPLE_WRITE=ml_semihost_write0",))
    assert "result: PASS, the outputs equal the expected ones bit for bit" in stdout


ARDUINO_STUB_H = """#ifndef ARDUINO_STUB_H
#define ARDUINO_STUB_H
/* Test stub: only what the generated sketch uses. */
class SerialStub {
 public:
  void begin(unsigned long baud) { (void)baud; }
  void print(const char *text);
  explicit operator bool() const { return true; }
};
extern SerialStub Serial;
void setup();
void loop();
#endif
"""

ARDUINO_STUB_CPP = """#include <Arduino.h>
extern "C" void ml_semihost_write0(const char *text);
SerialStub Serial;
void SerialStub::print(const char *text) { ml_semihost_write0(text); }
int main() {
  setup();
  loop();
  return 0;
}
"""


def test_arduino_sketch_compiles_and_runs_on_cortex_m4f(hello, work):
    out = work / "arduino-sine"
    package(hello, "arduino", out)
    stub = work / "arduino-stub"
    stub.mkdir(exist_ok=True)
    (stub / "Arduino.h").write_text(ARDUINO_STUB_H)
    (stub / "stub_main.cpp").write_text(ARDUINO_STUB_CPP)
    ex = out / "examples" / "sine_inference"
    srcs = sorted((out / "src").rglob("*.c")) + sorted(ex.glob("*.c"))
    # As the Arduino builder does: src/ (recursively) and the sketch folder's
    # .c files are compiled; only src/ is on the include path.
    stdout = _arm_run(work, "sketch", srcs, [out / "src", stub],
                      cxx_files=(ex / "sine_inference.ino", stub / "stub_main.cpp"))
    assert "result: PASS" in stdout


def test_zephyr_sample_compiles_for_cortex_m4f(hello, work):
    out = work / "zephyr-sine"
    package(hello, "zephyr", out)
    stub = work / "zephyr-stub" / "zephyr" / "sys"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "printk.h").write_text("void printk(const char *fmt, ...);\n")
    gcc = find_arm_gcc()
    for src in sorted((out / "samples" / "sine_inference" / "src").glob("*.c")):
        r = _run([gcc, *CORES["cortex-m4f"].flags, "-Os", "-std=c99", "-Wall", "-Wextra",
                  "-Werror", f"-I{out / 'src'}", f"-I{work / 'zephyr-stub'}", "-c", str(src),
                  "-o", str(work / (src.stem + ".o"))])
        assert r.returncode == 0, r.stderr


# -- manifests against their specifications -------------------------------------
# Arduino library specification, 1.5 format rev. 2.2 (library.properties):
# every field required except depends/dot_a_linkage/includes/precompiled/ldflags;
# name: basic letters, digits, space, _ . -, starts with a letter or digit, has a
# letter, max 63 characters, must not start with "Arduino"; version: semver
# ("1.2.0"; "1.2" accepted; "r5", "003", "1.1c" invalid); category from a fixed
# list; architectures: comma separated, "*" for all.
ARDUINO_REQUIRED = ("name", "version", "author", "maintainer", "sentence", "paragraph",
                    "category", "url", "architectures")
ARDUINO_CATEGORIES = {"Display", "Communication", "Signal Input/Output", "Sensors",
                      "Device Control", "Timing", "Data Storage", "Data Processing", "Other"}
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)(\.(0|[1-9]\d*))?(-[0-9A-Za-z.-]+)?"
                    r"(\+[0-9A-Za-z.-]+)?$")


def arduino_problems(text: str, root: Path) -> list[str]:
    props, problems = {}, []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            problems.append(f"not key=value: {line!r}")
        props[key] = value
    problems += [f"missing {k}" for k in ARDUINO_REQUIRED if not props.get(k, "").strip()]
    name = props.get("name", "")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]*$", name) or not re.search("[A-Za-z]", name) \
            or len(name) > 63:
        problems.append(f"bad name {name!r}")
    if name.startswith("Arduino"):
        problems.append("name starts with Arduino")
    if not SEMVER.match(props.get("version", "")):
        problems.append("version not semver")
    if props.get("category") not in ARDUINO_CATEGORIES:
        problems.append(f"category {props.get('category')!r} not allowed")
    archs = [a.strip() for a in props.get("architectures", "").split(",")]
    if not archs or not all(re.match(r"^(\*|[a-z0-9_]+)$", a) for a in archs):
        problems.append("bad architectures")
    if not re.match(r"^https?://", props.get("url", "")):
        problems.append("url is not a URL")
    for inc in props.get("includes", "").split(","):
        if inc and not (root / "src" / inc.strip()).is_file():
            problems.append(f"includes names a missing header {inc}")
    return problems


def test_arduino_library_follows_the_specification(hello, work):
    out = work / "arduino-spec"
    package(hello, "arduino", out, name="sine-model", version="2.1.0",
            author="Ada <ada@example.com>", url="https://example.org/sine")
    text = (out / "library.properties").read_text(encoding="utf-8")
    assert arduino_problems(text, out) == []
    assert "name=sine-model\n" in text and "category=Data Processing\n" in text
    assert (out / "examples/sine_inference/sine_inference.ino").is_file()
    assert (out / "src" / "sine.h").is_file() and (out / "LICENSE").is_file()
    # The checker itself catches what the specification forbids.
    bad = text.replace("name=sine-model", "name=ArduinoSine").replace(
        "category=Data Processing", "category=Machine Learning")
    assert len(arduino_problems(bad, out)) == 2


# PlatformIO library.json (docs: manifests/library-json): name (required, max
# 50, letters/digits/dashes, not starting/ending with a dash, no "--"), version
# (required, max 20, semver), description (required, max 255); keywords, authors
# (name required in each), frameworks/platforms ("*" or a list), build.srcDir,
# build.includeDir, build.srcFilter ("+<...>"/"-<...>" patterns), examples.
def platformio_problems(data: dict, root: Path) -> list[str]:
    problems = []
    for key in ("name", "version", "description"):
        if not isinstance(data.get(key), str) or not data[key]:
            problems.append(f"missing {key}")
    name = data.get("name", "")
    if len(name) > 50 or not re.match(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$", name) \
            or "--" in name or re.search(r"[:;/,@<>]", name):
        problems.append(f"bad name {name!r}")
    if len(data.get("version", "")) > 20 or not SEMVER.match(data.get("version", "")):
        problems.append("version not semver")
    if len(data.get("description", "")) > 255:
        problems.append("description too long")
    kw = data.get("keywords", [])
    if not isinstance(kw, list) or any(not re.match(r"^[a-z0-9 -]+$", k) for k in kw):
        problems.append("bad keywords")
    for a in data.get("authors", []):
        if not a.get("name"):
            problems.append("author without name")
    for key in ("frameworks", "platforms"):
        v = data.get(key, "*")
        if not (v == "*" or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
            problems.append(f"bad {key}")
    build = data.get("build", {})
    for key in ("srcDir", "includeDir"):
        if key in build and not (root / build[key]).is_dir():
            problems.append(f"build.{key} is not a folder")
    for f in build.get("srcFilter", []):
        if not re.match(r"^[+-]<[^<>]+>$", f):
            problems.append(f"bad srcFilter {f!r}")
    for ex in data.get("examples", []):
        for f in ex.get("files", []):
            if not (root / ex["base"] / f).is_file():
                problems.append(f"example file {f} missing")
    for h in data.get("headers", []):
        if not (root / build.get("includeDir", "include") / h).is_file():
            problems.append(f"header {h} missing")
    return problems


def test_platformio_library_follows_the_specification(hello, work):
    out = work / "pio-sine"
    package(hello, "platformio", out)
    data = json.loads((out / "library.json").read_text())
    assert platformio_problems(data, out) == []
    assert data["name"] == "microlith-sine" and data["license"] == "Apache-2.0"
    assert "+<kernels/*.c>" in data["build"]["srcFilter"]
    assert len(platformio_problems(dict(data, name="-Bad--name", version="v1"), out)) == 2


def test_zephyr_module_files_parse(hello, work):
    out = work / "zephyr-parse"
    package(hello, "zephyr", out)
    module = yaml.safe_load((out / "zephyr" / "module.yml").read_text())
    assert module["name"] == "microlith-sine"
    assert (out / module["build"]["cmake"] / "CMakeLists.txt").is_file()
    kconfig = (out / module["build"]["kconfig"]).read_text()
    entries = re.findall(r"^config ([A-Z0-9_]+)\n\tbool \"[^\"\n]+\"\n\thelp\n((?:\t  .*\n)+)",
                         kconfig, re.M)
    assert [e[0] for e in entries] == ["MICROLITH_SINE"]
    cmake = (out / "CMakeLists.txt").read_text()
    assert "if(CONFIG_MICROLITH_SINE)" in cmake and "zephyr_library_named(" in cmake
    for src in re.findall(r"^\s+(src/\S+\.c)$", cmake, re.M):
        assert (out / src).is_file()
    conf = (out / "samples/sine_inference/prj.conf").read_text()
    assert "CONFIG_MICROLITH_SINE=y" in conf.splitlines()


# -- determinism, zip, errors, CLI ---------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_packages_are_deterministic(hello, work):
    for fmt in ("cmake", "arduino", "platformio", "zephyr"):
        a, b = work / f"det-{fmt}-a", work / f"det-{fmt}-b"
        package(hello, fmt, a)
        package(hello, fmt, b)
        package(hello, fmt, b)  # over an earlier package: replaced whole
        assert _tree(a) == _tree(b), fmt
        assert "Apache License, Version 2.0" in (a / "LICENSE").read_text()
        assert (a / "README.md").is_file()
    package(hello, "zip", work / "a.zip")
    package(hello, "zip", work / "b.zip")
    assert (work / "a.zip").read_bytes() == (work / "b.zip").read_bytes()
    with zipfile.ZipFile(work / "a.zip") as zf:
        names = zf.namelist()
        assert names == sorted(names) and all(n.startswith("microlith-sine/") for n in names)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.read("microlith-sine/src/sine.c") == \
            (work / "det-cmake-a" / "src" / "sine.c").read_bytes()


def test_clear_errors(hello, work):
    with pytest.raises(MicrolithError, match="no such directory"):
        package(work / "nowhere", "cmake", work / "x")
    empty = work / "empty"
    empty.mkdir()
    with pytest.raises(MicrolithError) as e:
        read_project(empty)
    assert "model.json is missing" in str(e.value) and "model.c is missing" in str(e.value)
    broken = work / "broken"
    shutil.copytree(hello, broken)
    (broken / "model.json").write_text("{not json")
    with pytest.raises(MicrolithError, match="not valid JSON"):
        package(broken, "cmake", work / "x")
    other = work / "someone-elses"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(MicrolithError, match="not a microlith package"):
        package(hello, "cmake", other)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(MicrolithError, match="Arduino"):
        package(hello, "arduino", work / "x", name="ArduinoSine")
    with pytest.raises(MicrolithError, match="semantic version"):
        package(hello, "arduino", work / "x", version="1.1c")
    with pytest.raises(MicrolithError, match="unknown package format"):
        package(hello, "tarball", work / "x")
    with pytest.raises(MicrolithError, match="--sign-key"):
        package(hello, "update", work / "u.bin", version=2)
    np.save(work / "wrong.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(MicrolithError, match="does not fit the model"):
        package(hello, "cmake", work / "x", sample=work / "wrong.npy")
    assert not (work / "x").exists()


def test_cli_package(hello, work):
    runner = CliRunner()
    out = work / "cli-cmake"
    r = runner.invoke(app, ["package", str(hello), "--format", "cmake", "-o", str(out),
                            "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["format"] == "cmake" and "src/sine.c" in data["files"]
    r = runner.invoke(app, ["package", str(work / "nowhere"), "--format", "zip", "-o",
                            str(work / "n.zip")])
    assert r.exit_code == 1
    assert "not a project written by `microlith compile`" in " ".join(r.output.split())
    r = runner.invoke(app, ["package", str(hello), "--format", "rpm", "-o", str(out)])
    assert r.exit_code == 2
