"""Run a Cortex-M build of a generated project in Unicorn: outputs, executed
instructions (counted exactly), peak stack and ELF section sizes.

The ELF is loaded from its program headers (flash and RAM segments mapped,
.data copied to its VMA, .bss zeroed here: the reset handler never runs), and
the model API is called directly: ``<prefix>_reset`` once, then per sample
``<prefix>_input(i)`` / ``<prefix>_invoke`` / ``<prefix>_output(i)``, each as
a Thumb call with SP at the stack top and LR at a magic return address.

Counting: a basic-block hook (UC_HOOK_BLOCK) adds the number of instructions
in the block, decoded once per (address, size) from the Thumb-2 halfword
widths. A per-instruction hook would undercount inside IT blocks, so it is not
used. The translation cache is flushed before every call so block boundaries
are the same on every run.

A Python block hook costs about 0.5 us per block (KWS: 3.4 M blocks), so by
default the same count is made by a ten-line C hook built once with the host
compiler and handed to Unicorn directly; it decodes each block from a copy of
the loaded segments with the same halfword rule. ``counter="python"`` forces
the Python hook (the reference the tests compare the C hook against).

Per layer (``run_unicorn(..., calls=...)``): a second block hook, over the
``<prefix>_invoke`` function's own address range only, reads the running
count at each of its blocks (the counting hook was added first, so it has
already counted the block). ``<prefix>_invoke`` is a static sequence of
kernel calls, each ending a block with a BL: the instructions executed
between the end of such a block and the next invoke block are the callee's
(with everything it calls), and the invoke blocks' own instructions (argument
setup, prologue, epilogue) form an ``invoke`` row. The BL targets, decoded
from the code, must be the functions of model.json's "calls" list in order,
or it is an error: nothing is attributed by position alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MicrolithError

PAGE = 0x1000
STACK_PATTERN = bytes([0xA5, 0x5A, 0xC3, 0x3C])
DEFAULT_STACK_BYTES = 64 * 1024

# Our core ids -> the Unicorn CPU model that runs them. Unicorn 2 has no
# Cortex-M55/M85 model: those builds run on the M33 model (Armv8-M Mainline +
# FPU + DSP), which executes everything but Helium (MVE) instructions.
UNICORN_CPU = {
    "cortex-m0": "UC_CPU_ARM_CORTEX_M0", "cortex-m0plus": "UC_CPU_ARM_CORTEX_M0",
    "cortex-m3": "UC_CPU_ARM_CORTEX_M3", "cortex-m4": "UC_CPU_ARM_CORTEX_M4",
    "cortex-m4f": "UC_CPU_ARM_CORTEX_M4", "cortex-m7": "UC_CPU_ARM_CORTEX_M7",
    "cortex-m33": "UC_CPU_ARM_CORTEX_M33", "cortex-m55": "UC_CPU_ARM_CORTEX_M33",
    "cortex-m85": "UC_CPU_ARM_CORTEX_M33",
}
# Tag_CPU_arch of .ARM.attributes -> a core id (when the caller names none).
_ARCH_CORE = {11: "cortex-m0plus", 12: "cortex-m0plus", 10: "cortex-m3", 13: "cortex-m4f",
              16: "cortex-m33", 17: "cortex-m33", 21: "cortex-m55"}
_FPU_CORES = {"cortex-m4f", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-m85"}


def _unicorn():
    try:
        import unicorn
        from unicorn import arm_const
    except ImportError:
        raise MicrolithError("running Cortex-M builds needs the 'unicorn' package: "
                             "pip install unicorn pyelftools") from None
    return unicorn, arm_const


def _elffile(path: Path):
    try:
        from elftools.elf.elffile import ELFFile
    except ImportError:
        raise MicrolithError("reading ELF files needs the 'pyelftools' package: "
                             "pip install pyelftools") from None
    return ELFFile(path.open("rb"))


def thumb_instruction_count(code: bytes) -> int:
    """Instructions in a run of Thumb code that starts on an instruction: a
    halfword whose top five bits are 0b11101, 0b11110 or 0b11111 opens a
    32-bit instruction, every other one is a 16-bit instruction."""
    n = i = 0
    end = len(code) - 1
    while i < end:
        top = code[i + 1] >> 3
        i += 4 if top >= 0x1D else 2
        n += 1
    return n


def _last_instruction(code: bytes) -> int:
    """Offset of the last instruction in a run of Thumb code (same rule as
    ``thumb_instruction_count``)."""
    i = last = 0
    end = len(code) - 1
    while i < end:
        last = i
        i += 4 if code[i + 1] >> 3 >= 0x1D else 2
    return last


def bl_target(code: bytes, address: int) -> int | None:
    """The target of the BL (T1, immediate) that ends the Thumb code at
    ``address``, or None when its last instruction is not a BL."""
    if len(code) < 4:
        return None
    off = _last_instruction(code)
    if off + 4 != len(code):
        return None
    hw1 = int.from_bytes(code[off:off + 2], "little")
    hw2 = int.from_bytes(code[off + 2:off + 4], "little")
    if hw1 >> 11 != 0b11110 or hw2 & 0xD000 != 0xD000:
        return None
    s = (hw1 >> 10) & 1
    j1, j2 = (hw2 >> 13) & 1, (hw2 >> 11) & 1
    i1, i2 = 1 - (j1 ^ s), 1 - (j2 ^ s)
    imm = (s << 24) | (i1 << 23) | (i2 << 22) | ((hw1 & 0x3FF) << 12) | ((hw2 & 0x7FF) << 1)
    if s:
        imm -= 1 << 25
    return (address + off + 4 + imm) & 0xFFFFFFFF


@dataclass
class InvokeBlock:
    """One executed block of the invoke function: where, its own instruction
    count, the running count after it, and the function its closing BL calls."""
    address: int
    instructions: int
    count_after: int
    calls: int | None


_COUNTER_C = r"""
#include <stdint.h>
typedef struct { uint64_t lo, hi; const uint8_t *bytes; } ml_region;
typedef struct {
  uint64_t count, blocks, misses, magic;
  int32_t enabled, nregions;
  ml_region regions[32];
} ml_counter;
/* Unicorn UC_HOOK_BLOCK callback: add the Thumb instructions of the block. */
void ml_count_block(void *uc, uint64_t address, uint32_t size, void *user) {
  ml_counter *c = (ml_counter *)user;
  (void)uc;
  if (!c->enabled || address == c->magic) return;
  for (int32_t r = 0; r < c->nregions; r++) {
    const ml_region *g = &c->regions[r];
    if (address >= g->lo && address + size <= g->hi) {
      const uint8_t *p = g->bytes + (address - g->lo);
      uint32_t i = 0, n = 0;
      while (i + 1 < size) { i += (p[i + 1] >> 3) >= 0x1D ? 4 : 2; n++; }
      c->count += n;
      c->blocks++;
      return;
    }
  }
  c->misses++;
}
"""
_MAX_REGIONS = 32


class _Region(ctypes.Structure):
    _fields_ = [("lo", ctypes.c_uint64), ("hi", ctypes.c_uint64),
                ("bytes", ctypes.c_void_p)]


class _Counter(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint64), ("blocks", ctypes.c_uint64),
                ("misses", ctypes.c_uint64), ("magic", ctypes.c_uint64),
                ("enabled", ctypes.c_int32), ("nregions", ctypes.c_int32),
                ("regions", _Region * _MAX_REGIONS)]


_native_lib = None


def _native_counter():
    """The compiled C block hook (built once per machine), or None when no
    host C compiler works."""
    global _native_lib
    if _native_lib is not None:
        return _native_lib or None
    from ..toolchain.host import find_cc
    try:
        cc = find_cc()
    except MicrolithError:
        _native_lib = False
        return None
    key = hashlib.sha256((_COUNTER_C + cc).encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / "microlith-emulate"
    lib = root / f"blockcount-{key}.so"
    if not lib.exists():
        root.mkdir(parents=True, exist_ok=True)
        src = root / f"blockcount-{key}.c"
        src.write_text(_COUNTER_C, encoding="utf-8")
        tmp = root / f"blockcount-{key}.{time.time_ns()}.so"
        r = subprocess.run([cc, "-O2", "-shared", "-fPIC", str(src), "-o", str(tmp)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            _native_lib = False
            return None
        tmp.replace(lib)
    _native_lib = ctypes.CDLL(str(lib))
    return _native_lib


# ---------------------------------------------------------------------------
# ELF reading
# ---------------------------------------------------------------------------

@dataclass
class _Segment:
    vaddr: int
    paddr: int
    data: bytes
    memsz: int


@dataclass
class ElfImage:
    path: Path
    segments: list[_Segment]
    symbols: dict[str, tuple[int, int, str, str]]  # name -> (value, size, type, bind)
    sections: list[dict]
    core: str | None  # from .ARM.attributes
    has_fp: bool

    def address(self, name: str) -> int:
        if name not in self.symbols:
            raise MicrolithError(f"symbol {name!r} is not in {self.path.name} (was it "
                                 "garbage-collected by the linker?)")
        return self.symbols[name][0] & ~1


def read_elf(path: str | Path) -> ElfImage:
    path = Path(path)
    if not path.is_file():
        raise MicrolithError(f"no ELF file at {path}")
    elf = _elffile(path)
    try:
        if elf["e_machine"] != "EM_ARM":
            raise MicrolithError(f"{path.name} is not an Arm ELF ({elf['e_machine']})")
        segments = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            segments.append(_Segment(seg["p_vaddr"], seg["p_paddr"], seg.data(),
                                     seg["p_memsz"]))
        symbols: dict[str, tuple[int, int, str, str]] = {}
        symtab = elf.get_section_by_name(".symtab")
        if symtab is None:
            raise MicrolithError(f"{path.name} has no symbol table (stripped?)")
        for s in symtab.iter_symbols():
            if not s.name or s["st_info"]["type"] in ("STT_FILE", "STT_SECTION"):
                continue
            entry = (s["st_value"], s["st_size"], s["st_info"]["type"], s["st_info"]["bind"])
            # a global definition wins over a same-named local one
            if s.name not in symbols or entry[3] == "STB_GLOBAL":
                symbols[s.name] = entry
        sections = []
        for sec in elf.iter_sections():
            flags = sec["sh_flags"]
            if not flags & 0x2:  # SHF_ALLOC
                continue
            sections.append({"name": sec.name, "addr": sec["sh_addr"], "size": sec["sh_size"],
                             "nobits": sec["sh_type"] == "SHT_NOBITS",
                             "write": bool(flags & 0x1), "exec": bool(flags & 0x4)})
        core, has_fp = None, False
        attrs = elf.get_section_by_name(".ARM.attributes")
        if attrs is not None:
            try:
                tags = {a.tag: a.value for sub in attrs.iter_subsections()
                        for ss in sub.iter_subsubsections() for a in ss.iter_attributes()}
            except Exception:  # noqa: BLE001 - attributes are advisory only
                tags = {}
            core = _ARCH_CORE.get(tags.get("TAG_CPU_ARCH"))
            has_fp = bool(tags.get("TAG_FP_ARCH"))
            if core == "cortex-m4f" and not has_fp:
                core = "cortex-m4"
    finally:
        elf.stream.close()
    return ElfImage(path, segments, symbols, sections, core, has_fp)


_STACK_SECTIONS = {".stack", "._stack", ".heap", "._heap", "._user_heap_stack", ".stack_dummy"}


def section_sizes(elf: str | Path | ElfImage, prefix: str) -> dict:
    """Flash and static RAM of an ELF, measured from its section headers and
    symbol sizes. flash = text + rodata + data (its load image), split into
    weights (``<prefix>_w*`` and ``<prefix>_n*_*`` objects) and code (the rest);
    static RAM = data + bss, split into arena, scratch, state and other.
    Sections reserving the stack or heap are reported apart, not as static RAM."""
    img = elf if isinstance(elf, ElfImage) else read_elf(elf)
    text = rodata = data = bss = reserved = 0
    flash_ranges, ram_ranges = [], []
    per_section = {}
    for s in img.sections:
        if s["size"] == 0:
            continue
        lo, hi = s["addr"], s["addr"] + s["size"]
        if s["nobits"] and s["name"] in _STACK_SECTIONS:
            reserved += s["size"]
            kind = "reserved"
        elif s["nobits"]:
            bss += s["size"]
            ram_ranges.append((lo, hi))
            kind = "bss"
        elif s["write"]:
            data += s["size"]
            ram_ranges.append((lo, hi))
            kind = "data"
        elif s["exec"]:
            text += s["size"]
            flash_ranges.append((lo, hi))
            kind = "text"
        else:
            rodata += s["size"]
            flash_ranges.append((lo, hi))
            kind = "rodata"
        per_section[s["name"]] = {"addr": s["addr"], "size": s["size"], "kind": kind}

    def inside(addr: int, ranges) -> bool:
        return any(lo <= addr < hi for lo, hi in ranges)

    w_re = re.compile(rf"^{re.escape(prefix)}_(w\d+|n\d+_[A-Za-z0-9_]+)$")
    weights, seen = 0, set()
    for name, (value, size, typ, _bind) in img.symbols.items():
        if typ == "STT_OBJECT" and size and w_re.match(name) and (value, size) not in seen \
                and inside(value, flash_ranges):
            seen.add((value, size))
            weights += size

    def ram_sym(pattern: str) -> int:
        rx = re.compile(rf"^{re.escape(prefix)}_{pattern}$")
        return sum(size for name, (value, size, typ, _b) in img.symbols.items()
                   if typ == "STT_OBJECT" and rx.match(name) and inside(value, ram_ranges))

    arena, scratch, state = ram_sym("arena"), ram_sym("scratch"), ram_sym(r"state\d+")
    flash_total = text + rodata + data
    ram_total = data + bss
    return {
        "flash": {"total": flash_total, "code": flash_total - weights, "weights": weights,
                  "text": text, "rodata": rodata, "data_init": data},
        "ram": {"total": ram_total, "arena": arena, "scratch": scratch, "state": state,
                "other": ram_total - arena - scratch - state, "data": data, "bss": bss},
        "reserved_stack_heap": reserved,
        "sections": per_section,
        "method": "measured: ELF section headers and symbol sizes (pyelftools)",
    }


# ---------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------

def _page_down(a: int) -> int:
    return a & ~(PAGE - 1)


def _page_up(a: int) -> int:
    return (a + PAGE - 1) & ~(PAGE - 1)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


class CortexM:
    """A loaded Cortex-M ELF in Unicorn whose functions can be called, with
    executed instructions counted exactly and the stack peak measured."""

    def __init__(self, elf: str | Path | ElfImage, core: str | None = None,
                 stack_bytes: int | None = None, counter: str = "auto"):
        uc_mod, arm = _unicorn()
        self._arm = arm
        self.image = elf if isinstance(elf, ElfImage) else read_elf(elf)
        self.core = core or self.image.core or "cortex-m4f"
        if self.core not in UNICORN_CPU:
            raise MicrolithError(f"no Unicorn model for core {self.core!r}")
        self.cpu_model = UNICORN_CPU[self.core].removeprefix("UC_CPU_ARM_").replace("_", "-")
        self.uc = uc_mod.Uc(uc_mod.UC_ARCH_ARM, uc_mod.UC_MODE_THUMB | uc_mod.UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(getattr(arm, UNICORN_CPU[self.core]))
        self.UcError = uc_mod.UcError
        self._map_image(stack_bytes)
        if self.core in _FPU_CORES or self.image.has_fp:
            self._enable_fpu()
        self._block_counts: dict[tuple[int, int], int] = {}
        self._count = 0
        self._counting = False
        uc = self.uc
        if counter not in ("auto", "native", "python"):
            raise MicrolithError(f"counter must be auto, native or python, not {counter!r}",
                                 internal=True)
        lib = _native_counter() if counter != "python" else None
        if counter == "native" and lib is None:
            raise MicrolithError("the native instruction counter needs a host C compiler")
        self._native = None
        if lib is not None:
            self._install_native(lib, uc_mod)
        else:
            uc.hook_add(uc_mod.UC_HOOK_BLOCK, self._on_block)
        self.counter = "native" if self._native is not None else "python"
        uc.hook_add(uc_mod.UC_HOOK_CODE, self._on_return, begin=self.magic,
                    end=self.magic + 1)
        self._flush = getattr(uc, "ctl_flush_tb", None)
        if self._flush is None:
            self._flush = lambda: uc.ctl_remove_cache(0, 0xFFFFFFFF)

    # -- memory ------------------------------------------------------------
    def _map_image(self, stack_bytes: int | None) -> None:
        img = self.image
        ranges = []
        for seg in img.segments:
            ranges.append((_page_down(seg.vaddr), _page_up(seg.vaddr + seg.memsz)))
            if seg.data and seg.paddr != seg.vaddr:
                ranges.append((_page_down(seg.paddr), _page_up(seg.paddr + len(seg.data))))
        sym = img.symbols
        if "__stack_start" in sym and "__stack_end" in sym:
            lo, hi = sym["__stack_start"][0], sym["__stack_end"][0]
            if stack_bytes is not None:
                lo = max(lo, hi - stack_bytes)
        else:  # no stack symbols: a stack of our own above everything else
            top = max((hi for _lo, hi in ranges), default=0x20000000)
            lo = _page_up(top) + PAGE
            hi = lo + (stack_bytes or DEFAULT_STACK_BYTES)
        if hi <= lo:
            raise MicrolithError(f"{img.path.name}: empty stack region")
        self.stack_lo, self.stack_top = lo, hi & ~7
        ranges.append((_page_down(lo), _page_up(hi)))
        self.regions = _merge(ranges)
        for lo_, hi_ in self.regions:
            self.uc.mem_map(lo_, hi_ - lo_)
        for seg in img.segments:
            image = seg.data + bytes(seg.memsz - len(seg.data))  # .bss zeroed here
            self.uc.mem_write(seg.vaddr, image)
            if seg.data and seg.paddr != seg.vaddr:  # the flash copy of .data
                self.uc.mem_write(seg.paddr, seg.data)
        for cand in (0x0FFF0000, 0x1FFF0000, 0x3FFF0000, 0x5FFF0000, 0x7FFF0000):
            if not any(lo_ < cand + PAGE and cand < hi_ for lo_, hi_ in self.regions):
                self.magic = cand
                break
        else:
            raise MicrolithError("no free page for the return address")
        self.uc.mem_map(self.magic, PAGE)
        self.uc.mem_write(self.magic, b"\xfe\xe7" * (PAGE // 2))  # b . (never reached)

    def _enable_fpu(self) -> None:
        arm = self._arm
        # CPACR: CP10 and CP11 full access (what startup code writes to
        # 0xE000ED88); FPEXC.EN for cores that model it. Unicorn's M-profile
        # models may already have them set; either way hard-float code runs.
        for reg, value in (("UC_ARM_REG_C1_C0_2", 0xF << 20), ("UC_ARM_REG_FPEXC", 1 << 30)):
            with contextlib.suppress(self.UcError, AttributeError):
                self.uc.reg_write(getattr(arm, reg), value)

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))

    def write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, data)

    # -- hooks ---------------------------------------------------------------
    def _on_block(self, uc, address, size, _user) -> None:
        if not self._counting or address == self.magic:
            return
        key = (address, size)
        n = self._block_counts.get(key)
        if n is None:
            n = thumb_instruction_count(bytes(uc.mem_read(address, size)))
            self._block_counts[key] = n
        self._count += n

    def _install_native(self, lib, uc_mod) -> None:
        segs = [seg for seg in self.image.segments if seg.data]
        if len(segs) > _MAX_REGIONS:
            return
        from unicorn.unicorn_py3.unicorn import uclib
        c = _Counter()
        c.magic = self.magic
        # the code as loaded: every segment with file contents at its VMA
        self._native_buffers = []
        for i, seg in enumerate(segs):
            buf = ctypes.create_string_buffer(seg.data, len(seg.data))
            self._native_buffers.append(buf)
            c.regions[i] = _Region(seg.vaddr, seg.vaddr + len(seg.data), ctypes.addressof(buf))
        c.nregions = len(segs)
        handle = ctypes.c_size_t()
        fn = ctypes.cast(lib.ml_count_block, ctypes.c_void_p)
        status = uclib.uc_hook_add(self.uc._uch, ctypes.cast(ctypes.byref(handle),
                                   ctypes.POINTER(ctypes.c_ulong)), uc_mod.UC_HOOK_BLOCK,
                                   fn, ctypes.addressof(c), 1, 0)
        if status != 0:
            return
        self._native = c
        self._native_fn = fn

    def _on_return(self, uc, _address, _size, _user) -> None:
        uc.emu_stop()

    # -- calls ---------------------------------------------------------------
    def call_traced(self, func: str, *args: int,
                    timeout_s: float = 600.0) -> tuple[int, int, int, list[InvokeBlock]]:
        """``call``, also recording every block executed inside ``func``'s own
        code (its symbol's address range): the running instruction count
        after it and the target of the BL that ends it. The counting hook was
        added before this one, so each reading already includes its block."""
        uc_mod, _ = _unicorn()
        value, size, _typ, _bind = self.image.symbols.get(func, (None, 0, "", ""))
        if value is None or size <= 0:
            raise MicrolithError(f"symbol {func!r} (with a size) is not in "
                                 f"{self.image.path.name}")
        lo = value & ~1
        seen: list[tuple[int, int, int]] = []
        native = self._native

        def on_block(_uc, address, bsize, _user):
            if self._counting:
                seen.append((address, bsize, native.count if native is not None
                             else self._count))

        hook = self.uc.hook_add(uc_mod.UC_HOOK_BLOCK, on_block, begin=lo, end=lo + size - 1)
        try:
            r0, n, peak = self.call(func, *args, timeout_s=timeout_s)
        finally:
            self.uc.hook_del(hook)
        blocks, cache = [], {}
        for address, bsize, count in seen:
            key = (address, bsize)
            if key not in cache:
                code = self.read(address, bsize)
                cache[key] = (thumb_instruction_count(code), bl_target(code, address))
            own, target = cache[key]
            blocks.append(InvokeBlock(address, own, count, target))
        return r0, n, peak, blocks

    def call(self, func: str | int, *args: int, timeout_s: float = 600.0) -> tuple[int, int, int]:
        """Call a function (name or address) with up to four integer arguments.
        Returns (r0, executed instructions, stack peak bytes)."""
        arm = self._arm
        addr = self.image.address(func) if isinstance(func, str) else func & ~1
        if len(args) > 4:
            raise MicrolithError("at most four register arguments", internal=True)
        uc = self.uc
        size = self.stack_top - self.stack_lo
        uc.mem_write(self.stack_lo, (STACK_PATTERN * (size // 4 + 1))[:size])
        for i, a in enumerate(args):
            uc.reg_write(arm.UC_ARM_REG_R0 + i, a & 0xFFFFFFFF)
        uc.reg_write(arm.UC_ARM_REG_SP, self.stack_top)
        uc.reg_write(arm.UC_ARM_REG_LR, self.magic | 1)
        self._flush()
        self._count = 0
        native = self._native
        if native is not None:
            native.count = native.misses = native.blocks = 0
            native.enabled = 1
        self._counting = True
        try:
            uc.emu_start(addr | 1, self.magic, timeout=int(timeout_s * 1e6))
        except self.UcError as e:
            pc = uc.reg_read(arm.UC_ARM_REG_PC)
            hint = ""
            if "INSN_INVALID" in str(e) and self.core in ("cortex-m55", "cortex-m85"):
                hint = (": Unicorn has no Cortex-M55/M85 model and cannot execute Helium "
                        "(MVE) instructions; run this build under QEMU (mps3-an547) instead")
            elif "INSN_INVALID" in str(e) and self.core == "cortex-m7":
                hint = (": Unicorn's Cortex-M7 model has no double-precision FPU, which "
                        "the fpv5-d16 build uses (e.g. in newlib's float math); run it "
                        "under QEMU (mps2-an500) instead")
            raise MicrolithError(f"{self.image.path.name}: emulation stopped in "
                                 f"{self._where(pc)} with '{e}' (core {self.core}, Unicorn "
                                 f"model {self.cpu_model}){hint}") from None
        finally:
            self._counting = False
            if native is not None:
                native.enabled = 0
        if native is not None:
            if native.misses:
                raise MicrolithError(f"{native.misses} executed blocks lie outside the "
                                     "loaded segments: cannot count them", internal=True)
            self._count = native.count
        pc = uc.reg_read(arm.UC_ARM_REG_PC)
        if pc & ~1 != self.magic:
            raise MicrolithError(f"{self.image.path.name}: the call did not return within "
                                 f"{timeout_s:g} s (stopped in {self._where(pc)})")
        if uc.reg_read(arm.UC_ARM_REG_SP) != self.stack_top:
            raise MicrolithError("the callee did not restore SP", internal=True)
        stack = self.read(self.stack_lo, size)
        pattern = (STACK_PATTERN * (size // 4 + 1))[:size]
        lowest = next((i for i in range(0, size, 4) if stack[i:i + 4] != pattern[i:i + 4]),
                      size)
        if lowest < size:  # refine to the byte
            lowest += next(j for j in range(4) if stack[lowest + j] != pattern[lowest + j])
        if lowest == 0:
            raise MicrolithError(f"the stack ({size} B) overflowed (or was written to its "
                                 "bottom): give the build a larger stack", internal=True)
        return uc.reg_read(arm.UC_ARM_REG_R0), self._count, size - lowest

    def _where(self, pc: int) -> str:
        pc &= ~1
        best = None
        for name, (value, size, typ, _b) in self.image.symbols.items():
            v = value & ~1
            if typ == "STT_FUNC" and v <= pc < v + max(size, 1):
                best = name
        return f"{best}+{pc - (self.image.symbols[best][0] & ~1):#x}" if best else f"{pc:#010x}"


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

def layer_instructions(image: ElfImage, func: str, blocks: list[InvokeBlock], total: int,
                       calls: list[dict]) -> list[dict]:
    """Split one measured call of ``func`` (``total`` instructions, its blocks
    from ``CortexM.call_traced``) into one row per entry of ``calls`` (model.json
    "calls": {index, name, op, function} in call order) plus an ``invoke`` row
    for ``func``'s own instructions. The rows sum to ``total`` exactly. The
    functions called, decoded from the code, must be ``calls``' in order."""
    if not blocks or blocks[0].count_after != blocks[0].instructions:
        raise MicrolithError(f"the per-layer trace of {func} did not start at its first "
                             "block after the counting hook", internal=True)
    own, called = 0, []
    for j, b in enumerate(blocks):
        own += b.instructions
        nxt = (blocks[j + 1].count_after - blocks[j + 1].instructions if j + 1 < len(blocks)
               else total)
        between = nxt - b.count_after
        if b.calls is not None:
            called.append((b.calls, between))
        elif between != 0:
            raise MicrolithError(f"{between} instructions ran outside {func} after its block "
                                 f"at {b.address:#x}, which makes no call: cannot attribute "
                                 "them to a layer", internal=True)
    names = {}
    problems = []
    for k, c in enumerate(calls):
        fn = c.get("function")
        sym = image.symbols.get(fn) if isinstance(fn, str) else None
        if sym is None:
            problems.append(f"call {k} ({c.get('name')}): function {fn!r} is not in "
                            f"{image.path.name}")
        else:
            names[k] = sym[0] & ~1
    if problems:
        raise MicrolithError("model.json \"calls\" does not match the ELF: "
                             + "; ".join(problems))
    expected = list(enumerate(calls))
    if (expected and calls[0].get("op") == "input_guard" and len(called) == len(calls) - 1
            and all(t != names[0] for t, _ in called)):
        expected = expected[1:]  # the compiler inlined the guard: its code is invoke's own
    rows = []
    for pos in range(max(len(expected), len(called))):
        want = expected[pos] if pos < len(expected) else None
        got = called[pos] if pos < len(called) else None
        if want is None or got is None or names[want[0]] != got[0]:
            said = (f"call {pos} is {want[1].get('function')} (node {want[1].get('index')}, "
                    f"{want[1].get('name')})" if want else f"there are {len(expected)} calls")
            did = (f"calls {_symbol_at(image, got[0])}" if got else
                   f"makes only {len(called)} calls")
            raise MicrolithError(f"model.json \"calls\" says {said}, but {func} in "
                                 f"{image.path.name} {did}: the project and the ELF do not "
                                 "match, so instructions cannot be attributed to layers")
        c = want[1]
        rows.append({"index": c.get("index"), "name": c.get("name"), "op": c.get("op"),
                     "function": c.get("function"), "instructions": got[1]})
    rows.append({"index": None, "name": "invoke", "op": "invoke", "function": func,
                 "instructions": own})
    if sum(r["instructions"] for r in rows) != total:
        raise MicrolithError("per-layer instructions do not sum to the invoke's",
                             internal=True)
    return rows


def _symbol_at(image: ElfImage, address: int) -> str:
    for name, (value, _size, typ, _bind) in image.symbols.items():
        if typ == "STT_FUNC" and value & ~1 == address:
            return name
    return f"{address:#010x}"


@dataclass
class UnicornResult:
    outputs: list[list[np.ndarray]]
    instructions: list[int]  # per invoke, measured
    stack_peak_bytes: int  # deepest over all invokes, measured
    sections: dict
    stack_peaks: list[int] = field(default_factory=list)  # per invoke
    reset_instructions: int = 0
    core: str = ""
    cpu_model: str = ""
    seconds: float = 0.0  # host wall time of the emulation
    counter: str = ""  # native | python
    layers: list[list[dict]] = field(default_factory=list)  # per invoke, with calls=

    def to_dict(self) -> dict:
        return {"instructions": self.instructions, "stack_peak_bytes": self.stack_peak_bytes,
                "stack_peaks": self.stack_peaks, "reset_instructions": self.reset_instructions,
                "sections": self.sections, "core": self.core, "cpu_model": self.cpu_model,
                "seconds": round(self.seconds, 3), "counter": self.counter,
                "method": "measured: Unicorn emulation; instructions counted per basic "
                          "block, stack by painting"}


def run_unicorn(elf: str | Path, prefix: str, samples: list[list[np.ndarray]], graph, *,
                core: str | None = None, stack_bytes: int | None = None,
                counter: str = "auto", calls: list[dict] | None = None) -> UnicornResult:
    """Run ``samples`` through the model in ``elf`` (built from ``graph``'s
    generated project with symbol prefix ``prefix``). With ``calls`` (the
    project's model.json "calls"), also each invoke's instructions per call
    (``layer_instructions``)."""
    start = time.perf_counter()
    img = read_elf(elf)
    sections = section_sizes(img, prefix)
    m = CortexM(img, core=core, stack_bytes=stack_bytes, counter=counter)
    _rc, reset_n, _ = m.call(f"{prefix}_reset")
    in_addr = [m.call(f"{prefix}_input", i)[0] for i in range(len(graph.inputs))]
    outputs, counts, peaks, layers = [], [], [], []
    for sample in samples:
        if len(sample) != len(graph.inputs):
            raise MicrolithError(f"the model takes {len(graph.inputs)} inputs, got "
                                 f"{len(sample)}")
        for addr, name, arr in zip(in_addr, graph.inputs, sample, strict=True):
            t = graph.tensor(name)
            a = np.ascontiguousarray(arr, dtype=t.dtype.numpy)
            if a.shape != tuple(t.shape):
                raise MicrolithError(f"input {name!r} must have shape {list(t.shape)}, got "
                                     f"{list(a.shape)}")
            m.write(addr, a.tobytes())
        if calls is None:
            rc, n, peak = m.call(f"{prefix}_invoke")
        else:
            rc, n, peak, blocks = m.call_traced(f"{prefix}_invoke")
        if rc != 0:
            raise MicrolithError(f"{prefix}_invoke returned {rc} in the emulator")
        if calls is not None:
            layers.append(layer_instructions(img, f"{prefix}_invoke", blocks, n, calls))
        counts.append(n)
        peaks.append(peak)
        outs = []
        for i, name in enumerate(graph.outputs):
            t = graph.tensor(name)
            addr = m.call(f"{prefix}_output", i)[0]
            outs.append(np.frombuffer(m.read(addr, t.nbytes), dtype=t.dtype.numpy)
                        .reshape(t.shape).copy())
        outputs.append(outs)
    return UnicornResult(outputs, counts, max(peaks, default=0), sections, peaks, reset_n,
                         m.core, m.cpu_model, time.perf_counter() - start, m.counter,
                         layers)
