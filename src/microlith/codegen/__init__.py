"""Graph + MemoryPlan -> a standalone C project on disk.

    out/
      model.h            public API: sizes, I/O quantization, error codes
      model.c            the static call sequence over one static arena
      model_weights.c    const, aligned weights and per-node constants (flash)
      model_internal.h   declarations shared by the two .c files
      kernels/           only the kernels this model uses, plus ml_common.h and
                         ml_config.h (the kernel set: ML_PORTABLE or not)
      CMakeLists.txt, Makefile
      model.json         metadata: I/O, quantization, arena bytes, hashes

The prefix (default "model") names every public symbol, kernels included, so
two models link into one firmware. Output is deterministic.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .. import ops
from ..errors import MicrolithError
from ..ir import DType, Graph, Tensor
from ..ops.base import KERNEL_SETS, Lowering, kernel_set
from ..plan import MemoryPlan, plan_memory
from ..verify.reference import reset_value

CTYPE = {DType.INT8: "int8_t", DType.UINT8: "uint8_t", DType.INT16: "int16_t",
         DType.INT32: "int32_t", DType.INT64: "int64_t", DType.FLOAT32: "float",
         DType.BOOL: "uint8_t"}
NP_CTYPE = {np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t",
            np.dtype(np.int16): "int16_t", np.dtype(np.uint16): "uint16_t",
            np.dtype(np.int32): "int32_t", np.dtype(np.uint32): "uint32_t",
            np.dtype(np.int64): "int64_t", np.dtype(np.float32): "float"}
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
SCHEMA_VERSION = 1
# --weights-slot: every constant lives in one image at 16-byte aligned offsets.
# UPDATE_ABI_VERSION names the image format (little-endian values, the kernels'
# constant layouts); an update blob for another ABI is rejected on the device.
WEIGHTS_ALIGN = 16
UPDATE_ABI_VERSION = 1


@dataclass(frozen=True)
class UpdateConfig:
    """What the generated update verifier (model_update.c) embeds: the Ed25519
    public key (32 raw bytes) that signs updates, the optional ChaCha20-Poly1305
    key (32 bytes) that decrypts them (then only encrypted updates are
    accepted)."""
    public_key: bytes
    decrypt_key: bytes | None = None


def update_target_id(target: str) -> int:
    """The 32-bit target id of an update header: the first four bytes (little
    endian) of SHA-256 over the target name (e.g. "nrf52840", "any")."""
    return int.from_bytes(hashlib.sha256(target.encode()).digest()[:4], "little")


@dataclass
class CProject:
    path: Path
    prefix: str
    plan: MemoryPlan
    arena_bytes: int
    scratch_bytes: int
    state_bytes: int
    files: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


@dataclass
class _Node:
    index: int
    name: str
    op: str
    lowering: Lowering | None  # None: nothing to run (an aliased reshape)


def kernels_for(target) -> str:
    """The kernel set (``ops.base.KERNEL_SETS``) a project for ``target`` (a
    ``Target``, or None for any core) is generated with: "portable" for cores
    without the DSP extension or a vector unit the kernels use (Cortex-M0,
    M0+, M3, RISC-V, Xtensa), else "any" (each kernel picks its path from the
    core it is compiled for)."""
    if target is None:
        return "any"
    core = target.core
    return "any" if (core.dsp and core.arch.startswith("armv")) else "portable"


def lower_all(graph: Graph, kernels: str = "any") -> list[Lowering]:
    """Every node's lowering for kernel set ``kernels``; all missing ones
    reported together."""
    with kernel_set(kernels):
        return _lower_all(graph)


def _lower_all(graph: Graph) -> list[Lowering]:
    lowerings, problems = [], []
    for node in graph.nodes:
        try:
            lowerings.append(ops.get(node.op).lower(node, graph.input_tensors(node),
                                                    graph.output_tensors(node)))
        except NotImplementedError as e:
            problems.append(f"{node.op} {node.name!r}: {e}")
            lowerings.append(None)
        except ops.OpError as e:
            problems.append(f"{node.op} {node.name!r}: {e}")
            lowerings.append(None)
    if problems:
        counts: dict[str, int] = {}
        for node, low in zip(graph.nodes, lowerings, strict=True):
            if low is None:
                counts[node.op] = counts.get(node.op, 0) + 1
        raise MicrolithError(f"cannot compile {graph.meta.get('path', graph.name)}: "
                             f"{len(problems)} node(s) have no C kernel yet", problems)
    return lowerings


def compiled_plan(graph: Graph, lowerings: list[Lowering] | None = None,
                  kernels: str = "any") -> MemoryPlan:
    """The memory plan of the generated C: each kernel's scratch, in-place
    elementwise ops and convolutions overlapping their input where the kernel
    declares it safe. Profile and codegen both use this one. ``kernels``: the
    kernel set to lower with when ``lowerings`` is not given."""
    lowerings = lower_all(graph, kernels) if lowerings is None else lowerings
    scratch = {n.name: lw.scratch_bytes for n, lw in zip(graph.nodes, lowerings, strict=True)}
    return plan_memory(graph, scratch_bytes=scratch, inplace_conv=True)


def _config_h(kernels: str) -> str:
    """The project's ml_config.h (the package's default, ML_PORTABLE added for
    the portable kernel set)."""
    text = _kernel_text("ml_config", ".h")
    if kernels == "portable":
        text = text.replace("#define ML_CONFIG_H\n",
                            "#define ML_CONFIG_H\n\n/* generated for the portable kernel set */\n"
                            "#define ML_PORTABLE 1\n", 1)
        assert "#define ML_PORTABLE 1" in text
    return text


def _kernel_text(stem: str, suffix: str) -> str:
    pkg = resources.files("microlith.kernels")
    f = pkg.joinpath(stem + suffix)
    if not f.is_file():
        raise MicrolithError(f"kernel file {stem}{suffix} is missing from microlith",
                             internal=True)
    return f.read_text(encoding="utf-8")


def _rename_kernel_symbols(text: str, prefix: str) -> str:
    """ml_foo -> <prefix>_ml_foo and ML_FOO -> <PREFIX>_ML_FOO, so kernels of
    two models never collide at link time."""
    text = re.sub(r"\bml_(?=[A-Za-z0-9_])", f"{prefix}_ml_", text)
    return re.sub(r"\bML_(?=[A-Za-z0-9_])", f"{prefix.upper()}_ML_", text)


def _c_values(arr: np.ndarray, per_line: int = 16) -> str:
    flat = np.asarray(arr).reshape(-1)
    if flat.dtype == np.float32:
        if not np.all(np.isfinite(flat)):
            raise MicrolithError("a float constant is NaN or infinite; cannot emit it")
        items = [f"{float(v):.9g}f" for v in flat]
        items = [s if ("." in s or "e" in s or "inf" in s) else s[:-1] + ".0f"
                 for s in items]
    elif flat.dtype == np.bool_:
        items = [str(int(v)) for v in flat]
    elif flat.dtype == np.int64:
        items = [f"INT64_C({int(v)})" for v in flat]
    elif flat.dtype == np.int32:
        items = [str(int(v)) if int(v) != -(1 << 31) else "(-2147483647 - 1)" for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    if not items:
        return "0"
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n  ".join(lines)


def _c_literal(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        v = int(value)
        if v == -(1 << 31):
            return "(-2147483647 - 1)"
        if not -(1 << 31) <= v < (1 << 31):
            return f"INT64_C({v})"
        return str(v)
    if isinstance(value, float | np.floating):
        s = f"{float(np.float32(value)):.9g}"
        return s + ("f" if ("." in s or "e" in s) else ".0f")
    raise MicrolithError(f"cannot emit parameter value {value!r}", internal=True)


class _Emitter:
    def __init__(self, graph: Graph, prefix: str, plan: MemoryPlan,
                 lowerings: list[Lowering], offsets: dict[str, int],
                 weights_slot: bool = False):
        self.g, self.p, self.P = graph, prefix, prefix.upper()
        self.slot = weights_slot
        self.plan, self.lowerings, self.offsets = plan, lowerings, offsets
        self.scratch = max(max((lw.scratch_bytes for lw in lowerings if lw), default=0),
                           plan.scratch_bytes)
        self.const_names: dict[str, str] = {}
        self.state_names: dict[str, str] = {}
        self.guards: list[InputGuard] = []  # empty: no input guard code at all
        # Only constants a call actually passes go to flash (a kernel may use a
        # folded form of an input instead, e.g. bias + offset x weight sums).
        used = set()
        for node, low in zip(graph.nodes, lowerings, strict=True):
            if low is None:
                continue
            for k in {int(m) for a in low.args for m in re.findall(r"\{in(\d+)\}", a)}:
                if k < len(node.inputs) and node.inputs[k]:
                    used.add(node.inputs[k])
        used = sorted(used)
        for name in used:
            t = graph.tensor(name)
            if t.is_constant and not t.is_variable:
                self.const_names[name] = f"{prefix}_w{len(self.const_names)}"
        for name in sorted(n for n, t in graph.tensors.items() if t.is_variable):
            self.state_names[name] = f"{prefix}_state{len(self.state_names)}"
        # --weights-slot: cname -> (offset, bytes, ctype, dtype, shape, data)
        self.layout: dict[str, tuple] = {}
        if weights_slot:
            pos = 0
            for cname, ctype, arr, _comment in self._constants():
                data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
                data = data or bytes(arr.dtype.itemsize)
                self.layout[cname] = (pos, len(data), ctype, str(arr.dtype), list(arr.shape),
                                      data)
                pos += -(-len(data) // WEIGHTS_ALIGN) * WEIGHTS_ALIGN
            self.image_bytes = max(pos, WEIGHTS_ALIGN)

    def _const_ref(self, cname: str) -> str:
        if not self.slot:
            return cname
        off, _n, ctype, *_rest = self.layout[cname]
        return f"((const {ctype} *)({self.p}_wbase + {off}))"

    def slot_image(self) -> bytes:
        image = bytearray(self.image_bytes)
        for off, n, *_rest, data in self.layout.values():
            image[off:off + n] = data
        return bytes(image)

    # -- placeholders -----------------------------------------------------
    def _ptr(self, name: str, writable: bool) -> str:
        if not name:
            return "NULL"
        t = self.g.tensor(name)
        ctype = CTYPE[t.dtype]
        if name in self.state_names:
            return self.state_names[name]
        if name in self.const_names:
            return self._const_ref(self.const_names[name])
        if name not in self.offsets:
            raise MicrolithError(f"tensor {name!r} has no place in the memory plan",
                                 internal=True)
        const = "" if writable else "const "
        return f"({const}{ctype} *)(arena + {self.offsets[name]})"

    def _args(self, index: int, node, low: Lowering) -> str:
        def sub(m: re.Match) -> str:
            key = m.group(1)
            if key == "params":
                return f"&{self.p}_n{index}_params"
            if key == "scratch":
                return f"{self.p}_scratch" if self.scratch else "NULL"
            if key.startswith("const:"):
                cname = key[6:]
                if cname not in low.consts:
                    raise MicrolithError(f"{node.op} lowering names unknown const {cname!r}",
                                         internal=True)
                return self._const_ref(f"{self.p}_n{index}_{cname}")
            kind, k = re.match(r"(in|out)(\d+)$", key).groups()
            names = node.inputs if kind == "in" else node.outputs
            k = int(k)
            return self._ptr(names[k] if k < len(names) else "", writable=kind == "out")
        return ", ".join(re.sub(r"\{([a-z0-9:_]+)\}", sub, a) for a in low.args)

    # -- files -------------------------------------------------------------
    def io(self, names: list[str]) -> list[dict]:
        out = []
        for name in names:
            t = self.g.tensor(name)
            out.append({"name": name, "shape": list(t.shape), "dtype": t.dtype.value,
                        "bytes": t.nbytes, "offset": self.offsets[name],
                        "quant": t.quant.to_dict() if t.quant else None,
                        "layout": self.g.meta.get("layout", {}).get(name, "")})
        return out

    def model_h(self, inputs: list[dict], outputs: list[dict]) -> str:
        P, p = self.P, self.p
        lines = [f"/* Generated by microlith from {_source_name(self.g)}. */",
                 f"#ifndef {P}_MODEL_H", f"#define {P}_MODEL_H", "",
                 "#include <stddef.h>", "#include <stdint.h>", "",
                 "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
                 f"#define {P}_ARENA_BYTES {self.plan.arena_bytes}u",
                 f"#define {P}_SCRATCH_BYTES {self.scratch}u",
                 f"#define {P}_STATE_BYTES {self.plan.state_bytes}u",
                 f"#define {P}_NUM_INPUTS {len(inputs)}",
                 f"#define {P}_NUM_OUTPUTS {len(outputs)}", "",
                 "/* Result codes. */",
                 f"#define {P}_OK 0",
                 f"#define {P}_ERROR_BAD_INDEX (-1)", ""]
        if self.guards:
            lines[-1:] = _guard_codes_h(P)
        for kind, items in (("INPUT", inputs), ("OUTPUT", outputs)):
            for i, d in enumerate(items):
                tag = f"{P}_{kind}{i}"
                lines.append(f"/* {kind.lower()} {i}: {d['name']} {d['dtype']}{d['shape']}"
                             + (f", {d['layout']}" if d["layout"] else "") + " */")
                lines.append(f"#define {tag}_BYTES {d['bytes']}u")
                lines.append(f"#define {tag}_RANK {len(d['shape'])}")
                for j, dim in enumerate(d["shape"]):
                    lines.append(f"#define {tag}_DIM{j} {dim}")
                q = d["quant"]
                if q and not isinstance(q.get("scale"), list):
                    lines.append(f"#define {tag}_SCALE {_c_literal(q['scale'])}")
                    lines.append(f"#define {tag}_ZERO_POINT {q['zero_point']}")
                if kind == "INPUT":
                    lines += _guard_range_h(tag, i, self.guards)
                lines.append("")
        lines += [
            "/* Reset persistent state (RNN/SVDF); call once before the first invoke. */",
            f"void {p}_reset(void);",
            f"/* Where to write input i ({P}_INPUTi_BYTES bytes) before {p}_invoke().",
            f" * The inputs live in the arena and {p}_invoke() may overwrite them (in-place",
            " * execution): write them again before every invoke. */",
            f"void *{p}_input(int index);",
            f"/* Where output i is after {p}_invoke(); valid until the next invoke. */",
            f"const void *{p}_output(int index);",
            f"size_t {p}_input_bytes(int index);",
            f"size_t {p}_output_bytes(int index);",
            *(_guard_api_h(P, p) if self.guards else
              [f"/* Run one inference. Returns {P}_OK. */"]),
            f"int {p}_invoke(void);", "",
            *(self._slot_api_h() if self.slot else []),
            "#ifdef __cplusplus", "}", "#endif", f"#endif /* {P}_MODEL_H */", ""]
        return "\n".join(lines)

    def _slot_api_h(self) -> list[str]:
        P, p = self.P, self.p
        return [
            f"/* Weights slot: every constant is read from one image of {P}_WEIGHTS_BYTES "
            "bytes,", " * laid out as model.json \"weights_slot\" says (its schema_sha256 "
            "names the layout). */",
            f"#define {P}_WEIGHTS_BYTES {self.image_bytes}u",
            f"#define {P}_WEIGHTS_ALIGN {WEIGHTS_ALIGN}u",
            f"#define {P}_ERROR_ALIGNMENT (-8)",
            f"/* Run from the image at `image` ({P}_WEIGHTS_BYTES bytes, {WEIGHTS_ALIGN}-byte "
            "aligned),", " * e.g. a slot an update was installed into after the verifier "
            "accepted it;", f" * NULL returns to the factory image. Returns {P}_OK or "
            f"{P}_ERROR_ALIGNMENT. */",
            f"int {p}_use_weights(const void *image);",
            "/* The image the model reads now. */",
            f"const void *{p}_weights(void);", ""]

    def internal_h(self, consts: list[tuple[str, str, int]]) -> str:
        P = self.P
        lines = ["/* Generated by microlith: declarations shared by model.c and "
                 "model_weights.c. */", f"#ifndef {P}_MODEL_INTERNAL_H",
                 f"#define {P}_MODEL_INTERNAL_H", "", "#include <stdint.h>", "",
                 "#if defined(__GNUC__) || defined(__clang__)",
                 f"#define {P}_ALIGNED __attribute__((aligned(16)))", "#else",
                 f"#define {P}_ALIGNED", "#endif", ""]
        for cname, ctype, n in consts:
            lines.append(f"extern const {ctype} {cname}[{n}];")
        lines += ["", f"#endif /* {P}_MODEL_INTERNAL_H */", ""]
        return "\n".join(lines)

    def _constants(self):
        """(C name, C type, values, comment or None) of every constant array,
        in model_weights.c order."""
        for name, cname in self.const_names.items():
            t: Tensor = self.g.tensor(name)
            arr = np.asarray(t.data)
            if t.dtype not in CTYPE:
                raise MicrolithError(f"constant {name!r} has type {t.dtype.value}, which "
                                     "codegen cannot emit", internal=True)
            yield (cname, CTYPE[t.dtype], arr.astype(t.dtype.numpy),
                   f"{name}: {t.dtype.value}{list(t.shape)}")
        for i, low in enumerate(self.lowerings):
            if low is None:
                continue
            for key in sorted(low.consts):
                arr = np.asarray(low.consts[key])
                if arr.dtype not in NP_CTYPE:
                    raise MicrolithError(f"node constant {key!r} has numpy type {arr.dtype}",
                                         internal=True)
                yield f"{self.p}_n{i}_{key}", NP_CTYPE[arr.dtype], arr, None

    def weights_c(self) -> tuple[str, list[tuple[str, str, int]]]:
        if self.slot:
            return self._slot_weights_c()
        P = self.P
        consts: list[tuple[str, str, int]] = []
        body = []
        for cname, ctype, arr, comment in self._constants():
            if comment is not None:
                body.append(f"/* {comment} */")
            body.append(f"const {ctype} {cname}[{max(arr.size, 1)}] {P}_ALIGNED = {{\n  "
                        f"{_c_values(arr)}\n}};")
            consts.append((cname, ctype, max(arr.size, 1)))
        head = ["/* Generated by microlith: weights and constants (const: they stay in "
                "flash). */", "#include <stdint.h>", '#include "model_internal.h"', ""]
        return "\n".join(head + body) + "\n", consts

    def _slot_weights_c(self) -> tuple[str, list[tuple[str, str, int]]]:
        """--weights-slot: one const byte array, the factory constant image."""
        P, p = self.P, self.p
        image = self.slot_image()
        def values(lo: int, hi: int) -> str:
            return _c_values(np.frombuffer(image[lo:hi], np.uint8))

        body, pos = [], 0
        for cname, (off, n, ctype, _dt, shape, _data) in self.layout.items():
            if off > pos:
                body.append(f"  /* padding */ {values(pos, off)},")
            body.append(f"  /* {off}: {cname} {ctype}{shape} */")
            body.append(f"  {values(off, off + n)},")
            pos = off + n
        if pos < len(image):
            body.append(f"  /* padding */ {values(pos, len(image))},")
        head = ["/* Generated by microlith: the factory constant image (weights, biases, "
                "multipliers,", " * shifts, tables at 16-byte aligned offsets; model.json "
                '"weights_slot" lists them).', f" * {p}_use_weights() can switch the model to "
                "another image, e.g. a verified update. */",
                "#include <stdint.h>", '#include "model_internal.h"', "",
                f"const uint8_t {p}_weights_factory[{len(image)}] {P}_ALIGNED = {{"]
        text = "\n".join(head + body) + "\n};\n"
        return text, [(f"{p}_weights_factory", "uint8_t", len(image))]

    def model_c(self, nodes: list[_Node], headers: list[str]) -> str:
        P, p = self.P, self.p
        g = self.g
        lines = [f"/* Generated by microlith from {_source_name(g)}: "
                 f"{len(g.nodes)} nodes, arena {self.plan.arena_bytes} B "
                 f"({self.plan.method}). */",
                 "#include <stddef.h>", "#include <stdint.h>", "#include <string.h>", "",
                 '#include "model.h"', '#include "model_internal.h"']
        lines += [f'#include "kernels/{h}"' for h in headers]
        lines += ["", f"static uint8_t {p}_arena[{max(self.plan.arena_bytes, 1)}] "
                      f"{P}_ALIGNED;"]
        if self.scratch:
            lines.append(f"static uint8_t {p}_scratch[{self.scratch}] {P}_ALIGNED;")
        for name, sname in self.state_names.items():
            t = g.tensor(name)
            lines.append(f"static {CTYPE[t.dtype]} {sname}[{t.numel}] {P}_ALIGNED;"
                         f" /* state {name} */")
        lines.append("")
        for nd in nodes:
            low = nd.lowering
            if low is None or not low.params_type:
                continue
            fields = ", ".join(f".{k} = {_c_literal(v)}" for k, v in (low.params or {}).items())
            lines.append(f"static const {low.params_type} {p}_n{nd.index}_params = "
                         f"{{ {fields} }};")
        ins = [self.offsets[n] for n in g.inputs]
        outs = [self.offsets[n] for n in g.outputs]
        in_bytes = [g.tensor(n).nbytes for n in g.inputs]
        out_bytes = [g.tensor(n).nbytes for n in g.outputs]

        def table(name, values):
            return (f"static const size_t {p}_{name}[{max(len(values), 1)}] = "
                    f"{{ {', '.join(str(v) for v in values) or '0'} }};")

        lines += ["", table("input_offsets", ins), table("output_offsets", outs),
                  table("input_sizes", in_bytes), table("output_sizes", out_bytes), ""]
        if self.slot:
            lines += [f"/* The constant image the model reads (see {p}_use_weights). */",
                      f"static const uint8_t *{p}_wbase = {p}_weights_factory;", "",
                      f"int {p}_use_weights(const void *image) {{",
                      f"  if (image == NULL) image = {p}_weights_factory;",
                      f"  if (((uintptr_t)image & {WEIGHTS_ALIGN - 1}u) != 0) "
                      f"return {P}_ERROR_ALIGNMENT;",
                      f"  {p}_wbase = (const uint8_t *)image;", f"  return {P}_OK;", "}", "",
                      f"const void *{p}_weights(void) {{ return {p}_wbase; }}", ""]
        lines.append(f"void {p}_reset(void) {{")
        for name, sname in self.state_names.items():
            t = g.tensor(name)
            if t.data is not None and np.any(t.data):
                raise MicrolithError("non-zero initial state is not supported yet",
                                     internal=True)
            fill = reset_value(t)  # int8 state starts at its zero point, as in TFLM
            lines.append(f"  memset({sname}, {fill}, sizeof({sname}));")
        lines += ["}", "",
                  f"void *{p}_input(int index) {{",
                  f"  if (index < 0 || index >= {P}_NUM_INPUTS) return NULL;",
                  f"  return {p}_arena + {p}_input_offsets[index];", "}", "",
                  f"const void *{p}_output(int index) {{",
                  f"  if (index < 0 || index >= {P}_NUM_OUTPUTS) return NULL;",
                  f"  return {p}_arena + {p}_output_offsets[index];", "}", "",
                  f"size_t {p}_input_bytes(int index) {{",
                  f"  return (index < 0 || index >= {P}_NUM_INPUTS) ? 0 : "
                  f"{p}_input_sizes[index];", "}", "",
                  f"size_t {p}_output_bytes(int index) {{",
                  f"  return (index < 0 || index >= {P}_NUM_OUTPUTS) ? 0 : "
                  f"{p}_output_sizes[index];", "}", "",
                  f"#ifdef {P}_DEBUG",
                  "/* Debug builds only: called after every node (for layer-by-layer "
                  "comparison). */",
                  f"void (*{p}_debug_hook)(int node) = NULL;",
                  f"uint8_t *{p}_debug_arena(void) {{ return {p}_arena; }}",
                  f"#define {P}_AFTER(i) do {{ if ({p}_debug_hook) {p}_debug_hook(i); }} "
                  "while (0)",
                  "#else",
                  f"#define {P}_AFTER(i) ((void)0)",
                  "#endif", "",
                  *_guard_c(P, p, self.guards),
                  f"int {p}_invoke(void) {{", f"  uint8_t *arena = {p}_arena;"]
        if self.guards:
            lines += [f"  int guard = {p}_check_inputs();",
                      f"  if (guard != {P}_OK) return guard; /* the model does not run */"]
        for nd in nodes:
            node = g.nodes[nd.index]
            if nd.lowering is None:
                lines.append(f"  /* {nd.index}: {node.op} {node.name}: shares its input's "
                             "memory, nothing to run */")
                continue
            lines.append(f"  /* {nd.index}: {node.op} {node.name} */")
            lines.append(f"  {nd.lowering.function}("
                         f"{self._args(nd.index, node, nd.lowering)});")
            lines.append(f"  {P}_AFTER({nd.index});")
        lines += ["  (void)arena;", f"  return {P}_OK;", "}", ""]
        # Kernel names, types and include files carry the prefix too.
        return _rename_kernel_symbols("\n".join(lines), p)


def _calls(nodes: list[_Node], prefix: str, guard: bool) -> list[dict]:
    """model.json "calls": the calls <prefix>_invoke makes, in order (the
    input guard first when there is one; nodes with nothing to run make none),
    each with its node index, name and op, and the C function it calls."""
    calls = []
    if guard:
        calls.append({"index": None, "name": "input_guard", "op": "input_guard",
                      "function": f"{prefix}_check_inputs"})
    for nd in nodes:
        if nd.lowering is not None:
            calls.append({"index": nd.index, "name": nd.name, "op": nd.op,
                          "function": _rename_kernel_symbols(nd.lowering.function, prefix)})
    return calls


def _source_name(g: Graph) -> str:
    return Path(g.meta["path"]).name if g.meta.get("path") else f"graph {g.name!r}"


def _offsets(plan: MemoryPlan) -> dict[str, int]:
    offsets = {}
    for b in plan.buffers:
        offsets[b.tensor] = b.offset
        for alias in getattr(b, "aliases", ()) or ():
            offsets[alias] = b.offset
    return offsets


def generate(graph: Graph, out_dir: str | Path, prefix: str = "model", *,
             input_guard: bool = False,
             input_range: tuple[float, float] | dict | None = None,
             weights_slot: bool = False, update: UpdateConfig | None = None,
             update_target: str = "any", kernels: str = "any") -> CProject:
    """Write the C project for ``graph`` into ``out_dir`` (created; files of a
    previous generation there are replaced). ``input_guard``: invoke first
    checks every float input for NaN/Inf and, where a range is known
    (``input_range``, see ``input_guards``), values outside it.
    ``weights_slot``: every constant is read from one image (model_weights.c
    holds the factory image, ``<prefix>_use_weights()`` switches it, model.json
    "weights_slot" has the layout, weights.bin the bytes); with ``update``, also
    the update verifier (model_update.c/.h and the mlu_* runtime) for updates
    built for ``update_target``. ``kernels``: the kernel set
    (``ops.base.KERNEL_SETS``; ``kernels_for(target)`` picks it for a
    target): "portable" defines ML_PORTABLE in the project's ml_config.h, so
    the kernels never take their DSP or Helium paths, and sizes scratch for
    the portable C alone."""
    if kernels not in KERNEL_SETS:
        raise MicrolithError(f"kernels must be one of {', '.join(KERNEL_SETS)}, "
                             f"not {kernels!r}")
    if update is not None and not weights_slot:
        raise MicrolithError("the update verifier needs the weights slot: pass "
                             "weights_slot=True (--weights-slot) with it")
    if not _IDENT.match(prefix) or prefix == "ml" or prefix.startswith("ml_"):
        raise MicrolithError(f"prefix {prefix!r} must be a lowercase C identifier "
                             "(letters, digits, underscores; at most 31 characters) other "
                             "than 'ml' or 'ml_...' (the kernel library's own names)")
    lowerings = lower_all(graph, kernels)
    plan = compiled_plan(graph, lowerings)
    offsets = _offsets(plan)
    nodes = []
    for i, (node, low) in enumerate(zip(graph.nodes, lowerings, strict=True)):
        skip = (node.op == "reshape" and node.inputs[0] in offsets and node.outputs[0] in offsets
                and offsets[node.inputs[0]] == offsets[node.outputs[0]])
        nodes.append(_Node(i, node.name, node.op, None if skip else low))
    em = _Emitter(graph, prefix, plan, lowerings, offsets, weights_slot=weights_slot)
    if input_guard:
        em.guards = input_guards(graph, input_range, offsets)
    elif input_range is not None:
        raise MicrolithError("an input range is only used by the input guard: pass "
                             "input_guard=True (--input-guard) with it")

    out = Path(out_dir)
    kdir = out / "kernels"
    if kdir.exists():
        shutil.rmtree(kdir)
    kdir.mkdir(parents=True)
    stems = sorted({s for nd in nodes if nd.lowering for s in nd.lowering.sources})
    files: dict[str, str] = {}
    for stem, suffixes in [("ml_common", (".h",))] + [(s, (".h", ".c")) for s in stems]:
        for suffix in suffixes:
            files[f"kernels/{prefix}_{stem}{suffix}"] = _rename_kernel_symbols(
                _kernel_text(stem, suffix), prefix)
    files[f"kernels/{prefix}_ml_config.h"] = _rename_kernel_symbols(_config_h(kernels), prefix)
    weights, consts = em.weights_c()
    inputs, outputs = em.io(graph.inputs), em.io(graph.outputs)
    files["model_weights.c"] = weights
    files["model_internal.h"] = em.internal_h(consts)
    files["model.h"] = em.model_h(inputs, outputs)
    files["model.c"] = em.model_c(nodes, [f"{s}.h" for s in stems])
    c_sources = ["model.c", "model_weights.c"] + [f"kernels/{prefix}_{s}.c" for s in stems]
    slot_meta = None
    if em.slot:
        slot_files, slot_meta = _weights_slot(em, nodes, inputs, outputs, update, update_target)
        files.update(slot_files)
        c_sources += sorted(k for k in slot_files if k.endswith(".c"))
    files["Makefile"] = _makefile(prefix, c_sources)
    files["CMakeLists.txt"] = _cmake(prefix, c_sources)
    weights_bytes = sum(graph.tensor(n).nbytes for n in em.const_names)
    meta = {
        "schema_version": SCHEMA_VERSION, "prefix": prefix,
        "model": {"path": Path(graph.meta.get("path", "")).name,
                  "sha256": graph.meta.get("sha256", ""),
                  "format": graph.meta.get("format", "")},
        "inputs": inputs, "outputs": outputs,
        "arena_bytes": plan.arena_bytes, "scratch_bytes": em.scratch,
        "state_bytes": plan.state_bytes, "lower_bound_bytes": plan.lower_bound_bytes,
        "plan_method": plan.method, "weight_bytes": weights_bytes,
        "kernels": stems, "kernel_set": kernels,
        "sources_sha256": hashlib.sha256(
            "".join(files[k] for k in sorted(files)).encode()).hexdigest(),
    }
    meta["tensor_offsets"] = {n: offsets[n] for n in sorted(offsets)}
    meta["calls"] = _calls(nodes, prefix, bool(em.guards))
    if em.guards:
        meta["input_guard"] = [g.to_dict() for g in em.guards]
    if slot_meta is not None:
        meta["weights_slot"] = slot_meta
    files["model.json"] = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    for stale in [*out.glob(f"{prefix}_mlu_*.[ch]"), *(out / f for f in _SLOT_FILES)]:
        stale.unlink(missing_ok=True)  # a previous --weights-slot generation
    for rel, text in files.items():
        (out / rel).write_text(text, encoding="utf-8")
    if em.slot:
        (out / "weights.bin").write_bytes(em.slot_image())
        files["weights.bin"] = ""
    return CProject(out, prefix, plan, plan.arena_bytes, em.scratch, plan.state_bytes,
                    sorted(files), meta)


# -- weights slot and update verifier (generate(..., weights_slot=True)) ---------

_SLOT_FILES = ("model_update.c", "model_update.h", "weights.bin")


def _rename_runtime_symbols(text: str, prefix: str) -> str:
    """mlu_foo -> <prefix>_mlu_foo, MLU_FOO -> <PREFIX>_MLU_FOO (file names in
    #include lines too), as for the kernels."""
    text = re.sub(r"\bmlu_(?=[A-Za-z0-9_])", f"{prefix}_mlu_", text)
    return re.sub(r"\bMLU_(?=[A-Za-z0-9_])", f"{prefix.upper()}_MLU_", text)


def slot_schema(em: _Emitter, nodes: list[_Node], inputs: list[dict],
                outputs: list[dict]) -> dict:
    """Everything the compiled code fixes that a constant image must match:
    the I/O schema, the image layout, and every call with its arguments and
    parameters (per-tensor quantization lives there, not in the image). Names
    and the symbol prefix are left out, so the same architecture compiled
    from another file or with another prefix has the same schema."""
    def io(items):
        return [{k: d[k] for k in ("shape", "dtype", "bytes", "offset", "quant")}
                for d in items]

    p = re.compile(rf"\b{em.p}_")
    calls = []
    for nd in nodes:
        low = nd.lowering
        if low is None:
            continue
        node = em.g.nodes[nd.index]
        calls.append({"function": low.function, "params_type": low.params_type,
                      "params": {k: _c_literal(v) for k, v in sorted((low.params or {}).items())},
                      "args": p.sub("", em._args(nd.index, node, low))})
    return {"abi_version": UPDATE_ABI_VERSION, "align": WEIGHTS_ALIGN,
            "image_bytes": em.image_bytes, "arena_bytes": em.plan.arena_bytes,
            "scratch_bytes": em.scratch, "state_bytes": em.plan.state_bytes,
            "inputs": io(inputs), "outputs": io(outputs),
            "layout": [[off, n, ctype, shape] for off, n, ctype, _dt, shape, _d
                       in em.layout.values()],
            "calls": calls}


def _c_bytes(data: bytes) -> str:
    return ", ".join(f"0x{b:02x}" for b in data)


def _weights_slot(em: _Emitter, nodes: list[_Node], inputs: list[dict], outputs: list[dict],
                  update: UpdateConfig | None, target: str) -> tuple[dict[str, str], dict]:
    """model.json "weights_slot" and, with ``update``, the verifier's files."""
    schema = json.dumps(slot_schema(em, nodes, inputs, outputs), sort_keys=True,
                        separators=(",", ":"))
    schema_hash = hashlib.sha256(schema.encode()).digest()
    meta = {"bytes": em.image_bytes, "align": WEIGHTS_ALIGN,
            "abi_version": UPDATE_ABI_VERSION, "file": "weights.bin",
            "image_sha256": hashlib.sha256(em.slot_image()).hexdigest(),
            "schema_sha256": schema_hash.hex(), "target": target,
            "target_id": update_target_id(target),
            "entries": [{"name": cname, "offset": off, "bytes": n, "ctype": ctype,
                         "dtype": dt, "shape": shape}
                        for cname, (off, n, ctype, dt, shape, _d) in em.layout.items()],
            "verifier": None}
    if update is None:
        return {}, meta
    for what, key in (("public key", update.public_key), ("decryption key", update.decrypt_key)):
        if key is not None and (not isinstance(key, bytes) or len(key) != 32):
            raise MicrolithError(f"the update {what} must be 32 bytes")
    P, p = em.P, em.p
    meta["verifier"] = {"encrypted": update.decrypt_key is not None,
                        "public_key": update.public_key.hex()}
    files: dict[str, str] = {}
    runtime = resources.files("microlith.package").joinpath("runtime")
    names = sorted(f.name for f in runtime.iterdir()
                   if f.name.startswith("mlu_") and f.name.endswith((".c", ".h")))
    if "mlu_update.c" not in names:
        raise MicrolithError("the update runtime (microlith/package/runtime/mlu_update.c) is "
                             "missing from microlith", internal=True)
    for name in names:
        files[f"{p}_{name}"] = _rename_runtime_symbols(
            runtime.joinpath(name).read_text(encoding="utf-8"), p)
    files["model_update.h"] = _rename_runtime_symbols(f"""\
/* Generated by microlith: the update verifier of this model (docs/update-format.md).
 * An update blob is accepted only if it is for target "{target}", runtime ABI
 * {UPDATE_ABI_VERSION}, this model's arena and constant-image layout (schema hash),
 * has a model version above the installed one and an Ed25519 signature by the
 * embedded public key{"; its payload is decrypted with the embedded key" if
                        update.decrypt_key else ""}. */
#ifndef {P}_MODEL_UPDATE_H
#define {P}_MODEL_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "mlu_update.h"

#ifdef __cplusplus
extern "C" {{
#endif

#define {P}_UPDATE_TARGET_ID {update_target_id(target):#010x}u
#define {P}_UPDATE_ABI_VERSION {UPDATE_ABI_VERSION}u
#define {P}_UPDATE_ENCRYPTED {int(update.decrypt_key is not None)}

/* This model as the verifier sees it. */
extern const mlu_update_model {p}_update_model;

/* Every check of mlu_update_check(), signature included; writes nothing.
 * Returns MLU_UPDATE_OK or an MLU_UPDATE_ERR_* code (mlu_update.h). */
int {p}_update_check(const uint8_t *blob, size_t len, uint32_t installed_version);

/* Check, then copy (decrypt) the payload through write(ctx, offset, p, n) into a
 * slot of {P}_WEIGHTS_BYTES bytes. On MLU_UPDATE_OK: store *new_version (if not
 * NULL) as the installed version and call {p}_use_weights(<the slot's address>).
 * On an error the slot must not be used. */
int {p}_update_install(const uint8_t *blob, size_t len, uint32_t installed_version,
                       mlu_update_write_fn write, void *ctx, uint32_t *new_version);

/* A RAM slot ({P}_WEIGHTS_BYTES bytes, {WEIGHTS_ALIGN}-byte aligned): install into it with
 * memcpy and switch the model to it. */
int {p}_update_install_ram(const uint8_t *blob, size_t len, uint32_t installed_version,
                           void *slot);

#ifdef __cplusplus
}}
#endif
#endif /* {P}_MODEL_UPDATE_H */
""", p)
    aead = ("NULL" if update.decrypt_key is None else f"{p}_update_aead_key")
    aead_decl = ("" if update.decrypt_key is None else
                 "/* The ChaCha20-Poly1305 key: as secret as this firmware image. */\n"
                 f"static const uint8_t {p}_update_aead_key[32] = {{\n  "
                 f"{_c_bytes(update.decrypt_key)}\n}};\n")
    files["model_update.c"] = _rename_runtime_symbols(f"""\
/* Generated by microlith: this model's update verifier (see model_update.h). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "model_update.h"

/* Ed25519 public key of the update signer. */
static const uint8_t {p}_update_public_key[32] = {{
  {_c_bytes(update.public_key)}
}};
/* SHA-256 of this model's I/O schema, constant-image layout and calls. */
static const uint8_t {p}_update_schema[32] = {{
  {_c_bytes(schema_hash)}
}};
{aead_decl}
const mlu_update_model {p}_update_model = {{
  {P}_UPDATE_TARGET_ID, {P}_UPDATE_ABI_VERSION, {P}_ARENA_BYTES, {P}_WEIGHTS_BYTES,
  {p}_update_schema, {p}_update_public_key, {aead}
}};

int {p}_update_check(const uint8_t *blob, size_t len, uint32_t installed_version) {{
  return mlu_update_check(&{p}_update_model, blob, len, installed_version, NULL);
}}

int {p}_update_install(const uint8_t *blob, size_t len, uint32_t installed_version,
                       mlu_update_write_fn write, void *ctx, uint32_t *new_version) {{
  return mlu_update_install(&{p}_update_model, blob, len, installed_version, write, ctx,
                            new_version);
}}

static int {p}_update_ram_write(void *ctx, uint32_t offset, const uint8_t *p, size_t n) {{
  if (offset > {P}_WEIGHTS_BYTES || n > {P}_WEIGHTS_BYTES - offset) return -1;
  memcpy((uint8_t *)ctx + offset, p, n);
  return 0;
}}

int {p}_update_install_ram(const uint8_t *blob, size_t len, uint32_t installed_version,
                           void *slot) {{
  int rc;
  if (slot == NULL || ((uintptr_t)slot & ({P}_WEIGHTS_ALIGN - 1u)) != 0) {{
    return MLU_UPDATE_ERR_ARGUMENT;
  }}
  rc = mlu_update_install(&{p}_update_model, blob, len, installed_version,
                          {p}_update_ram_write, slot, NULL);
  if (rc != MLU_UPDATE_OK) return rc;
  return {p}_use_weights(slot) == {P}_OK ? MLU_UPDATE_OK : MLU_UPDATE_ERR_ARGUMENT;
}}
""", p)
    return files, meta


def _makefile(prefix: str, sources: list[str]) -> str:
    objs = " ".join(s[:-2] + ".o" for s in sources)
    return (f"# Generated by microlith: builds lib{prefix}.a\n"
            "CC ?= cc\nAR ?= ar\nCFLAGS ?= -O2\n"
            "CFLAGS += -std=c99 -Wall -Wextra -I. -Ikernels\n\n"
            f"lib{prefix}.a: {objs}\n\t$(AR) rcs $@ $^\n\n"
            "%.o: %.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n\n"
            f"clean:\n\trm -f lib{prefix}.a {objs}\n\n.PHONY: clean\n")


def _cmake(prefix: str, sources: list[str]) -> str:
    srcs = "\n  ".join(sources)
    return ("# Generated by microlith\ncmake_minimum_required(VERSION 3.13)\n"
            f"project({prefix} C)\n"
            f"add_library({prefix} STATIC\n  {srcs}\n)\n"
            f"set_target_properties({prefix} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)\n"
            f"target_include_directories({prefix} PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}}\n"
            f"  PRIVATE ${{CMAKE_CURRENT_SOURCE_DIR}}/kernels)\n")


# -- input guard (generate(..., input_guard=True)) ------------------------------

@dataclass(frozen=True)
class InputGuard:
    """A float input that invoke checks before running: NaN and +-Inf always,
    values outside [lo, hi] (compared in float32) when a range is known."""
    index: int
    name: str
    offset: int
    numel: int
    lo: float | None = None
    hi: float | None = None
    source: str = "none"  # where the range came from

    def to_dict(self) -> dict:
        return {"input": self.index, "name": self.name, "min": self.lo, "max": self.hi,
                "range_source": self.source}


def _checked_range(value, what: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise MicrolithError(f"{what} must be two numbers (lo, hi), not {value!r}") from None
    top = float(np.finfo(np.float32).max)
    if not (abs(lo) <= top and abs(hi) <= top and lo <= hi):  # NaN fails too
        raise MicrolithError(f"{what} {lo:g}:{hi:g} must be finite float32 values with "
                             "lo <= hi")
    return float(np.float32(lo)), float(np.float32(hi))


def _quantize_range(graph: Graph, name: str) -> tuple[float, float] | None:
    """The float range a QUANTIZE right at the input represents without
    clamping, when every consumer of the input is such a QUANTIZE."""
    users = graph.consumers().get(name, [])
    ranges = []
    for node in users:
        out = graph.tensor(node.outputs[0])
        if node.op != "quantize" or out.quant is None or out.quant.per_channel \
                or out.dtype not in (DType.INT8, DType.INT16):
            return None
        info = np.iinfo(out.dtype.numpy)
        scale, zp = float(out.quant.scale[0]), int(out.quant.zero_point[0])
        ranges.append((scale * (int(info.min) - zp), scale * (int(info.max) - zp)))
    if not ranges:
        return None
    lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
    return (float(np.float32(lo)), float(np.float32(hi))) if lo <= hi else None


def input_guards(graph: Graph, input_range: tuple[float, float] | dict | None = None,
                 offsets: dict[str, int] | None = None) -> list[InputGuard]:
    """The guard of every float32 input. Its range, first found of:
    ``input_range`` ((lo, hi) for every float input, or {input name: (lo, hi)});
    ``graph.meta["input_ranges"][name]`` (a calibration range a quantizer
    recorded); the range of a QUANTIZE that is the input's only consumer (an
    int8 model with a float interface); else none (NaN/Inf only)."""
    floats = [(i, n) for i, n in enumerate(graph.inputs)
              if graph.tensor(n).dtype == DType.FLOAT32]
    if not floats:
        raise MicrolithError("the input guard checks float inputs, and this model has none "
                             "(its inputs are " + ", ".join(
                                 f"{n} {graph.tensor(n).dtype.value}" for n in graph.inputs)
                             + "); compile it without --input-guard")
    given: dict[str, tuple[float, float]] = {}
    if isinstance(input_range, dict):
        unknown = sorted(set(input_range) - {n for _, n in floats})
        if unknown:
            raise MicrolithError(f"input range for {', '.join(map(repr, unknown))}: not a "
                                 "float input of the model (float inputs: "
                                 f"{', '.join(n for _, n in floats)})")
        given = {n: _checked_range(r, f"input range of {n!r}") for n, r in input_range.items()}
    elif input_range is not None:
        r = _checked_range(input_range, "input range")
        given = {n: r for _, n in floats}
    recorded = graph.meta.get("input_ranges") or {}
    if offsets is None:
        offsets = _offsets(compiled_plan(graph))
    guards = []
    for i, name in floats:
        rng, source = None, "none"
        if name in given:
            rng, source = given[name], "option"
        elif name in recorded:
            rng, source = _checked_range(recorded[name], f"recorded range of {name!r}"), \
                "calibration"
        else:
            rng = _quantize_range(graph, name)
            source = "quantize" if rng else "none"
        guards.append(InputGuard(i, name, offsets[name], graph.tensor(name).numel,
                                 *(rng or (None, None)), source))
    return guards


def _guard_codes_h(P: str) -> list[str]:
    return [f"/* Input guard (compiled with --input-guard): {P.lower()}_invoke() checks every "
            "float input",
            " * first and, when one fails, returns one of these without running the model.",
            " * The first failing input decides; within it NaN before Inf before range. */",
            f"#define {P}_ERR_INPUT_NAN (-2)   /* an element is NaN */",
            f"#define {P}_ERR_INPUT_INF (-3)   /* an element is +Inf or -Inf */",
            f"#define {P}_ERR_INPUT_RANGE (-4) /* an element is outside "
            "[INPUTi_MIN, INPUTi_MAX] */", ""]


def _guard_range_h(tag: str, index: int, guards: list[InputGuard]) -> list[str]:
    g = next((g for g in guards if g.index == index), None)
    if g is None:
        return []
    if g.lo is None:
        return ["/* input guard: NaN/Inf only (no range known) */"]
    return [f"/* input guard range (from {g.source}), inclusive */",
            f"#define {tag}_MIN {_c_literal(g.lo)}", f"#define {tag}_MAX {_c_literal(g.hi)}"]


def _guard_api_h(P: str, p: str) -> list[str]:
    return [f"/* Check the float inputs as {p}_invoke() does first: {P}_OK or a",
            f" * {P}_ERR_INPUT_* code. */", f"int {p}_check_inputs(void);",
            f"/* Run one inference. Returns {P}_OK, or a {P}_ERR_INPUT_* code (the model",
            " * then does not run). */"]


def _guard_c(P: str, p: str, guards: list[InputGuard]) -> list[str]:
    if not guards:
        return []
    lines = ["/* Input guard: scan a float input for NaN, +-Inf (by the IEEE-754 bits, so",
             " * it holds under -ffast-math) and, when has_range, values outside [lo, hi]. */",
             f"static int {p}_guard_f32(const uint8_t *bytes, size_t n, int has_range, "
             "float lo, float hi) {",
             "  size_t i;", "  int is_nan = 0, is_inf = 0, outside = 0;",
             "  for (i = 0; i < n; ++i) {", "    uint32_t bits;", "    float v;",
             "    memcpy(&bits, bytes + 4u * i, sizeof bits);",
             "    memcpy(&v, bytes + 4u * i, sizeof v);",
             "    if ((bits & 0x7F800000u) == 0x7F800000u) {",
             "      if (bits & 0x007FFFFFu) is_nan = 1; else is_inf = 1;",
             "    } else if (has_range && (v < lo || v > hi)) {", "      outside = 1;", "    }",
             "  }",
             f"  return is_nan ? {P}_ERR_INPUT_NAN : is_inf ? {P}_ERR_INPUT_INF :\n"
             f"         outside ? {P}_ERR_INPUT_RANGE : {P}_OK;", "}", "",
             f"int {p}_check_inputs(void) {{", "  int rc;"]
    for g in guards:
        rng = (f"1, {_c_literal(g.lo)}, {_c_literal(g.hi)}" if g.lo is not None
               else "0, 0.0f, 0.0f")
        lines += [f"  /* input {g.index}: {g.name} */",
                  f"  rc = {p}_guard_f32({p}_arena + {g.offset}, {g.numel}u, {rng});",
                  f"  if (rc != {P}_OK) return rc;"]
    return lines + [f"  return {P}_OK;", "}", ""]
