"""Terminal rendering with rich: tables, units, and how each figure was got."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..inspection import Inspection
from ..profile import Profile, fmt_bytes
from ..targets import Target


def _num(n: int | float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:,.2f} {unit}"
    return f"{n:,.0f}"


def _shape(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def _short(name: str, width: int = 36) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _quant(q: dict | None) -> str:
    if not q:
        return "-"
    if isinstance(q.get("scale"), list):
        return f"per-channel axis {q['axis']} ({len(q['scale'])} scales)"
    return f"scale {q['scale']:.6g}, zero point {q['zero_point']}"


def _io_table(title: str, rows: list[dict]) -> Table:
    t = Table(title=title, title_justify="left", expand=False)
    for col in ("name", "shape", "dtype", "quantization", "bytes"):
        t.add_column(col, justify="right" if col == "bytes" else "left")
    for r in rows:
        shape = _shape(r["shape"]) + (" (NHWC)" if r.get("layout") else "")
        t.add_row(_short(r["name"]), shape, r["dtype"], _quant(r.get("quant")),
                  fmt_bytes(r.get("bytes")))
    return t


def render_inspection(ins: Inspection, console: Console) -> None:
    m = ins.model
    console.print(f"[bold]{m['path']}[/]  {m['format']}, {fmt_bytes(m['file_bytes'])}, "
                  f"sha256 {m['sha256'][:16]}…")
    console.print(_io_table("Inputs", ins.inputs))
    console.print(_io_table("Outputs", ins.outputs))
    t = Table(title="Operators in the file", title_justify="left")
    t.add_column("operator")
    t.add_column("count", justify="right")
    for op, n in sorted(ins.source_ops.items(), key=lambda kv: (-kv[1], kv[0])):
        t.add_row(op, str(n))
    console.print(t)
    for note in ins.notes:
        console.print(f"note: {note}")
    if ins.supported:
        console.print("[green]supported[/]: microlith imports every operator "
                      f"({sum(ins.ops.values())} nodes: "
                      + ", ".join(f"{k} x{v}" for k, v in sorted(ins.ops.items())) + ")")
    else:
        console.print(f"[red]not importable[/]: {len(ins.problems)} problem(s)")
        for p in ins.problems:
            console.print(f"  - {p}", highlight=False)


def _target_line(t: dict) -> str:
    mem = []
    if t.get("sram_bytes"):
        mem.append(f"{fmt_bytes(t['sram_bytes'])} SRAM")
    if t.get("flash_bytes"):
        ext = " (external)" if t.get("flash_external") else ""
        mem.append(f"{fmt_bytes(t['flash_bytes'])} flash{ext}")
    core = t["core"]
    return (f"{t['name']} ({t['id']}): {core['name']} @ {t['clock_mhz']:g} MHz"
            + (", " + ", ".join(mem) if mem else ""))


def render_profile(p: Profile, console: Console, verdict_only: bool = False) -> None:
    m = p.model
    console.print(f"[bold]{m['path']}[/]  {m['format']}, sha256 {m['sha256'][:16]}…")
    if p.target:
        console.print("target: " + _target_line(p.target))
    if not verdict_only:
        console.print(_io_table("Inputs", m["inputs"]))
        console.print(_io_table("Outputs", m["outputs"]))
        t = Table(title="Layers", title_justify="left")
        for col, just in (("#", "right"), ("name", "left"), ("op", "left"),
                          ("output", "left"), ("params", "right"), ("MACs", "right"),
                          ("weights", "right"), ("activations", "right")):
            t.add_column(col, justify=just)
        for layer in p.layers:
            t.add_row(str(layer.index), _short(layer.name, 32), layer.op,
                      _shape(layer.output_shape) + f" {layer.dtype}", _num(layer.params),
                      _num(layer.macs), fmt_bytes(layer.weight_bytes),
                      fmt_bytes(layer.activation_bytes))
        console.print(t)
        tot = p.totals
        s = Table(title="Totals", title_justify="left")
        s.add_column("figure")
        s.add_column("value", justify="right")
        s.add_column("how")
        rows = [
            ("parameters", _num(tot["params"]), "params"),
            ("MACs per inference", _num(tot["macs"]), "macs"),
            ("weights (flash)", fmt_bytes(tot["weight_bytes"]), "weight_bytes"),
            ("activation arena (RAM)", fmt_bytes(tot["activation_peak_bytes"]),
             "activation_peak_bytes"),
            ("live-set lower bound", fmt_bytes(tot["activation_lower_bound_bytes"]),
             "activation_lower_bound_bytes"),
            ("input + output", fmt_bytes(tot["io_bytes"]), "io_bytes"),
        ]
        if "code_bytes" not in tot:  # else measured, below
            rows.append(("kernel code (flash)", fmt_bytes(tot["code_bytes_estimate"]),
                         "code_bytes_estimate"))
        if tot["scratch_bytes"]:
            rows.append(("kernel scratch (RAM)", fmt_bytes(tot["scratch_bytes"]),
                         "scratch_bytes"))
        if tot["state_bytes"]:
            rows.append(("persistent state (RAM)", fmt_bytes(tot["state_bytes"]), ""))
        if "code_bytes" in tot:  # profile --measure
            rows.append(("kernel + startup code (flash)", fmt_bytes(tot["code_bytes"]),
                         "code_bytes"))
            rows.append(("peak stack (RAM)", fmt_bytes(tot["stack_peak_bytes"]),
                         "stack_peak_bytes"))
        for label, value, key in rows:
            how = p.provenance.get(key, "measured: variable tensors of the model")
            s.add_row(label, value, how.split(":")[0])
        console.print(s)
    _render_verdict(p, console)
    e = p.estimates
    if p.measured is not None:
        m = p.measured
        console.print(f"[bold]measured[/] {m['instructions']:,} instructions per inference "
                      f"({m['macs_per_instruction']:.3f} MACs/instruction, "
                      f"{m['build']['core']} {m['opt']}, {m['emulator']['name']}); outputs "
                      + ("bit-exact with the host build" if m["bit_exact"]
                         else "DIFFER from the host build"))
    if e.get("latency_ms") is not None:
        energy = f", {e['energy_uj']:,.1f} µJ" if e.get("energy_uj") is not None else ""
        console.print(f"[bold]estimated[/] latency {e['latency_ms']:,.2f} ms{energy} per "
                      f"inference ({e['numeric']})")
        console.print(Text(f"  method: {e['method']}", style="dim"))
    for w in p.warnings:
        console.print(f"[yellow]warning[/]: {w}", highlight=False)


def _render_verdict(p: Profile, console: Console) -> None:
    if p.checks:
        t = Table(title="Fit", title_justify="left")
        for col, just in (("resource", "left"), ("needs", "right"), ("has", "right"),
                          ("headroom", "right"), ("", "left")):
            t.add_column(col, justify=just)
        for c in p.checks:
            head = c.available_bytes - c.required_bytes
            t.add_row(c.resource.upper(), fmt_bytes(c.required_bytes),
                      fmt_bytes(c.available_bytes), fmt_bytes(head),
                      "[green]ok[/]" if c.ok else "[red]too big[/]")
        console.print(t)
    if p.fits is True:
        console.print("[bold green]FITS[/]")
    elif p.fits is False:
        console.print("[bold red]DOES NOT FIT[/]")
        for r in p.reasons:
            console.print(f"  - {r}", highlight=False)
    else:
        console.print("[yellow]no verdict[/]: no RAM or flash size to check against")


def render_targets(targets: list[Target], console: Console) -> None:
    t = Table(title=f"{len(targets)} targets", title_justify="left")
    for col, just in (("id", "left"), ("name", "left"), ("core", "left"), ("MHz", "right"),
                      ("SRAM", "right"), ("flash", "right"), ("FPU", "left"),
                      ("SIMD", "left"), ("run", "right"), ("sleep", "right")):
        t.add_column(col, justify=just)
    for x in targets:
        c = x.core
        simd = c.vector if c.vector != "none" else ("DSP" if c.dsp else "-")
        run = f"{x.active_ma:g} mA@{x.active_mhz:g}" if x.has_power else "-"
        sleep = f"{x.sleep_ua:g} µA" if x.sleep_ua is not None else "-"
        flash = fmt_bytes(x.flash_bytes) + ("*" if x.flash_external else "") \
            if x.flash_bytes else "-"
        t.add_row(x.id, x.name, c.id, f"{x.clock_mhz:g}",
                  fmt_bytes(x.sram_bytes) if x.sram_bytes else "-", flash,
                  c.fpu, simd, run, sleep)
    console.print(t)
    console.print("* external flash on the module/board.  Generic cores (no sizes) accept "
                  "a clock: cortex-m4f@80MHz.")


def render_target(x: Target, console: Console) -> None:
    t = Table(show_header=False, title=x.name, title_justify="left")
    t.add_column("field")
    t.add_column("value")
    c = x.core
    rows = [("id", x.id), ("kind", x.kind), ("vendor", x.vendor or "-"), ("chip", x.chip or "-"),
            ("core", f"{c.name} ({c.arch})"), ("clock", f"{x.clock_mhz:g} MHz"),
            ("SRAM", fmt_bytes(x.sram_bytes) if x.sram_bytes else "-"),
            ("flash", (fmt_bytes(x.flash_bytes) + (" external" if x.flash_external else ""))
             if x.flash_bytes else "-"),
            ("FPU", c.fpu), ("DSP/SIMD", "yes" if c.dsp else "no"), ("vector", c.vector),
            ("run current", f"{x.active_ma:g} mA at {x.active_mhz:g} MHz, {x.supply_v:g} V"
             if x.has_power else "-"),
            ("sleep current", f"{x.sleep_ua:g} µA ({x.sleep_mode})"
             if x.sleep_ua is not None else "-"),
            ("power figures", x.power_confidence or "-"),
            ("datasheet", x.datasheet or "-"), ("notes", x.notes or "-"),
            ("estimate figures", f"{c.int8_macs_per_cycle:g} int8 MACs/cycle, "
                                 f"{c.f32_macs_per_cycle:g} float32 MACs/cycle (estimated)"),
            ("basis", c.estimate_basis)]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)


def render_project(project, console: Console) -> None:
    m = project.meta
    console.print(f"[bold]wrote {project.path}[/] (prefix {project.prefix}): "
                  f"{len(project.files)} files, kernels: {', '.join(m['kernels']) or '-'}")
    t = Table(title="Memory (measured from the generated plan)", title_justify="left")
    t.add_column("what")
    t.add_column("bytes", justify="right")
    for label, key in (("arena", "arena_bytes"), ("scratch", "scratch_bytes"),
                       ("state", "state_bytes"), ("live-set lower bound", "lower_bound_bytes"),
                       ("weights (const)", "weight_bytes")):
        t.add_row(label, fmt_bytes(m[key]))
    console.print(t)
    console.print(f"plan: {m['plan_method']}")


def render_validation(v, console: Console) -> None:
    console.print(f"[bold]{v.model['path']}[/]: generated C (host, -O2) vs "
                  f"{v.reference['name']} {v.reference['version']}, {v.samples} samples")
    t = Table(title="Outputs", title_justify="left")
    for col, just in (("output", "left"), ("exact", "right"), ("max |err|", "right"),
                      ("RMSE", "right"), ("MAE", "right"), ("cosine", "right"),
                      ("top-1", "right")):
        t.add_column(col, justify=just)
    for o in v.outputs:
        top1 = "-" if o.top1_agreement is None else f"{100 * o.top1_agreement:.1f}%"
        exact = "100%" if o.exact_match == 1.0 else f"{min(100 * o.exact_match, 99.999):.3f}%"
        t.add_row(_short(o.name), exact, f"{o.max_abs_error:.3g}",
                  f"{o.rmse:.3g}", f"{o.mae:.3g}", f"{o.cosine:.6f}", top1)
    console.print(t)
    console.print(f"arena {fmt_bytes(v.arena_bytes)}, scratch {fmt_bytes(v.scratch_bytes)}, "
                  f"state {fmt_bytes(v.state_bytes)} (measured from the compiled plan)")
    if v.first_divergence:
        d = v.first_divergence
        console.print(f"[red]first divergence from {d['against']}[/]: node #{d['index']} {d['op']} "
                      f"{d['node']!r} (tensor {d['tensor']!r}, sample {d['sample']}): "
                      f"{d['mismatched']} of {d['values']} values differ, max |err| "
                      f"{d['max_abs_error']:.3g}", highlight=False)
    verdict = "[bold green]MATCH[/]" if v.passed else "[bold red]MISMATCH[/]"
    console.print(f"{verdict}: {v.criterion}")


def _render_bench_layers(d: dict, console: Console) -> None:
    total = d["instructions"] or 1
    tab = Table(title="Measured instructions per layer (Unicorn, the invoke with the most "
                      "instructions; MACs computed from the graph)", title_justify="left")
    for col, just in (("#", "right"), ("layer", "left"), ("op", "left"),
                      ("instructions", "right"), ("share", "right"), ("MACs", "right"),
                      ("MACs/instr", "right")):
        tab.add_column(col, justify=just)
    for r in d["layers"]:
        mpi = r["macs_per_instruction"]
        tab.add_row("" if r["index"] is None else str(r["index"]), r["name"], r["op"],
                    f"{r['instructions']:,}", f"{100 * r['instructions'] / total:.1f}%",
                    f"{r['macs']:,}" if r["macs"] else "-",
                    f"{mpi:.3f}" if mpi else "-")
    console.print(tab)
    console.print(Text("  the 'invoke' row is the invoke function's own code (argument setup "
                       "for every call, prologue, epilogue); rows sum to the total exactly",
                       style="dim"))


def render_bench(b, console: Console) -> None:
    d = b.to_dict()
    t = d["target"]
    console.print(f"[bold]{t['name']}[/] @ {t['clock_mhz']:g} MHz: built for "
                  f"{d['build']['core']} ({d['opt']}, board {d['build']['board']}), run in "
                  f"{d['emulator']['name']} {d['emulator']['version']} on {d['samples']} "
                  "samples")
    tab = Table(title="Measured", title_justify="left")
    tab.add_column("figure")
    tab.add_column("value", justify="right")
    rows = [("flash: code", fmt_bytes(d["flash"]["code"])),
            ("flash: weights", fmt_bytes(d["flash"]["weights"])),
            ("RAM: arena", fmt_bytes(d["ram"]["arena"])),
            ("RAM: scratch", fmt_bytes(d["ram"]["scratch"])),
            ("RAM: state", fmt_bytes(d["ram"]["state"])),
            ("RAM: other", fmt_bytes(d["ram"]["other"])),
            ("peak stack", fmt_bytes(d["stack_peak_bytes"])),
            ("instructions per inference", f"{d['instructions']:,}"),
            ("MACs per instruction", f"{d['macs_per_instruction']:.3f}")]
    for k, v in rows:
        tab.add_row(k, v)
    console.print(tab)
    if d.get("layers"):
        _render_bench_layers(d, console)
    fit = d.get("fit") or {}
    parts = []
    if fit.get("ram") is not None:
        need = d["ram"]["total"] + d["stack_peak_bytes"]
        parts.append(f"RAM {fmt_bytes(need)} (static + peak stack) of "
                     f"{fmt_bytes(t['sram_bytes'])}: {'fits' if fit['ram'] else 'does NOT fit'}")
    if fit.get("flash") is not None:
        parts.append(f"flash {fmt_bytes(d['flash']['total'])} of {fmt_bytes(t['flash_bytes'])}: "
                     f"{'fits' if fit['flash'] else 'does NOT fit'}")
    if parts:
        console.print(f"[bold]measured[/] on {t['name']}: " + "; ".join(parts)
                      + " (the application's own RAM and flash not included)")
    e = d["estimates"]
    if e.get("latency_ms") is not None:
        energy = f", {e['energy_uj']:,.1f} µJ" if e.get("energy_uj") is not None else ""
        console.print(f"[bold]estimated[/] {e['latency_ms']:,.2f} ms{energy} per inference")
        console.print(Text(f"  method: {e['method']}", style="dim"))
    console.print("[bold green]bit-exact with the host build[/]" if d["bit_exact"]
                  else "[bold red]outputs differ from the host build[/]")
