"""Cortex-M builds of generated projects with arm-none-eabi-gcc.

A build links the generated project with microlith's own minimal firmware
(``toolchain/arm/``: vector table, reset handler, fault reporting, semihosting,
one linker script per emulated board) into an ELF that QEMU or Unicorn runs:

- ``firmware="harness"``: a main() that embeds the given input samples as
  const arrays, runs ``<prefix>_invoke`` on each and writes every output byte
  over semihosting as hex lines (``@ml-out <sample> <output> <hex>``), and
  each invoke's peak stack, painted below its stack pointer just before the
  call (``@ml-stack-invoke <sample> <bytes> <room>``), then exits with code 0
  (``microlith.emulate.qemu`` reads them back).
- ``firmware="none"``: only the startup code and a main() that calls
  ``<prefix>_reset()`` and returns; ``<prefix>_invoke``, ``_input``,
  ``_output``, ``_reset`` and the arena stay in the ELF for an emulator that
  calls them directly, with no harness code near the measured path.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MicrolithError
from ..ir import DType

if TYPE_CHECKING:
    from ..codegen import CProject

APT_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi")
INSTALL_HINT = f"sudo apt-get install -y {' '.join(APT_PACKAGES)}"

WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
SECTIONS = ("-ffunction-sections", "-fdata-sections")
OPTS = ("-O2", "-Os")
FIRMWARES = ("harness", "none")


@dataclass(frozen=True)
class Core:
    name: str
    flags: tuple[str, ...]
    board: str  # the QEMU board it runs on by default
    description: str


@dataclass(frozen=True)
class Board:
    name: str  # the QEMU machine (-M)
    cpu: str
    runs: frozenset[str]  # cores whose code this board's CPU executes
    ram_bytes: int
    flash_bytes: int  # code (and constants, unless const_bytes says otherwise)
    const_bytes: int = 0  # a separate region for constants (weights), if any


CORES: dict[str, Core] = {c.name: c for c in (
    Core("cortex-m0plus", ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"),
         "microbit", "ARMv6-M (Thumb-1 only), no FPU, no DSP"),
    Core("cortex-m3", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"),
         "mps2-an385", "ARMv7-M, no FPU, no DSP"),
    Core("cortex-m4f", ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                        "-mfloat-abi=hard"),
         "mps2-an386", "ARMv7E-M with DSP and single-precision FPU"),
    Core("cortex-m7", ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"),
         "mps2-an500", "ARMv7E-M with DSP and double-precision FPU"),
    Core("cortex-m33", ("-mcpu=cortex-m33", "-mthumb", "-mfpu=fpv5-sp-d16",
                        "-mfloat-abi=hard"),
         "mps2-an505", "ARMv8-M Mainline with DSP and single-precision FPU"),
    Core("cortex-m55", ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"),
         "mps3-an547", "ARMv8.1-M with DSP, MVE (Helium) and FPU"),
)}

_V6M = {"cortex-m0plus"}
_V7M = _V6M | {"cortex-m3"}
_V7EM = _V7M | {"cortex-m4f"}
BOARDS: dict[str, Board] = {b.name: b for b in (
    # QEMU has no Cortex-M0+ machine; the micro:bit's nRF51 is a Cortex-M0,
    # the same ARMv6-M instruction set and alignment rules.
    Board("microbit", "cortex-m0", frozenset(_V6M), 16 << 10, 256 << 10),
    Board("mps2-an385", "cortex-m3", frozenset(_V7M), 4 << 20, 4 << 20),
    Board("mps2-an386", "cortex-m4", frozenset(_V7EM), 4 << 20, 4 << 20),
    Board("mps2-an500", "cortex-m7", frozenset(_V7EM | {"cortex-m7"}), 4 << 20, 4 << 20),
    Board("mps2-an505", "cortex-m33", frozenset(_V7EM | {"cortex-m33"}), 4 << 20, 4 << 20),
    Board("mps3-an547", "cortex-m55",
          frozenset(_V7EM | {"cortex-m7", "cortex-m33", "cortex-m55"}), 4 << 20, 512 << 10,
          16 << 20),
)}


@dataclass
class ArmBuild:
    elf: Path
    core: str
    board: str
    opt: str
    command: list[str]
    map_file: Path
    firmware: str = "harness"
    prefix: str = "model"
    n_samples: int = 0
    inputs: list[dict] = field(default_factory=list)   # model.json "inputs"
    outputs: list[dict] = field(default_factory=list)  # model.json "outputs"
    cached: bool = False


def find_arm_gcc() -> str:
    gcc = shutil.which("arm-none-eabi-gcc")
    if not gcc:
        raise MicrolithError("arm-none-eabi-gcc not found: Cortex-M builds need the GNU Arm "
                             f"toolchain and newlib (`{INSTALL_HINT}`)")
    libc = subprocess.run([gcc, "-mcpu=cortex-m3", "-mthumb", "--specs=nano.specs",
                           "-print-file-name=libc_nano.a"], capture_output=True, text=True)
    if libc.returncode or not Path(libc.stdout.strip()).is_absolute():
        raise MicrolithError("arm-none-eabi-gcc has no C library: install newlib "
                             f"(`{INSTALL_HINT}`)")
    return gcc


def firmware_dir() -> Path:
    """The startup code and linker scripts (package data)."""
    return Path(str(resources.files("microlith.toolchain") / "arm"))


def check_core_board(core: str, board: str | None) -> tuple[Core, Board]:
    if core not in CORES:
        raise MicrolithError(f"unknown core {core!r}; choose one of {', '.join(CORES)}")
    c = CORES[core]
    name = board or c.board
    if name not in BOARDS:
        raise MicrolithError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
    b = BOARDS[name]
    if core not in b.runs:
        fits = [n for n, bd in BOARDS.items() if core in bd.runs]
        raise MicrolithError(f"{core} code does not run on {name} (a {b.cpu}); boards that "
                             f"run it: {', '.join(fits)}")
    return c, b


def _hex_bytes(data: bytes, per_line: int = 24) -> str:
    items = [f"0x{v:02x}" for v in data]
    return ",\n  ".join(", ".join(items[i:i + per_line])
                        for i in range(0, len(items), per_line))


def _harness_c(prefix: str, inputs: list[dict], samples: list[list[np.ndarray]]) -> str:
    blob = bytearray()
    for k, sample in enumerate(samples):
        if len(sample) != len(inputs):
            raise MicrolithError(f"sample {k} has {len(sample)} inputs; the model takes "
                                 f"{len(inputs)}")
        for d, arr in zip(inputs, sample, strict=True):
            a = np.ascontiguousarray(arr, dtype=DType(d["dtype"]).numpy)
            if list(a.shape) != list(d["shape"]):
                raise MicrolithError(f"sample {k}: input {d['name']!r} must have shape "
                                     f"{d['shape']}, got {list(a.shape)}")
            blob += a.tobytes()
    P, p = prefix.upper(), prefix
    return f"""/* Generated by microlith: Cortex-M harness. Runs {len(samples)} embedded
 * sample(s) through {p}_invoke() and writes every output byte over semihosting
 * as lines "@ml-out <sample> <output> <hex>". */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ml_firmware.h"
#include "model.h"

#define ML_NUM_SAMPLES {len(samples)}u
#define ML_CHUNK 32u

extern uint32_t __stack_start[]; /* ml_sections.ld */

static const uint8_t ml_samples[{max(len(blob), 1)}] __attribute__((aligned(16))) = {{
  {_hex_bytes(bytes(blob)) or "0"}
}};

static char *ml_put_str(char *p, const char *s) {{
  while (*s) *p++ = *s++;
  return p;
}}

static char *ml_put_uint(char *p, uint32_t v) {{
  char digits[10];
  int n = 0;
  do {{
    digits[n++] = (char)('0' + v % 10u);
    v /= 10u;
  }} while (v);
  while (n) *p++ = digits[--n];
  return p;
}}

static void ml_emit(uint32_t sample, uint32_t output, const uint8_t *data, size_t n) {{
  static const char hex[] = "0123456789abcdef";
  char line[40 + 2 * ML_CHUNK];
  size_t pos = 0, k;
  do {{
    size_t len = n - pos < ML_CHUNK ? n - pos : ML_CHUNK;
    char *p = ml_put_str(line, "@ml-out ");
    p = ml_put_uint(p, sample);
    *p++ = ' ';
    p = ml_put_uint(p, output);
    *p++ = ' ';
    for (k = 0; k < len; ++k) {{
      *p++ = hex[data[pos + k] >> 4];
      *p++ = hex[data[pos + k] & 0xFu];
    }}
    *p++ = '\\n';
    *p = '\\0';
    ml_semihost_write0(line);
    pos += len;
  }} while (pos < n);
}}

int main(void) {{
  const uint8_t *in = ml_samples;
  uint32_t s, peak, whole = 0u, j;
  uint32_t *sp, *w;
  char *q;
  int i;
  char line[64];
  ml_stack_paint();
  {p}_reset();
  /* main()'s frame is fixed: this is the stack pointer {p}_invoke() gets. */
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (s = 0; s < ML_NUM_SAMPLES; ++s) {{
    for (i = 0; i < {P}_NUM_INPUTS; ++i) {{
      size_t n = {p}_input_bytes(i);
      memcpy({p}_input(i), in, n);
      in += n;
    }}
    peak = ml_stack_peak_bytes(); /* the whole run's peak so far */
    whole = peak > whole ? peak : whole;
    /* Paint everything below the invoke's stack pointer, here in main()
     * (a called function's own frame would be painted over); after the call
     * the lowest byte that changed gives its peak: "@ml-stack-invoke
     * <sample> <peak bytes> <bytes below the stack pointer>". */
    for (w = __stack_start; w < sp; ++w) *w = ML_STACK_PAINT;
    if ({p}_invoke() != {P}_OK) {{
      ml_semihost_write0("@ml-error invoke failed\\n");
      return ML_EXIT_INVOKE_FAILED;
    }}
    for (w = __stack_start; w < sp && *w == ML_STACK_PAINT; ++w) {{
    }}
    peak = 0u;
    if (w < sp) {{
      for (j = 0u; j < 3u && (((*w ^ ML_STACK_PAINT) >> (8u * j)) & 0xFFu) == 0u; ++j) {{
      }}
      peak = (uint32_t)((uintptr_t)sp - ((uintptr_t)w + j));
    }}
    q = ml_put_uint(ml_put_str(line, "@ml-stack-invoke "), s);
    q = ml_put_uint(ml_put_str(q, " "), peak);
    q = ml_put_uint(ml_put_str(q, " "), (uint32_t)((uintptr_t)sp - (uintptr_t)__stack_start));
    *ml_put_str(q, "\\n") = '\\0';
    ml_semihost_write0(line);
    for (i = 0; i < {P}_NUM_OUTPUTS; ++i) {{
      ml_emit(s, (uint32_t)i, (const uint8_t *){p}_output(i), {p}_output_bytes(i));
    }}
  }}
  peak = ml_stack_peak_bytes();
  *ml_put_uint(ml_put_str(line, "@ml-stack "), peak > whole ? peak : whole) = '\\0';
  ml_semihost_write0(line);
  *ml_put_uint(ml_put_str(line, "\\n@ml-done "), ML_NUM_SAMPLES) = '\\0';
  ml_semihost_write0(line);
  ml_semihost_write0("\\n");
  return ML_EXIT_OK;
}}
"""


def _none_c(prefix: str) -> str:
    return f"""/* Generated by microlith: Cortex-M firmware without a harness. An emulator
 * calls {prefix}_reset/_input/_invoke/_output directly; main() only resets. */
#include "ml_firmware.h"
#include "model.h"

int main(void) {{
  {prefix}_reset();
  return ML_EXIT_OK;
}}
"""


KEEP_SYMBOLS = ("invoke", "input", "output", "reset", "input_bytes", "output_bytes")


def _slot_script(board: Board, offset: int, limit: int | None) -> str:
    """The board's linker script with code and constants moved into one flash
    slot: FLASH starts ``offset`` bytes into the board's flash and is at most
    ``limit`` bytes long; RODATA is FLASH (an image in a slot holds
    everything)."""
    text = (firmware_dir() / f"{board.name}.ld").read_text(encoding="utf-8")
    m = re.search(r"FLASH \(rx\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+|\d+)\s*,\s*"
                  r"LENGTH\s*=\s*(\d+)([KM]?)", text)
    if not m:
        raise MicrolithError(f"{board.name}.ld has no FLASH region line", internal=True)
    origin = int(m.group(1), 0)
    length = int(m.group(2)) << {"": 0, "K": 10, "M": 20}[m.group(3)]
    if offset < 0 or offset % 4 or offset >= length:
        raise MicrolithError(f"flash offset {offset:#x} must be a multiple of 4 inside the "
                             f"{length >> 10} KB flash of {board.name}")
    size = length - offset if limit is None else min(limit, length - offset)
    if size <= 0:
        raise MicrolithError(f"flash slot size {limit} must be positive")
    text = (text[:m.start()] + f"FLASH (rx)  : ORIGIN = {origin + offset:#010x}, "
            f"LENGTH = {size:#x}" + text[m.end():])
    text = re.sub(r'REGION_ALIAS\("RODATA",\s*\w+\);', 'REGION_ALIAS("RODATA", FLASH);', text)
    return (f"/* Generated by microlith from {board.name}.ld: the application linked "
            f"to run from a flash slot at {origin + offset:#010x}. */\n" + text)


def build_elf(project: CProject, core: str, opt: str = "-O2", board: str | None = None,
              firmware: str = "harness", samples: list[list[np.ndarray]] | None = None,
              out: Path | None = None, *, stack_bytes: int | None = None,
              extra_cflags: tuple[str, ...] | list[str] = (), flash_offset: int = 0,
              flash_limit: int | None = None) -> ArmBuild:
    """Build ``project`` for ``core`` into an ELF for ``board`` (default: the
    core's own emulated board). ``out`` is the ELF path (default:
    ``<project>/arm/<core>-<board><opt>-<firmware>.elf``, next to it the
    generated ``..._main.c`` and the ``.map``). ``stack_bytes`` overrides the
    board's stack region size. ``extra_cflags`` go to the compiler after the
    core's flags (``("-DML_PORTABLE",)`` builds the portable kernels even on a
    core with DSP instructions). ``flash_offset`` links code and constants
    that many bytes into the board's flash (e.g. after an MCUboot header) and
    ``flash_limit`` caps their size (a slot); both go through a linker script
    written next to the ELF. Rebuilds only when a source or the command
    changed."""
    c, b = check_core_board(core, board)
    if opt not in OPTS:
        raise MicrolithError(f"opt must be one of {', '.join(OPTS)}, not {opt!r}")
    if firmware not in FIRMWARES:
        raise MicrolithError(f"firmware must be one of {', '.join(FIRMWARES)}, "
                             f"not {firmware!r}")
    gcc = find_arm_gcc()
    src = Path(project.path)
    prefix = project.prefix
    inputs, outputs = project.meta["inputs"], project.meta["outputs"]
    if firmware == "harness":
        if samples is None:  # one all-zero sample
            samples = [[np.zeros(d["shape"], DType(d["dtype"]).numpy) for d in inputs]]
        if not samples:
            raise MicrolithError("the harness firmware needs at least one sample")
        main_c = _harness_c(prefix, inputs, samples)
    else:
        samples = []
        main_c = _none_c(prefix)

    elf = Path(out) if out else src / "arm" / f"{core}-{b.name}{opt}-{firmware}.elf"
    elf.parent.mkdir(parents=True, exist_ok=True)
    main_path = elf.with_name(elf.stem + "_main.c")
    map_file = elf.with_suffix(".map")
    fw = firmware_dir()
    sources = [str(main_path), str(fw / "ml_startup.c"), str(fw / "ml_semihost.c")]
    sources += sorted(str(f) for f in src.glob("*.c"))
    sources += sorted(str(f) for f in (src / "kernels").glob("*.c"))
    cmd = [gcc, *c.flags, opt, *WARNINGS, *SECTIONS, *extra_cflags, "-g",
           f"-I{src}", f"-I{src / 'kernels'}", f"-I{fw}",
           "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
           f"-L{fw}", f"-T{b.name}.ld", "-Xlinker", f"-Map={map_file}"]
    slot_script = None
    if flash_offset or flash_limit is not None:
        slot_script = _slot_script(b, int(flash_offset), flash_limit)
        cmd[cmd.index(f"-T{b.name}.ld")] = f"-T{elf.with_suffix('.ld')}"
    cmd += [f"-Wl,--undefined={prefix}_{s}" for s in KEEP_SYMBOLS]
    if stack_bytes is not None:
        cmd.append(f"-Wl,--defsym=__stack_size={int(stack_bytes)}")
    cmd += [*sources, "-o", str(elf), "-lm"]

    digest = hashlib.sha256("\0".join(cmd).encode() + main_c.encode()
                            + (slot_script or "").encode())
    for s in sources[1:]:
        digest.update(Path(s).read_bytes())
    for f in sorted(fw.glob("*")):
        digest.update(f.read_bytes())
    for f in sorted(src.glob("*.h")) + sorted((src / "kernels").glob("*.h")):
        digest.update(f.read_bytes())
    stamp = elf.with_suffix(".sha256")
    build = ArmBuild(elf, core, b.name, opt, cmd, map_file, firmware, prefix, len(samples),
                     inputs, outputs)
    if elf.exists() and stamp.exists() and stamp.read_text() == digest.hexdigest():
        build.cached = True
        return build
    main_path.write_text(main_c, encoding="utf-8")
    if slot_script is not None:
        elf.with_suffix(".ld").write_text(slot_script, encoding="utf-8")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        text = result.stderr or result.stdout
        if "will not fit in region" in text or "overflowed by" in text:
            const = f", {b.const_bytes >> 10} KB for constants" if b.const_bytes else ""
            raise MicrolithError(
                f"the model does not fit {b.name} ({b.flash_bytes >> 10} KB flash{const}, "
                f"{b.ram_bytes >> 10} KB RAM) when built for {core}:\n" + text[-2000:])
        raise MicrolithError(f"the {core} build with arm-none-eabi-gcc failed (a microlith "
                             "bug):\n" + text[-4000:], internal=True)
    stamp.write_text(digest.hexdigest())
    return build
