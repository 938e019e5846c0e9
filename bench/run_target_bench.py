"""On-target figures for the MLPerf Tiny models and person_detect on
cortex-m4f and cortex-m0plus, from Cortex-M builds run in emulation.

    .venv/bin/python bench/run_target_bench.py [--opt O2] [--out FILE]

Measured: flash (code / weights), RAM (arena / scratch / other), painted peak stack,
executed instructions per inference (Unicorn), MACs per instruction.
Estimated: latency at 120 MHz = instructions x the core's cycles-per-
instruction planning figure. Beside them, published MLPerf Tiny v1.x latencies
on a Cortex-M4 board at 120 MHz, which are wall-clock measurements on real
hardware: a different method, shown for orientation only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

MODELS = {
    "KWS": "mlcommons_tiny/kws_ref_model.tflite",
    "VWW": "mlcommons_tiny/vww_96_int8.tflite",
    "IC": "mlcommons_tiny/pretrainedResnet_quant.tflite",
    "AD": "mlcommons_tiny/ad01_int8.tflite",
    "person_detect": "tflite_micro/person_detect.tflite",
}
# Published MLPerf Tiny latencies (ms) on a Cortex-M4 at 120 MHz (issue text):
# TFLM + CMSIS-NN reference, and the best published result.
PUBLISHED = {"KWS": (181.9, 43.2), "VWW": (600.6, 88.9), "IC": (704.2, 165.1),
             "AD": (10.05, 4.05)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opt", default="O2", choices=["O2", "Os"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from shared_models import _find

    import microlith
    from microlith.api import prepare
    from microlith.emulate import bench

    root = _find()
    if root is None:
        sys.exit("../shared/models not found (set MICROLITH_SHARED_MODELS)")
    lines = ["| model | core | flash code / weights (B) | RAM arena / scratch / other (B) | "
             "stack (B) | "
             "instructions | MACs/instr | est. latency @120 MHz (ms) | bit-exact | "
             "published M4 @120 MHz: TFLM+CMSIS-NN / best (ms) |",
             "|---|---|---:|---:|---:|---:|---:|---:|:-:|---:|"]
    cpi = {}
    for name, rel in MODELS.items():
        graph = prepare(root / rel)
        for core in ("cortex-m4f", "cortex-m0plus"):
            d = bench(graph, microlith.get_target(f"{core}@120MHz"),
                                        opt=f"-{args.opt}").to_dict()
            cpi[core] = d["estimates"]["cpi"]
            ram_other = d["ram"]["other"]
            pub = PUBLISHED.get(name)
            pub_s = f"{pub[0]} / {pub[1]}" if pub and core == "cortex-m4f" else "-"
            lines.append(
                f"| {name} | {core} | {d['flash']['code']:,} / {d['flash']['weights']:,} | "
                f"{d['ram']['arena']:,} / {d['ram']['scratch']:,} / {ram_other:,} | "
                f"{d['stack_peak_bytes']:,} | "
                f"{d['instructions']:,} | {d['macs_per_instruction']:.3f} | "
                f"{d['estimates']['latency_ms']:.1f} | {'yes' if d['bit_exact'] else 'NO'} | "
                f"{pub_s} |")
            print(f"{name} {core}: done", file=sys.stderr)
    text = "\n".join([
        "### On target: Cortex-M builds in emulation", "",
        f"Command: `.venv/bin/python bench/run_target_bench.py --opt {args.opt}` "
        "(arm-none-eabi-gcc; our kernels with the ARMv7E-M DSP paths on cortex-m4f, portable C on "
        "cortex-m0plus; instructions counted in Unicorn).", "",
        *lines, "",
        "Measured: flash, RAM, stack (painted), instructions, MACs/instruction, bit-exactness "
        "against the host build. Estimated: latency = instructions x "
        + ", ".join(f"{c} {v:g}" for c, v in cpi.items())
        + " cycles/instruction (planning figures, zero-wait-state memory) at 120 MHz. "
        "The published column is wall-clock time measured on real boards by MLPerf Tiny "
        "submitters: a different method, not comparable digit for digit.",
    ])
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
