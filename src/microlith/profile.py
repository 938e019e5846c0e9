"""Profile a model against a target: per-layer cost, totals, a fit verdict
with every reason, and labelled latency/energy estimates."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ops
from .ir import DType, Graph
from .plan import MemoryPlan, plan_memory
from .targets import Target

SCHEMA_VERSION = 1

# Estimated code size of one kernel family in a generated project (bytes of
# Thumb-2 code at -Os), plus a fixed runtime. Until the on-target measurement
# lands these are the planning figures; reports call them estimates.
KERNEL_CODE_BYTES = {"conv": 2048, "fully_connected": 1024, "pool": 768, "elementwise": 768,
                     "activation": 1024, "normalization": 512, "shape": 512, "reduce": 512,
                     "recurrent": 3072, "quantize": 384}
RUNTIME_CODE_BYTES = 1024
# RAM a firmware needs beside the model when checked against a device's SRAM:
# main stack through the deepest kernel call, C runtime data, a little
# application state. Not applied to an explicit --ram-budget (that budget is
# what the user gives the model). Override with ram_reserve / --ram-reserve.
DEFAULT_RAM_RESERVE = 4096
ELEMENT_CYCLES = 2.0  # cycles per non-MAC element operation, integer or hardware float
SOFT_FLOAT_ELEMENT_CYCLES = 20.0
MATRIX_FAMILIES = ("conv", "fully_connected", "recurrent")


@dataclass
class Layer:
    index: int
    name: str
    op: str
    output_shape: list[int]
    dtype: str
    params: int
    macs: int
    elementwise_ops: int
    weight_bytes: int
    activation_bytes: int  # non-constant inputs + outputs: the layer's working set

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Check:
    resource: str  # ram | flash
    required_bytes: int
    available_bytes: int
    source: str  # where the capacity came from
    basis: str  # how the requirement was obtained

    @property
    def ok(self) -> bool:
        return self.required_bytes <= self.available_bytes

    def to_dict(self) -> dict:
        return {"resource": self.resource, "required_bytes": self.required_bytes,
                "available_bytes": self.available_bytes, "ok": self.ok,
                "source": self.source, "basis": self.basis}


@dataclass
class Profile:
    model: dict
    target: dict | None
    totals: dict
    provenance: dict
    layers: list[Layer]
    memory: MemoryPlan
    checks: list[Check]
    fits: bool | None
    reasons: list[str]
    warnings: list[str]
    estimates: dict
    graph: Graph = field(repr=False, default=None)
    measured: dict | None = None  # the bench result behind `profile --measure`

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "target": self.target,
            "totals": self.totals,
            "provenance": self.provenance,
            "memory": self.memory.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
            "checks": [c.to_dict() for c in self.checks],
            "fits": self.fits,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "estimates": self.estimates,
            "measured": self.measured,
        }


def numeric_class(graph: Graph) -> str:
    """float32, int8 or int16x8, from the matrix ops' operand types."""
    kinds = set()
    for node in graph.nodes:
        if ops.get(node.op).family in MATRIX_FAMILIES:
            x = graph.tensor(node.inputs[0])
            kinds.add(x.dtype)
    if DType.FLOAT32 in kinds or not kinds and any(
            graph.tensor(n).dtype is DType.FLOAT32 for n in graph.inputs):
        return "float32"
    if DType.INT16 in kinds:
        return "int16x8"
    return "int8"


def layer_costs(graph: Graph) -> list[Layer]:
    layers = []
    for i, node in enumerate(graph.nodes):
        opdef = ops.get(node.op)
        ins = graph.input_tensors(node)
        outs = graph.output_tensors(node)
        cost = opdef.cost(ins, outs, node.attrs)
        params = [ins[j] for j in opdef.param_inputs
                  if j < len(ins) and ins[j] is not None and ins[j].is_constant]
        act_in = [t for t in ins if t is not None and not t.is_constant]
        layers.append(Layer(
            index=i, name=node.name, op=node.op, output_shape=list(outs[0].shape),
            dtype=outs[0].dtype.value, params=sum(t.numel for t in params), macs=cost.macs,
            elementwise_ops=cost.elementwise,
            weight_bytes=sum(t.nbytes for t in ins if t is not None and t.is_constant),
            activation_bytes=sum(t.nbytes for t in act_in) + sum(t.nbytes for t in outs)))
    return layers


def _io(graph: Graph, names: list[str]) -> list[dict]:
    out = []
    for n in names:
        t = graph.tensor(n)
        out.append({"name": n, "shape": list(t.shape), "dtype": t.dtype.value,
                    "quant": t.quant.to_dict() if t.quant else None, "bytes": t.nbytes,
                    "layout": graph.meta.get("layout", {}).get(n, "")})
    return out


def estimate_code_bytes(graph: Graph) -> tuple[int, str]:
    families = sorted({ops.get(n.op).family for n in graph.nodes})
    total = RUNTIME_CODE_BYTES + sum(KERNEL_CODE_BYTES.get(f, 512) for f in families)
    return total, (f"estimated: {RUNTIME_CODE_BYTES} B runtime + one kernel per op family "
                   f"({', '.join(families)}) at planning sizes")


def compiled_plan(graph: Graph, target: Target | None = None) -> tuple[MemoryPlan, bool]:
    """The memory plan the generated C uses for ``target`` (with each
    kernel's scratch for the target's kernel set), and True; or, when some op
    has no C kernel yet, the plan without scratch and False."""
    from . import codegen
    from .errors import MicrolithError
    try:
        lowerings = codegen.lower_all(graph, codegen.kernels_for(target))
    except MicrolithError:
        return plan_memory(graph, inplace_conv=True), False
    return codegen.compiled_plan(graph, lowerings), True


def profile(graph: Graph, target: Target | None = None, ram_budget: int | None = None,
            flash_budget: int | None = None, ram_reserve: int | None = None,
            measured: dict | None = None) -> Profile:
    """``measured``: a ``microlith bench`` result (``BenchResult.to_dict()``)
    for this graph on ``target``: its flash, static RAM, peak stack and
    instruction count then replace the planning figures (code size, reserve
    for the stack, MACs-per-cycle latency) in the totals, the fit verdict and
    the estimates, and the report carries it under ``measured``."""
    layers = layer_costs(graph)
    plan, compiled = compiled_plan(graph, target)
    weight_bytes = sum(t.nbytes for t in graph.constants())
    io_bytes = sum(graph.tensor(n).nbytes for n in graph.inputs + graph.outputs)
    numeric = numeric_class(graph)
    totals = {
        "params": sum(layer.params for layer in layers),
        "macs": sum(layer.macs for layer in layers),
        "elementwise_ops": sum(layer.elementwise_ops for layer in layers),
        "weight_bytes": weight_bytes,
        "activation_peak_bytes": plan.arena_bytes,
        "activation_lower_bound_bytes": plan.lower_bound_bytes,
        "scratch_bytes": plan.scratch_bytes,
        "state_bytes": plan.state_bytes,
        "io_bytes": io_bytes,
        "layers": len(layers),
        "numeric": numeric,
    }
    code_bytes, code_basis = estimate_code_bytes(graph)
    totals["code_bytes_estimate"] = code_bytes
    provenance = {
        "params": "measured: counted from the model's weight and bias tensors",
        "macs": "measured: counted from layer shapes (conv, depthwise, fully-connected, "
                "transposed conv, recurrent; one per multiply-accumulate)",
        "weight_bytes": "measured: bytes of every constant tensor in the model",
        "activation_peak_bytes": (f"measured: the arena of the generated C ({plan.method})"
                                  if compiled else
                                  f"estimated: static plan ({plan.method}); some ops have no "
                                  "C kernel yet, so kernel scratch is not included"),
        "scratch_bytes": ("measured: largest kernel scratch of the generated C" if compiled
                          else "estimated: unknown until every op has a C kernel"),
        "activation_lower_bound_bytes": "measured: largest set of tensors alive at one step",
        "io_bytes": "measured: graph input and output tensor bytes (inside the arena)",
        "code_bytes_estimate": code_basis,
    }

    checks: list[Check] = []
    warnings: list[str] = []
    ram_need = plan.arena_bytes + plan.scratch_bytes + plan.state_bytes
    how = "measured from the generated C" if compiled else "estimated"
    ram_basis = (f"{how}: arena {plan.arena_bytes:,} B + scratch {plan.scratch_bytes:,} B + "
                 f"persistent state {plan.state_bytes:,} B")
    flash_need = weight_bytes + code_bytes
    flash_basis = (f"weights {weight_bytes:,} B (measured) + code {code_bytes:,} B "
                   "(estimated)")
    reserve_what = "stack, C runtime and application"
    if measured is not None:
        fl, ram, stack = measured["flash"], measured["ram"], measured["stack_peak_bytes"]
        where = (f"{measured['build']['core']} {measured['opt']} build, "
                 f"{measured['emulator']['name']}")
        totals["code_bytes"] = fl["code"]
        totals["stack_peak_bytes"] = stack
        provenance["code_bytes"] = f"measured: code in the ELF ({where})"
        provenance["stack_peak_bytes"] = f"measured: painted stack peak ({where})"
        flash_need = fl["total"]
        flash_basis = (f"measured from the ELF ({where}): code {fl['code']:,} B + weights "
                       f"{fl['weights']:,} B")
        ram_need = ram["total"] + (stack or 0)
        ram_basis = (f"measured from the ELF ({where}): arena {ram['arena']:,} B + scratch "
                     f"{ram['scratch']:,} B + state {ram['state']:,} B + other static "
                     f"{ram['other']:,} B + peak stack {stack:,} B")
        reserve_what = "C runtime and application (the stack is measured)"
    if ram_budget is not None:
        if ram_reserve:
            ram_need += ram_reserve
            ram_basis += f" + reserve {ram_reserve:,} B (--ram-reserve)"
        else:
            ram_basis += "; stack and application RAM not included"
        checks.append(Check("ram", ram_need, ram_budget, "--ram-budget", ram_basis))
    elif target is not None and target.sram_bytes is not None:
        reserve = DEFAULT_RAM_RESERVE if ram_reserve is None else ram_reserve
        ram_need += reserve
        ram_basis += (f" + reserve {reserve:,} B for {reserve_what} "
                      "(a planning figure; set --ram-reserve)")
        checks.append(Check("ram", ram_need, target.sram_bytes, f"{target.name} SRAM",
                            ram_basis))
    if flash_budget is not None:
        checks.append(Check("flash", flash_need, flash_budget, "--flash-budget", flash_basis))
    elif target is not None and target.flash_bytes is not None:
        what = "external flash" if target.flash_external else "flash"
        checks.append(Check("flash", flash_need, target.flash_bytes, f"{target.name} {what}",
                            flash_basis))

    reasons = []
    for c in checks:
        if not c.ok:
            short = c.required_bytes - c.available_bytes
            reasons.append(
                f"{c.resource.upper()}: needs {fmt_bytes(c.required_bytes)} but "
                f"{c.source} is {fmt_bytes(c.available_bytes)}: short by {fmt_bytes(short)} "
                f"({c.basis})")
    fits = all(c.ok for c in checks) if checks else None
    if not checks:
        warnings.append("no RAM or flash size to check against: pass a device target or "
                        "--ram-budget/--flash-budget")
    if target is not None:
        if numeric == "float32" and not target.core.has_fpu:
            warnings.append(f"float32 model on {target.core.name} without an FPU: every "
                            "float operation runs in software; quantize to int8")
        if target.flash_external:
            warnings.append(f"{target.name} keeps code and weights in external flash; "
                            "execute-in-place through a cache can be much slower than the "
                            "estimate")
    estimates = _estimates(totals, numeric, target)
    if measured is not None:
        est = measured["estimates"]
        estimates = {**estimates, "latency_ms": est["latency_ms"], "energy_uj": est["energy_uj"],
                     "cycles": None, "instructions": measured["instructions"],
                     "cpi": est["cpi"], "method": est["method"]}
        if not measured["bit_exact"]:
            warnings.append("the emulated build's outputs differ from the host build's: "
                            + "; ".join(measured["mismatches"][:3]))
    model = {"path": graph.meta.get("path", ""), "sha256": graph.meta.get("sha256", ""),
             "format": graph.meta.get("format", ""), "file_bytes": graph.meta.get("file_bytes"),
             "inputs": _io(graph, graph.inputs), "outputs": _io(graph, graph.outputs),
             "notes": graph.meta.get("notes", [])}
    return Profile(model=model, target=target.to_dict() if target else None, totals=totals,
                   provenance=provenance, layers=layers, memory=plan, checks=checks,
                   fits=fits, reasons=reasons, warnings=warnings, estimates=estimates,
                   graph=graph, measured=measured)


def _estimates(totals: dict, numeric: str, target: Target | None) -> dict:
    if target is None:
        return {"latency_ms": None, "energy_uj": None, "cycles": None,
                "method": "no target given: no latency or energy estimate"}
    core = target.core
    if numeric == "float32":
        rate = core.f32_macs_per_cycle
        elem = ELEMENT_CYCLES if core.has_fpu else SOFT_FLOAT_ELEMENT_CYCLES
        rate_name = "float32"
    else:
        rate, elem, rate_name = core.int8_macs_per_cycle, ELEMENT_CYCLES, "int8"
    cycles = totals["macs"] / rate + totals["elementwise_ops"] * elem
    latency_ms = cycles / (target.clock_mhz * 1e3)
    method = (f"estimated: {totals['macs']:,} MACs / {rate:g} {rate_name} MACs per cycle "
              f"({core.id} planning figure) + {totals['elementwise_ops']:,} other element ops "
              f"x {elem:g} cycles = {cycles:,.0f} cycles at {target.clock_mhz:g} MHz")
    energy = None
    current = target.active_current_ma()
    if current is not None:
        energy = latency_ms * target.supply_v * current  # ms * V * mA = uJ
        scaled = ("" if target.clock_mhz == target.active_mhz else
                  f", scaled linearly from {target.active_ma:g} mA at {target.active_mhz:g} MHz")
        method += (f"; energy = latency x {target.supply_v:g} V x {current:.3g} mA run current "
                   f"(datasheet{scaled})")
        if target.power_confidence != "datasheet":
            method += "; the run-current figure is not yet checked against the datasheet"
    else:
        method += "; no energy estimate: the target has no run-current figure"
    return {"latency_ms": latency_ms, "energy_uj": energy, "cycles": round(cycles),
            "numeric": numeric, "macs_per_cycle": rate, "method": method,
            "basis": core.estimate_basis}


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n}"
