"""`microlith bench --layers`: executed instructions per called node, measured
in Unicorn, that sum exactly to the invoke's; each call's callee checked
against model.json "calls"."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from shared_models import model

assert shutil.which("arm-none-eabi-gcc"), \
    "arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"

from microlith.api import prepare  # noqa: E402
from microlith.codegen import generate  # noqa: E402
from microlith.emulate.bench import _board_for, bench  # noqa: E402
from microlith.emulate.unicorn import (  # noqa: E402
    ElfImage,
    InvokeBlock,
    bl_target,
    layer_instructions,
    run_unicorn,
)
from microlith.errors import MicrolithError  # noqa: E402
from microlith.profile import layer_costs  # noqa: E402
from microlith.toolchain.arm import build_elf  # noqa: E402
from microlith.verify.validate import random_samples  # noqa: E402

KWS = "mlcommons_tiny/kws_ref_model.tflite"


@pytest.fixture(scope="module")
def kws():
    return prepare(model(KWS))


@pytest.fixture(scope="module")
def kws_bench(kws):
    return bench(kws, "cortex-m4f", "-O2", samples=2, layers=True).to_dict()


@pytest.fixture(scope="module")
def kws_elf(kws, tmp_path_factory):
    project = generate(kws, tmp_path_factory.mktemp("kws") / "project")
    elf = build_elf(project, "cortex-m4f", "-O2", board=_board_for("cortex-m4f"),
                    firmware="none").elf
    return project, elf


def test_kws_rows_follow_the_calls_and_sum_to_the_total(kws, kws_bench):
    d = kws_bench
    assert d["bit_exact"] is True
    rows = d["layers"]
    costs = layer_costs(kws)
    # one row per node that runs (an aliased reshape runs nothing), in order, then invoke's own
    called = [c for c in costs if c.op != "reshape"]
    assert [r["index"] for r in rows] == [c.index for c in called] + [None]
    assert [r["op"] for r in rows[:-1]] == [c.op for c in called]
    assert rows[-1]["name"] == rows[-1]["op"] == "invoke"
    assert rows[-1]["function"] == "model_invoke"
    assert 0 < rows[-1]["instructions"] < 20 * len(rows)  # call setup, prologue, epilogue
    assert all(r["instructions"] > 0 for r in rows)
    assert sum(r["instructions"] for r in rows) == d["instructions"]
    assert d["instructions"] == max(d["instructions_per_sample"])
    # conv / depthwise rows carry the model's MACs; together every MAC of the model
    by_index = {c.index: c for c in costs}
    for r in rows[:-1]:
        assert r["macs"] == by_index[r["index"]].macs
        assert r["function"].startswith("model_ml_")
    assert sum(r["macs"] for r in rows) == d["macs"] == 2_656_768
    dw = [r for r in rows if r["op"] == "depthwise_conv2d"]
    conv = [r for r in rows if r["op"] == "conv2d"]
    assert len(dw) == 4 and len(conv) == 5
    assert all(r["macs"] == 72_000 for r in dw)
    for r in dw + conv:
        assert r["macs_per_instruction"] == pytest.approx(r["macs"] / r["instructions"],
                                                          rel=1e-5)
    # measured ~0.62 on the M4F build (the DSP 3x3 depthwise kernel)
    assert min(r["macs_per_instruction"] for r in dw) >= 0.55
    assert d["provenance"]["layers"].startswith("measured")


def test_python_and_native_counters_agree_per_layer(kws, kws_elf):
    project, elf = kws_elf
    samples = random_samples(kws, 1, seed=3)
    runs = {c: run_unicorn(elf, "model", samples, kws, core="cortex-m4f", counter=c,
                           calls=project.meta["calls"]) for c in ("native", "python")}
    assert runs["native"].counter == "native" and runs["python"].counter == "python"
    assert runs["native"].layers == runs["python"].layers
    plain = run_unicorn(elf, "model", samples, kws, core="cortex-m4f")
    assert plain.layers == [] and plain.instructions == runs["native"].instructions
    assert sum(r["instructions"] for r in runs["python"].layers[0]) == plain.instructions[0]


def test_hand_broken_calls_list_is_a_clear_error(kws, kws_elf):
    project, elf = kws_elf
    samples = random_samples(kws, 1, seed=0)
    calls = copy.deepcopy(project.meta["calls"])
    calls[0], calls[1] = calls[1], calls[0]  # conv and depthwise swapped
    with pytest.raises(MicrolithError) as e:
        run_unicorn(elf, "model", samples, kws, core="cortex-m4f", calls=calls)
    msg = str(e.value)
    assert "model_ml_depthwise_conv2d_s8_3x3" in msg and "model_ml_conv2d_s8" in msg
    assert "do not match" in msg and not e.value.internal
    with pytest.raises(MicrolithError, match="makes only 12 calls"):
        run_unicorn(elf, "model", samples, kws, core="cortex-m4f",
                    calls=project.meta["calls"] + [copy.deepcopy(calls[-1])])
    missing = copy.deepcopy(project.meta["calls"])
    missing[2]["function"] = "model_ml_no_such_kernel"
    with pytest.raises(MicrolithError, match="'model_ml_no_such_kernel' is not in"):
        run_unicorn(elf, "model", samples, kws, core="cortex-m4f", calls=missing)


def test_input_guard_is_its_own_row(tmp_path):
    graph = prepare(model("tflite_micro/hello_world_float.tflite"))
    project = generate(graph, tmp_path / "project", input_guard=True)
    calls = project.meta["calls"]
    assert calls[0] == {"index": None, "name": "input_guard", "op": "input_guard",
                        "function": "model_check_inputs"}
    assert [c["index"] for c in calls[1:]] == [0, 1, 2]
    elf = build_elf(project, "cortex-m0plus", "-Os", board=_board_for("cortex-m0plus"),
                    firmware="none").elf
    run = run_unicorn(elf, "model", random_samples(graph, 1, seed=0), graph,
                      core="cortex-m0plus", calls=calls)
    rows = run.layers[0]
    assert [r["name"] for r in rows] == ["input_guard", *(c["name"] for c in calls[1:]),
                                         "invoke"]
    assert all(r["instructions"] > 0 for r in rows)
    assert sum(r["instructions"] for r in rows) == run.instructions[0]


def _bl(at: int, to: int) -> bytes:
    """A Thumb BL at ``at`` to ``to`` (T1 encoding)."""
    off = to - (at + 4)
    s = (off >> 24) & 1
    i1, i2 = (off >> 23) & 1, (off >> 22) & 1
    j1, j2 = 1 - (i1 ^ s), 1 - (i2 ^ s)
    hw1 = 0xF000 | (s << 10) | ((off >> 12) & 0x3FF)
    hw2 = 0xD000 | (j1 << 13) | (j2 << 11) | ((off >> 1) & 0x7FF)
    return hw1.to_bytes(2, "little") + hw2.to_bytes(2, "little")


def test_bl_decoding():
    for at, to in ((0x100, 0x2000), (0x8000, 0x100), (0x1000, 0x1004), (0, 0x3FFFFE)):
        assert bl_target(b"\x00\xbf" + _bl(at + 2, to), at) == to  # nop; bl
    assert bl_target(b"\x70\x47", 0x100) is None  # bx lr
    assert bl_target(b"\x00\xbf\x00\xbf", 0x100) is None  # nop; nop
    # a 32-bit instruction that is not a BL (ldr.w r0, [r1])
    assert bl_target(b"\xd1\xf8\x00\x00", 0x100) is None


def _image(symbols: dict[str, int]) -> ElfImage:
    return ElfImage(Path("fake.elf"), [], {k: (v | 1, 8, "STT_FUNC", "STB_GLOBAL")
                                          for k, v in symbols.items()}, [], None, False)


CALLS = [{"index": None, "name": "input_guard", "op": "input_guard", "function": "m_guard"},
         {"index": 0, "name": "a", "op": "conv2d", "function": "m_conv"},
         {"index": 2, "name": "b", "op": "softmax", "function": "m_soft"}]
IMG = _image({"m_guard": 0x100, "m_conv": 0x200, "m_soft": 0x300, "m_invoke": 0x400})


def test_attribution_arithmetic():
    # blocks: (own instructions, running count after the block, BL target)
    blocks = [InvokeBlock(0x400, 5, 5, 0x100),    # guard: 10 instructions
              InvokeBlock(0x40a, 2, 17, None),    # guard result check, no call
              InvokeBlock(0x40e, 3, 20, 0x200),   # conv: 100
              InvokeBlock(0x416, 4, 124, 0x300),  # softmax: 50
              InvokeBlock(0x420, 3, 177, None)]   # epilogue
    rows = layer_instructions(IMG, "m_invoke", blocks, 177, CALLS)
    assert [(r["name"], r["instructions"]) for r in rows] == [
        ("input_guard", 10), ("a", 100), ("b", 50), ("invoke", 17)]
    # the compiler inlined the guard: no call to it, its code counts as invoke's own
    inlined = [InvokeBlock(0x400, 9, 9, 0x200), InvokeBlock(0x40a, 2, 111, 0x300),
               InvokeBlock(0x416, 3, 164, None)]
    rows = layer_instructions(IMG, "m_invoke", inlined, 164, CALLS)
    assert [(r["name"], r["instructions"]) for r in rows] == [("a", 100), ("b", 50),
                                                              ("invoke", 14)]
    # instructions outside the invoke after a block that calls nothing: not attributable
    stray = [blocks[0], InvokeBlock(0x40a, 2, 15, None), *blocks[2:]]
    with pytest.raises(MicrolithError, match="2 instructions ran outside m_invoke"):
        layer_instructions(IMG, "m_invoke", stray, 177, CALLS)
    # the total must be what the blocks account for
    with pytest.raises(MicrolithError):
        layer_instructions(IMG, "m_invoke", blocks, 178, CALLS)


def test_cli_bench_layers_json():
    r = subprocess.run([sys.executable, "-m", "microlith", "bench", str(model(KWS)),
                        "--target", "cortex-m4f", "--samples", "1", "--layers", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(d["layers"]) == 13
    for row in d["layers"]:
        assert set(row) == {"index", "name", "op", "function", "instructions", "macs",
                            "macs_per_instruction"}
    assert sum(row["instructions"] for row in d["layers"]) == d["instructions"]
    plain = subprocess.run([sys.executable, "-m", "microlith", "bench", str(model(KWS)),
                            "--target", "cortex-m55", "--layers"],
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 1
    assert "not available under QEMU yet" in plain.stderr + plain.stdout
    assert "Traceback" not in plain.stderr
