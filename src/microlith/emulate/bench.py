"""Benchmark a prepared graph on a Cortex-M target in emulation: build it with
arm-none-eabi-gcc, run seeded samples, check the outputs against the host build
bit for bit, and report what was measured (flash, RAM, stack, executed
instructions) next to what is estimated from it (latency, energy).

Most cores run in Unicorn (the ELF without harness firmware, its functions
called directly). Helium cores (Cortex-M55, and the M85 built as an M55) run
under QEMU (mps3-an547), which Unicorn cannot: the harness firmware with the
samples embedded, instructions counted from QEMU's execution trace, the stack
painted by the harness below the invoke's stack pointer. Flash and RAM are
then measured on the same model built without the harness, as for Unicorn."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MicrolithError
from ..ir import Graph

SCHEMA_VERSION = 1

# Our core ids (targets catalog) -> the core toolchain.arm builds for.
# Cortex-M0 and M0+ share the ARMv6-M instruction set; the M85 build is the
# M55's (ARMv8.1-M), which Unicorn cannot run (no Helium model): QEMU runs it.
BUILD_CORE = {"cortex-m0": "cortex-m0plus", "cortex-m0plus": "cortex-m0plus",
              "cortex-m3": "cortex-m3", "cortex-m4f": "cortex-m4f", "cortex-m7": "cortex-m7",
              "cortex-m33": "cortex-m33", "cortex-m55": "cortex-m55",
              "cortex-m85": "cortex-m55"}
# Build cores benchmarked under QEMU instead of Unicorn.
QEMU_BUILD_CORES = frozenset({"cortex-m55"})
QEMU_TIMEOUT_S = 900.0

# Cycles per executed instruction: planning figures, not measurements, read
# off the instruction timing tables of the Arm Cortex-M Technical Reference
# Manuals for a load-heavy integer kernel mix (ALU and multiply 1 cycle, loads,
# stores and taken branches about 2), with zero-wait-state memory.
CPI = {"cortex-m0": 1.5, "cortex-m0plus": 1.5, "cortex-m3": 1.3, "cortex-m4f": 1.3,
       "cortex-m7": 0.9, "cortex-m33": 1.3, "cortex-m55": 1.2, "cortex-m85": 1.1}
CPI_BASIS = {
    "cortex-m0": "Cortex-M0 TRM: 1-cycle ALU/MULS, 2-cycle loads and stores, 3-cycle "
                 "taken branches",
    "cortex-m0plus": "Cortex-M0+ TRM: 2-stage pipeline, 1-cycle ALU/MULS, 2-cycle loads, "
                     "stores and taken branches",
    "cortex-m3": "Cortex-M3 TRM: 1-cycle ALU and MUL/MLA, 2-cycle loads (pipelined "
                 "back-to-back), 2-3 cycle taken branches",
    "cortex-m4f": "Cortex-M4 TRM: as the M3, plus single-cycle DSP multiplies",
    "cortex-m7": "Cortex-M7 TRM: dual issue of many instruction pairs and single-cycle "
                 "loads from TCM bring the average under one cycle",
    "cortex-m33": "Cortex-M33 TRM: timings close to the M4's",
    "cortex-m55": "Cortex-M55 TRM: scalar pipeline slightly faster than the M33's",
    "cortex-m85": "Cortex-M85 TRM: superscalar scalar pipeline",
}


def _core_id(core: str) -> str:
    if core not in BUILD_CORE:
        raise MicrolithError(f"benchmarking supports {', '.join(BUILD_CORE)}; "
                             f"the target's core is {core}")
    return BUILD_CORE[core]


def _board_for(build_core: str) -> str:
    """The emulated board with the most memory that runs ``build_core`` (its
    default board first on a tie): Unicorn does not care about the board, but
    the linker checks the model fits the board's regions."""
    from ..toolchain.arm import BOARDS, CORES
    default = CORES[build_core].board
    boards = [b for b in BOARDS.values() if build_core in b.runs]
    return max(boards, key=lambda b: (b.flash_bytes + b.ram_bytes, b.name == default)).name


@dataclass
class BenchResult:
    target: dict
    opt: str
    build_core: str
    board: str
    compiler_flags: list[str]
    flash: dict
    ram: dict
    stack_peak_bytes: int
    stack_peaks: list[int]
    instructions: int  # the most over the samples
    instructions_per_sample: list[int]
    macs: int
    bit_exact: bool
    samples: int
    seed: int
    estimates: dict
    fit: dict
    emulator: dict
    mismatches: list[str] = field(default_factory=list)
    firmware: str = "none"  # the firmware the emulator ran (harness under QEMU)
    layers: list[dict] = field(default_factory=list)  # with layers=True: per call, measured

    @property
    def macs_per_instruction(self) -> float | None:
        return self.macs / self.instructions if self.instructions else None

    def to_dict(self) -> dict:
        mpi = self.macs_per_instruction
        return {
            "schema_version": SCHEMA_VERSION,
            "target": self.target,
            "opt": self.opt,
            "build": {"core": self.build_core, "board": self.board,
                      "flags": self.compiler_flags, "firmware": self.firmware},
            "flash": self.flash,
            "ram": self.ram,
            "stack_peak_bytes": self.stack_peak_bytes,
            "stack_peaks": self.stack_peaks,
            "instructions": self.instructions,
            "instructions_per_sample": self.instructions_per_sample,
            "macs": self.macs,
            "macs_per_instruction": round(mpi, 6) if mpi is not None else None,
            "bit_exact": self.bit_exact,
            "mismatches": self.mismatches,
            "samples": self.samples,
            "seed": self.seed,
            "fit": self.fit,
            "estimates": self.estimates,
            "emulator": self.emulator,
            "provenance": self._provenance(),
        } | ({"layers": self.layers} if self.layers else {})

    def _provenance(self) -> dict:
        out = {
                "flash": "measured: ELF section and symbol sizes (pyelftools); weights = "
                         "<prefix>_w* and <prefix>_n*_* objects, code = the rest",
                "ram": "measured: ELF .data + .bss; arena, scratch and state from their "
                       "symbol sizes; the reserved stack region is not included",
                "stack_peak_bytes": "measured: stack painted before each invoke in "
                                    "Unicorn, deepest byte written below the initial SP",
                "instructions": "measured: executed Thumb instructions per invoke in "
                                "Unicorn, counted per basic block (the most over the "
                                "samples)",
                "macs": "computed from the graph (microlith.profile.layer_costs)",
                "macs_per_instruction": "macs / instructions",
                "bit_exact": "measured: every Unicorn output byte equals the host build's",
                "fit": "measured sizes against the target's datasheet memory; RAM "
                       "includes the measured stack peak",
                "estimates": "estimated: see estimates.method",
        }
        if self.layers:
            out["layers"] = ("measured: instructions per call of <prefix>_invoke in Unicorn "
                             "(the invoke with the most instructions), read from the block "
                             "counter at each of the invoke's own blocks; each call's callee "
                             "checked against model.json \"calls\"; the invoke's own "
                             "instructions (argument setup, prologue, epilogue) are the "
                             "'invoke' row; rows sum to instructions. macs computed from the "
                             "graph")
        if self.emulator.get("name") == "qemu":
            out.update({
                "flash": out["flash"] + " (of the same model built without the harness "
                                        "firmware that QEMU ran)",
                "ram": out["ram"] + " (built without the harness firmware)",
                "stack_peak_bytes": "measured: the harness firmware under QEMU paints the "
                                    "stack below the stack pointer just before each invoke "
                                    "and scans it after; deepest byte written below that "
                                    "stack pointer",
                "instructions": "measured: executed instructions per invoke from QEMU's "
                                "execution trace (-d exec,nochain,in_asm), each translated "
                                "block's instructions counted from arm-none-eabi-objdump's "
                                "listing (the most over the samples)",
                "bit_exact": "measured: every output byte the harness firmware wrote under "
                             "QEMU equals the host build's",
            })
        return out


def _estimates(target, instructions: int) -> dict:
    core = target.core.id
    cpi = CPI.get(core)
    if cpi is None or not instructions:
        return {"latency_ms": None, "energy_uj": None, "cpi": None,
                "method": f"estimated: no cycles-per-instruction figure for {core}"}
    latency_ms = instructions * cpi / (target.clock_mhz * 1e3)
    method = (f"estimated: latency = {instructions} measured instructions x {cpi} "
              f"cycles/instruction / {target.clock_mhz:g} MHz. {cpi} is a planning "
              f"figure, not a measurement ({CPI_BASIS.get(core, core)}; a load-heavy "
              "integer kernel mix; zero-wait-state memory: flash wait states and cache "
              "misses are not modelled).")
    current = target.active_current_ma()
    if current is not None and target.supply_v is not None:
        energy = current * target.supply_v * latency_ms  # mA x V x ms = uJ
        method += (f" energy = {current:.3g} mA x {target.supply_v:g} V x latency "
                   f"(run current scaled linearly from the datasheet's "
                   f"{target.active_ma:g} mA at {target.active_mhz:g} MHz"
                   + (f", power figures {target.power_confidence}"
                      if target.power_confidence else "") + ").")
    else:
        energy = None
        why = ("a generic core has no power figures" if target.kind == "core" else
               "the catalog has no datasheet run current and supply voltage for it")
        method += f" energy: not estimated ({target.id}: {why})."
    return {"latency_ms": round(latency_ms, 4),
            "energy_uj": round(energy, 4) if energy is not None else None,
            "cpi": cpi, "method": method}


def _fit(target, flash: dict, ram: dict, stack: int) -> dict:
    out = {"flash": None, "ram": None}
    if target.flash_bytes:
        out["flash"] = flash["total"] <= target.flash_bytes
    if target.sram_bytes:
        out["ram"] = ram["total"] + stack <= target.sram_bytes
    if out["flash"] is None and out["ram"] is None:
        out["note"] = f"{target.id} lists no memory sizes"
    return out


def bench(graph: Graph, target, opt: str = "-O2", *, samples: int = 2, seed: int = 0,
          prefix: str = "model", workdir: str | Path | None = None,
          counter: str = "auto", layers: bool = False) -> BenchResult:
    """Build ``graph`` (already ``microlith.api.prepare``d) for ``target`` (a
    ``Target`` or a target spec such as ``"cortex-m4f@120MHz"``), run
    ``samples`` seeded random inputs in Unicorn (under QEMU for Helium cores,
    see the module docstring) and compare them with the host build.
    ``workdir`` keeps the generated project and ELFs (else a temporary folder,
    removed afterwards). ``counter`` picks Unicorn's instruction counter.
    ``layers``: also the measured instructions of every call the invoke makes
    (``BenchResult.layers``; Unicorn cores only)."""
    from ..codegen import generate, kernels_for
    from ..codegen.host import compile_for_host
    from ..profile import layer_costs
    from ..targets import Target, get_target
    from ..toolchain.arm import CORES, build_elf
    from ..verify.validate import random_samples
    from .unicorn import _unicorn, run_unicorn

    if not isinstance(target, Target):
        target = get_target(str(target))
    build_core = _core_id(target.core.id)
    board = _board_for(build_core)
    if samples < 1:
        raise MicrolithError("bench needs at least one sample")
    on_qemu = build_core in QEMU_BUILD_CORES
    if on_qemu and layers:
        raise MicrolithError(f"per-layer instructions are not available under QEMU yet: "
                             f"{target.core.id} builds (Helium) run in QEMU, not Unicorn; "
                             "bench without --layers, or a non-Helium target")
    if on_qemu:
        from .qemu import find_qemu
        find_qemu()  # missing: say so before building anything
    tmp = None
    if workdir is None:
        tmp = Path(tempfile.mkdtemp(prefix="microlith-bench-"))
        root = tmp
    else:
        root = Path(workdir)
        root.mkdir(parents=True, exist_ok=True)
    try:
        project = generate(graph, root / "project", prefix=prefix,
                           kernels=kernels_for(target))
        build = build_elf(project, build_core, opt, board=board, firmware="none")
        inputs = random_samples(graph, samples, seed=seed)
        if on_qemu:
            run = _run_qemu(project, build, inputs)
        else:
            run = run_unicorn(build.elf, prefix, inputs, graph, core=target.core.id,
                              counter=counter,
                              calls=project.meta["calls"] if layers else None)
        host = compile_for_host(graph, prefix=prefix, workdir=root / "host")
        mismatches = []
        for k, (sample, got) in enumerate(zip(inputs, run.outputs, strict=True)):
            want = host.invoke(sample)
            for i, (a, b) in enumerate(zip(want, got, strict=True)):
                if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                    diff = int(np.count_nonzero(a.view(np.uint8) != b.view(np.uint8))) \
                        if a.nbytes == b.nbytes else -1
                    mismatches.append(f"sample {k} output {i} ({graph.outputs[i]}): "
                                      f"{diff} byte(s) differ from the host build")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    sec = run.sections
    flash = {k: sec["flash"][k] for k in ("code", "weights", "total")}
    ram = {k: sec["ram"][k] for k in ("arena", "scratch", "state", "other", "total")}
    ram["stack_reserved"] = sec["reserved_stack_heap"]
    instructions = max(run.instructions)
    costs = layer_costs(graph)
    rows = []
    if layers:
        for row in run.layers[run.instructions.index(instructions)]:
            macs = int(costs[row["index"]].macs) if row["index"] is not None else 0
            n = row["instructions"]
            rows.append({**row, "macs": macs,
                         "macs_per_instruction": round(macs / n, 6) if n else None})
    if on_qemu:
        emulator = run.emulator
    else:
        emulator = {"name": "unicorn", "version": getattr(_unicorn()[0], "__version__", "?"),
                    "cpu_model": run.cpu_model, "counter": run.counter,
                    "seconds": round(run.seconds, 3)}
    return BenchResult(
        target={"id": target.id, "name": target.name, "core": target.core.id,
                "clock_mhz": target.clock_mhz, "sram_bytes": target.sram_bytes,
                "flash_bytes": target.flash_bytes},
        opt=opt, build_core=build_core, board=board,
        compiler_flags=[*CORES[build_core].flags, opt],
        flash=flash, ram=ram, stack_peak_bytes=run.stack_peak_bytes,
        stack_peaks=run.stack_peaks, instructions=instructions,
        instructions_per_sample=run.instructions,
        macs=int(sum(layer.macs for layer in costs)),
        bit_exact=not mismatches, samples=samples, seed=seed,
        estimates=_estimates(target, instructions),
        fit=_fit(target, flash, ram, run.stack_peak_bytes),
        emulator=emulator, mismatches=mismatches,
        firmware="harness" if on_qemu else "none", layers=rows)


@dataclass
class _QemuRun:
    outputs: list[list[np.ndarray]]
    instructions: list[int]
    stack_peaks: list[int]
    stack_peak_bytes: int
    sections: dict
    emulator: dict


def _run_qemu(project, bare, inputs: list[list[np.ndarray]]) -> _QemuRun:
    """Run ``inputs`` through ``project`` built as harness firmware under QEMU
    (``bare``'s core, board and options), counting each invoke's instructions
    from the execution trace; sections come from ``bare`` (no harness)."""
    from ..toolchain.arm import BOARDS, build_elf
    from .qemu import COUNTER, qemu_version, run_qemu
    from .unicorn import section_sizes

    harness = build_elf(project, bare.core, bare.opt, board=bare.board, firmware="harness",
                        samples=inputs)
    res = run_qemu(harness, timeout=QEMU_TIMEOUT_S, count_instructions=True)
    if len(res.stack_peaks) != len(inputs) or len(res.instructions) != len(inputs):
        raise MicrolithError(f"QEMU reported {len(res.stack_peaks)} stack peaks and "
                             f"{len(res.instructions)} instruction counts for {len(inputs)} "
                             "samples", internal=True)
    return _QemuRun(res.outputs, res.instructions, res.stack_peaks, max(res.stack_peaks),
                    section_sizes(bare.elf, project.prefix),
                    {"name": "qemu", "version": qemu_version(), "board": bare.board,
                     "cpu_model": BOARDS[bare.board].cpu, "counter": COUNTER,
                     "seconds": round(res.seconds, 3)})
