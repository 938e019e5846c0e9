"""Run a Cortex-M build under QEMU (full-system emulation of the board) and read
the outputs the harness firmware writes over semihosting.

QEMU also counts: ``invoke_instructions`` (and ``run_qemu(...,
count_instructions=True)``) measure the instructions each ``<prefix>_invoke()``
call executes from QEMU's execution trace. ``-d exec,nochain`` logs every
translated block each time it runs, ``-d in_asm`` each block's address range
when it is translated; QEMU's own disassembler does not know MVE (Helium), so
the instructions in a block's range are counted from arm-none-eabi-objdump's
listing (``-m armv8.1-m.main``). Debian's QEMU ships no TCG plugins (no
libinsn.so), hence this route. The trace is read from a pipe as QEMU writes it
(never stored: a portable VWW build logs gigabytes). On Cortex-M4F builds the
count equals Unicorn's basic-block count exactly (tests/test_helium.py)."""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MicrolithError
from ..ir import DType
from ..toolchain.arm import INSTALL_HINT as ARM_INSTALL_HINT
from ..toolchain.arm import ArmBuild

INSTALL_HINT = "sudo apt-get install -y qemu-system-arm"
EXIT_INVOKE_FAILED = 2
EXIT_FAULT = 13  # ml_firmware.h
TRACE_FLAGS = "exec,nochain,in_asm"
COUNTER = "qemu execution trace"

_OUT = re.compile(r"^@ml-out (\d+) (\d+) ([0-9a-f]*)\s*$")
_STACK_INVOKE = re.compile(r"^@ml-stack-invoke (\d+) (\d+) (\d+)\s*$")
_INSN = re.compile(r"^\s*([0-9a-f]+):\t[0-9a-f]{4}")  # objdump -d
_TB_LINE = re.compile(r"^0x([0-9a-f]{8}):\s+((?:[0-9a-f]{4} ?)+)")  # -d in_asm
# -d exec: "Trace <cpu>: <host tb> [<cs_base>/<pc>/<flags>/<cflags>] <symbol>"
_TRACE = re.compile(r"^Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/[^\]]*\] ?(\S*)")


@dataclass
class QemuResult:
    exit_code: int
    outputs: list[list[np.ndarray]]  # per sample, per model output
    stdout: str  # the semihosting console (and the board's serial port)
    seconds: float
    stack_bytes: int | None = None  # peak stack use of the whole run, harness firmware only
    command: list[str] | None = None
    # per invoke, harness firmware only: painted below the stack pointer the
    # invoke was called with, the deepest byte it wrote
    stack_peaks: list[int] = field(default_factory=list)
    # with count_instructions=True: executed instructions per invoke, and their
    # split by function (summed over the invokes)
    instructions: list[int] = field(default_factory=list)
    instructions_by_function: dict[str, int] = field(default_factory=dict)


def find_qemu() -> str:
    qemu = shutil.which("qemu-system-arm")
    if not qemu:
        raise MicrolithError(f"qemu-system-arm not found: install it (`{INSTALL_HINT}`)")
    return qemu


def qemu_version(qemu: str | None = None) -> str:
    """``7.2.22`` from ``qemu-system-arm --version``, else its first line."""
    r = subprocess.run([qemu or find_qemu(), "--version"], capture_output=True, text=True)
    first = (r.stdout.splitlines() or ["?"])[0]
    m = re.search(r"version (\S+)", first)
    return m.group(1) if m else first.strip()


def qemu_command(build: ArmBuild, qemu: str | None = None) -> list[str]:
    return _command(build.elf, build.board, qemu)


def _command(elf: Path, board: str, qemu: str | None = None) -> list[str]:
    return [qemu or find_qemu(), "-M", board, "-nographic", "-monitor", "none",
            "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]


def _binutil(name: str) -> str:
    tool = shutil.which(f"arm-none-eabi-{name}")
    if not tool:
        raise MicrolithError(f"arm-none-eabi-{name} not found: counting instructions under "
                             f"QEMU needs the GNU Arm binutils (`{ARM_INSTALL_HINT}`)")
    return tool


def _symbolize(build: ArmBuild, line: str) -> str:
    """Name the function the fault's pc is in, when addr2line is there."""
    m = re.search(r"pc=([0-9a-f]{8})", line)
    tool = shutil.which("arm-none-eabi-addr2line")
    if not m or not tool:
        return ""
    r = subprocess.run([tool, "-f", "-e", str(build.elf), "0x" + m.group(1)],
                       capture_output=True, text=True)
    parts = r.stdout.split()
    return f" (in {parts[0]} at {parts[1]})" if r.returncode == 0 and len(parts) >= 2 else ""


# ---------------------------------------------------------------------------
# Counting instructions from the execution trace
# ---------------------------------------------------------------------------

def instruction_starts(elf: str | Path) -> list[int]:
    """Sorted addresses of every instruction in ``elf``'s code, from
    arm-none-eabi-objdump (which knows MVE)."""
    r = subprocess.run([_binutil("objdump"), "-d", "-m", "armv8.1-m.main", str(elf)],
                       capture_output=True, text=True)
    if r.returncode:
        raise MicrolithError(f"arm-none-eabi-objdump failed on {Path(elf).name}: "
                             f"{r.stderr[-500:]}", internal=True)
    return sorted({int(m.group(1), 16) for m in map(_INSN.match, r.stdout.splitlines()) if m})


def symbol_address(elf: str | Path, name: str) -> int:
    r = subprocess.run([_binutil("nm"), str(elf)], capture_output=True, text=True)
    for ln in r.stdout.splitlines():
        parts = ln.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise MicrolithError(f"{Path(elf).name} has no symbol {name}", internal=True)


def count_invokes(trace: Iterable[str], entry: int, starts: list[int]
                  ) -> tuple[list[int], dict[str, int]]:
    """Instructions executed by each call of the function at ``entry`` in a
    ``-d exec,nochain,in_asm`` trace (read line by line), and their split by
    function. A call counts from its first block to the first block back in
    ``main``. Blocks are keyed by QEMU's translation-block pointer and pc (a
    block translated again, or twice for different CPU state, is told apart);
    a block's instruction count comes from its translated address range and
    ``starts`` (every instruction address of the ELF)."""
    sizes: dict[tuple[str, int], int] = {}
    pending: tuple[int, int] | None = None  # the block just translated: (pc, count)
    first = end = None
    runs: list[int] = []
    by: dict[str, int] = {}
    total, inside = 0, False
    for ln in trace:
        m = _TB_LINE.match(ln)
        if m:
            addr = int(m.group(1), 16)
            first = addr if first is None else first
            end = addr + 2 * len(m.group(2).split())
            continue
        if first is not None:
            pending = (first, bisect.bisect_left(starts, end) - bisect.bisect_left(starts, first))
            first = end = None
        if not ln.startswith("Trace "):
            continue
        t = _TRACE.match(ln)
        if t is None:
            raise MicrolithError(f"unexpected QEMU trace line: {ln.strip()[:200]}", internal=True)
        pc = int(t.group(2), 16)
        key = (t.group(1), pc)
        if pending is not None and pending[0] == pc:
            sizes[key] = pending[1]
        pending = None
        sym = t.group(3)
        if not inside and pc == entry:
            inside, total = True, 0
        elif inside and sym == "main":
            inside = False
            runs.append(total)
        if inside:
            n = sizes.get(key)
            if n is None:
                raise MicrolithError(f"QEMU trace: the block at {pc:#010x} ran before its "
                                     "translation was logged", internal=True)
            total += n
            by[sym] = by.get(sym, 0) + n
    return runs, by


def _run_traced(cmd: list[str], entry: int, starts: list[int], timeout: float,
                where: str) -> tuple[int, str, float, list[int], dict[str, int]]:
    """Run ``cmd`` with the execution trace written to a pipe and counted as
    it comes. Returns (exit code, console text, seconds, per-call counts, by
    function)."""
    t0 = time.perf_counter()
    r, w = os.pipe()
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen([*cmd, "-d", TRACE_FLAGS, "-D", f"/dev/fd/{w}"],
                                    pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err)
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)

        def kill():
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        read = False
        try:
            with os.fdopen(r, "r", errors="replace") as trace:
                runs, by = count_invokes(trace, entry, starts)
            read = True
        finally:
            timer.cancel()
            if read:  # the trace ended: QEMU is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if timed_out.is_set():
            raise MicrolithError(f"{where} did not finish under QEMU's execution trace "
                                 f"within {timeout:g} s")
        out.seek(0)
        err.seek(0)
        text = err.read().decode("utf-8", "replace") + out.read().decode("utf-8", "replace")
    return proc.returncode, text, time.perf_counter() - t0, runs, by


def invoke_instructions(elf: str | Path, prefix: str = "model", board: str = "mps3-an547",
                        timeout: float = 600) -> tuple[list[int], dict[str, int]]:
    """Instructions executed by each ``{prefix}_invoke()`` call of a harness
    firmware ``elf`` run on QEMU ``board``, and their split by function,
    measured from QEMU's execution trace (see the module docstring)."""
    elf = Path(elf)
    starts = instruction_starts(elf)
    entry = symbol_address(elf, f"{prefix}_invoke")
    where = f"{elf.name} on QEMU {board}"
    code, text, _, runs, by = _run_traced(_command(elf, board), entry, starts, timeout, where)
    if code != 0:
        raise MicrolithError(f"{where} exited with code {code}:\n{text[-2000:]}")
    return runs, by


# ---------------------------------------------------------------------------
# Running a firmware
# ---------------------------------------------------------------------------

def run_qemu(build: ArmBuild, timeout: float = 60, *,
             count_instructions: bool = False) -> QemuResult:
    """Run ``build.elf`` on its board; for harness firmware, parse the outputs
    back with the model's output shapes and types, and the stack peaks.
    ``count_instructions`` runs QEMU with its execution trace and fills
    ``instructions`` (per invoke) and ``instructions_by_function`` (slower)."""
    cmd = qemu_command(build)
    where = f"{build.elf.name} on QEMU {build.board} ({build.core} {build.opt})"
    runs: list[int] = []
    by: dict[str, int] = {}
    if count_instructions:
        starts = instruction_starts(build.elf)
        entry = symbol_address(build.elf, f"{build.prefix}_invoke")
        code, text, seconds, runs, by = _run_traced(cmd, entry, starts, timeout, where)
    else:
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise MicrolithError(f"{build.elf.name} did not finish on QEMU {build.board} "
                                 f"within {timeout:g} s (an endless loop, or a CPU lockup "
                                 "after a fault inside the fault handler)") from None
        seconds = time.perf_counter() - t0
        code = r.returncode
        # Semihosting console output goes to QEMU's stderr, the serial port to stdout.
        text = r.stderr.decode("utf-8", "replace") + r.stdout.decode("utf-8", "replace")
    lines = text.splitlines()
    faults = [ln for ln in lines if ln.startswith("@ml-fault")]
    if faults:
        raise MicrolithError(f"{where} faulted: {faults[0]}{_symbolize(build, faults[0])}")
    if code == EXIT_INVOKE_FAILED and build.firmware == "harness":
        raise MicrolithError(f"{where}: {build.prefix}_invoke() returned an error")
    if code != 0:
        hint = ""
        if "Lockup" in text:
            hint = (" (a CPU lockup: a fault the fault handler could not take, most often the "
                    "stack overflowing its region: give the build a larger stack)")
        raise MicrolithError(f"{where} exited with code {code}{hint}:\n{text[-2000:]}")

    stack = None
    peaks: list[int] = []
    outputs: list[list[np.ndarray]] = []
    if build.firmware == "harness":
        chunks: dict[tuple[int, int], list[str]] = {}
        done = None
        for ln in lines:
            m = _OUT.match(ln)
            if m:
                chunks.setdefault((int(m.group(1)), int(m.group(2))), []).append(m.group(3))
            elif ln.startswith("@ml-stack "):
                stack = int(ln.split()[1])
            elif (s := _STACK_INVOKE.match(ln)) is not None:
                peak, room = int(s.group(2)), int(s.group(3))
                if peak >= room:
                    raise MicrolithError(f"{where}: sample {s.group(1)}'s invoke overflowed "
                                         f"the stack ({room} B below the caller): give the "
                                         "build a larger stack (build_elf stack_bytes)")
                peaks.append(peak)
            elif ln.startswith("@ml-done "):
                done = int(ln.split()[1])
        if done != build.n_samples:
            raise MicrolithError(f"{where} exited without reporting all {build.n_samples} "
                                 f"samples:\n{text[-2000:]}")
        if count_instructions and len(runs) != build.n_samples:
            raise MicrolithError(f"{where}: the execution trace shows {len(runs)} complete "
                                 f"invokes, the harness ran {build.n_samples}", internal=True)
        for s in range(build.n_samples):
            outs = []
            for k, d in enumerate(build.outputs):
                data = bytes.fromhex("".join(chunks.get((s, k), [])))
                dtype = DType(d["dtype"]).numpy
                if len(data) != d["bytes"]:
                    raise MicrolithError(f"{where}: sample {s} output {k} has {len(data)} "
                                         f"bytes, expected {d['bytes']}", internal=True)
                outs.append(np.frombuffer(data, dtype=dtype).reshape(d["shape"]).copy())
            outputs.append(outs)
    return QemuResult(code, outputs, text, seconds, stack, cmd, peaks, runs, by)
