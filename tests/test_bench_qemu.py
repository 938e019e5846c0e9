"""`microlith bench` on Helium cores (Cortex-M55; the M85 builds as an M55),
which Unicorn cannot run: the harness firmware runs under QEMU (mps3-an547),
instructions are counted from QEMU's execution trace and the stack is painted
by the harness below the invoke's stack pointer.

- the trace parser on a hand-written trace (blocks re-translated, two blocks
  at one pc, nested calls, instructions of 2 and 4 bytes);
- on a Cortex-M4F build, which both emulators run, the QEMU harness measures
  the same instructions and the same stack peak per invoke as Unicorn;
- KWS on cortex-m55: bit-exact with the host build, instructions equal to
  invoke_instructions on the same ELF and fewer than the portable M55 build,
  stack peak inside the stack region, the JSON fields of the Unicorn bench;
- `microlith bench --json` on apollo510 (an M55 part) through the CLI;
- without qemu-system-arm: a clear message, exit code 1, no traceback.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from shared_models import model
from typer.testing import CliRunner

from microlith.api import prepare
from microlith.cli import app
from microlith.codegen import generate, kernels_for
from microlith.emulate import bench
from microlith.emulate.bench import _board_for
from microlith.emulate.qemu import count_invokes, invoke_instructions, run_qemu
from microlith.emulate.unicorn import read_elf, run_unicorn
from microlith.errors import MicrolithError
from microlith.targets import get_target
from microlith.toolchain.arm import build_elf
from microlith.verify.validate import random_samples

# `make test` installs the Arm toolchain and QEMU: without them these tests fail.
assert shutil.which("arm-none-eabi-gcc"), "arm-none-eabi-gcc not installed"
assert shutil.which("qemu-system-arm"), "qemu-system-arm not installed"

KWS = "mlcommons_tiny/kws_ref_model.tflite"
KWS_MACS = 2_656_768
JSON_KEYS = ("schema_version", "target", "opt", "flash", "ram", "stack_peak_bytes",
             "instructions", "macs", "macs_per_instruction", "bit_exact", "estimates")


@pytest.fixture(scope="module")
def kws():
    return prepare(model(KWS))


def _tb(addr: int, halfwords: list[str], sym: str) -> list[str]:
    lines = ["----------------", f"IN: {sym}"]
    for hw in halfwords:
        lines.append(f"0x{addr:08x}:  {hw}  insn")
        addr += 2 * len(hw.split())
    return lines + [""]


def _exec(ptr: int, pc: int, sym: str) -> str:
    return f"Trace 0: 0x{ptr:012x} [0080044a/{pc:08x}/00000150/ff000200] {sym}"


def test_count_invokes_on_a_written_trace():
    """main calls f (entry 0x100) twice; f calls g. Instruction addresses as
    objdump lists them: a 4-byte instruction counts once though QEMU prints
    two halfwords; the second call runs a re-translated f block (new host
    pointer, other size) and a second block at g's pc (other CPU state)."""
    starts = [0x100, 0x102, 0x106, 0x108, 0x200, 0x204, 0x206, 0x300, 0x302]
    lines = _tb(0x300, ["bf00", "f7ff fffe"], "main") + [_exec(1, 0x300, "main")]
    # call 1: f (0x100..0x10a: 4 instructions), g (0x200..0x206: 2), f's tail
    lines += _tb(0x100, ["b500", "f000 f800", "bf00", "bf00"], "f") + [_exec(2, 0x100, "f")]
    lines += _tb(0x200, ["f8d0 0000", "4770"], "g") + [_exec(3, 0x200, "g")]
    lines += _tb(0x108, ["bd00"], "f") + [_exec(4, 0x108, "f")]
    lines += [_exec(1, 0x300, "main")]
    # call 2: f re-translated shorter (0x100..0x106: 2 instructions), g twice
    # through the cached block, a second translation at g's pc (3), then the
    # first g block again (still 2: blocks are told apart by host pointer)
    lines += _tb(0x100, ["b500", "f000 f800"], "f") + [_exec(5, 0x100, "f")]
    lines += [_exec(3, 0x200, "g"), _exec(3, 0x200, "g")]
    lines += _tb(0x200, ["f8d0 0000", "4770", "bf00"], "g") + [_exec(6, 0x200, "g")]
    lines += [_exec(3, 0x200, "g"), _exec(4, 0x108, "f"), _exec(1, 0x300, "main"),
              "unrelated log line"]
    runs, by = count_invokes(iter(lines), 0x100, starts)
    assert runs == [4 + 2 + 1, 2 + 2 + 2 + 3 + 2 + 1]
    assert by == {"f": 4 + 1 + 2 + 1, "g": 2 + 2 + 2 + 3 + 2}
    # a block that runs with no translation logged is an error, not a guess
    with pytest.raises(MicrolithError, match="before its translation"):
        count_invokes(iter([_exec(9, 0x100, "f")]), 0x100, starts)


def test_qemu_harness_measures_what_unicorn_measures_on_m4f(kws, tmp_path):
    """The same KWS model code on a Cortex-M4F (mps2-an386): instructions per
    invoke from QEMU's trace and the stack the harness paints below the
    invoke's stack pointer equal Unicorn's counts and painted stack of the
    build without harness, sample by sample."""
    core = "cortex-m4f"
    project = generate(kws, tmp_path / "p", prefix="model",
                       kernels=kernels_for(get_target(core)))
    samples = random_samples(kws, 2, seed=3)
    board = _board_for(core)
    harness = build_elf(project, core, "-O2", board=board, samples=samples)
    bare = build_elf(project, core, "-O2", board=board, firmware="none")
    q = run_qemu(harness, count_instructions=True)
    u = run_unicorn(bare.elf, "model", samples, kws, core=core)
    assert q.instructions == u.instructions and min(q.instructions) > 1_000_000
    assert q.stack_peaks == u.stack_peaks and min(q.stack_peaks) > 0
    assert sum(q.instructions_by_function.values()) == sum(q.instructions)
    for got, want in zip(q.outputs, u.outputs, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    # the whole run's peak (from reset) is deeper than any single invoke's
    assert q.stack_bytes > max(q.stack_peaks)


def test_bench_kws_on_m55(kws, tmp_path):
    d = bench(kws, "cortex-m55", "-O2", workdir=tmp_path).to_dict()
    assert d["bit_exact"] is True and d["mismatches"] == []
    assert d["build"]["core"] == "cortex-m55" and d["build"]["board"] == "mps3-an547"
    assert d["build"]["firmware"] == "harness"
    emu = d["emulator"]
    assert emu["name"] == "qemu" and emu["counter"] == "qemu execution trace"
    assert emu["version"][0].isdigit() and emu["cpu_model"] == "cortex-m55"
    for key in JSON_KEYS:
        assert key in d, key
    assert set(d["flash"]) >= {"code", "weights"} and set(d["ram"]) >= {"arena", "other"}
    assert set(d["estimates"]) >= {"latency_ms", "energy_uj", "cpi", "method"}
    assert d["macs"] == KWS_MACS
    assert d["macs_per_instruction"] == pytest.approx(d["macs"] / d["instructions"], rel=1e-5)
    est = d["estimates"]
    assert est["method"].startswith("estimated")
    assert est["latency_ms"] == pytest.approx(d["instructions"] * est["cpi"] / 400e3, rel=1e-3)
    assert all(v.startswith(("measured", "computed", "macs", "estimated"))
               for v in d["provenance"].values())
    assert "QEMU" in d["provenance"]["instructions"]

    # the count is invoke_instructions' on the very ELF bench ran
    elfs = sorted(tmp_path.glob("project/arm/cortex-m55-mps3-an547-O2-harness.elf"))
    assert len(elfs) == 1
    runs, by = invoke_instructions(elfs[0])
    assert runs == d["instructions_per_sample"] and d["instructions"] == max(runs)
    assert by.get("model_ml_mve_conv2d_s8", 0) > 100_000  # the Helium paths ran

    # stack: measured per invoke, inside the stack region of the ELF it ran
    syms = read_elf(elfs[0]).symbols
    region = syms["__stack_end"][0] - syms["__stack_start"][0]
    assert d["stack_peak_bytes"] == max(d["stack_peaks"]) and len(d["stack_peaks"]) == 2
    assert 0 < d["stack_peak_bytes"] < region and region == d["ram"]["stack_reserved"]
    assert d["stack_peak_bytes"] <= 1024  # the per-kernel stack budget

    # sizes from the build without harness (no embedded samples in "code")
    assert 0 < d["flash"]["code"] <= 16 * 1024 and d["flash"]["weights"] > 30_000

    # the portable M55 build (Helium paths compiled out) runs more instructions
    portable_project = generate(kws, tmp_path / "portable", prefix="model",
                                kernels=kernels_for(get_target("cortex-m55")))
    portable = build_elf(portable_project, "cortex-m55", "-O2", board="mps3-an547",
                         samples=random_samples(kws, 1, seed=0),
                         extra_cflags=("-DMODEL_ML_PORTABLE",))
    slow, slow_by = invoke_instructions(portable.elf)
    assert not any("mve" in name for name in slow_by), slow_by
    print("measured KWS instructions per invoke on cortex-m55, Helium vs portable:",
          d["instructions"], slow[0])
    assert d["instructions"] * 4 < slow[0]


def test_bench_cli_json_on_an_m55_part(kws):
    r = CliRunner().invoke(app, ["bench", str(model(KWS)), "--target", "apollo510",
                                 "--samples", "1", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for key in JSON_KEYS:
        assert key in d, key
    assert d["target"]["id"] == "apollo510" and d["target"]["core"] == "cortex-m55"
    assert d["bit_exact"] is True and d["emulator"]["name"] == "qemu"
    assert d["instructions"] > d["macs"] / 16 and d["stack_peak_bytes"] > 0
    clock = d["target"]["clock_mhz"]
    assert d["estimates"]["latency_ms"] == pytest.approx(
        d["instructions"] * d["estimates"]["cpi"] / (clock * 1e3), rel=1e-3)


def test_a_stack_too_small_is_an_error_not_a_figure(tmp_path):
    """AD's invoke needs about 270 B of stack on the M55: with a 256 B stack
    region the run fails with a message naming the stack, and reports no peak."""
    graph = prepare(model("mlcommons_tiny/ad01_int8.tflite"))
    project = generate(graph, tmp_path / "p", prefix="model",
                       kernels=kernels_for(get_target("cortex-m55")))
    samples = random_samples(graph, 1, seed=0)
    ok = run_qemu(build_elf(project, "cortex-m55", "-O2", samples=samples, stack_bytes=1024,
                            out=tmp_path / "ok.elf"))
    assert 200 < ok.stack_peaks[0] < 1024
    small = build_elf(project, "cortex-m55", "-O2", samples=samples, stack_bytes=256,
                      out=tmp_path / "small.elf")
    with pytest.raises(MicrolithError, match="stack"):
        run_qemu(small)


def test_missing_qemu_is_a_clear_error(kws, monkeypatch):
    real = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name, *a, **k: None if name == "qemu-system-arm"
                        else real(name, *a, **k))
    with pytest.raises(MicrolithError, match=r"qemu-system-arm not found.*apt-get install"):
        bench(kws, "cortex-m55")
    r = CliRunner().invoke(app, ["bench", str(model(KWS)), "--target", "cortex-m55"])
    assert r.exit_code == 1
    assert "qemu-system-arm not found" in r.output and "Traceback" not in r.output
