"""Cortex-M55: the Helium (MVE) kernels against the portable C kernels on the
same core, for the MLPerf Tiny int8 models, measured in one run.

    .venv/bin/python bench/run_helium_bench.py [--models KWS,IC]

Each model is built for cortex-m55 (QEMU mps3-an547) at -O2 twice, with the
Helium paths and with -D<PREFIX>_ML_PORTABLE, and run on two seeded random
inputs. Measured: bit-exactness against the host build, instructions per
invoke (from QEMU's execution trace; tests/test_helium.py explains the
method and checks it against Unicorn on cortex-m4f), and code bytes (flash
minus weights, of a build without the test harness and its sample inputs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

MODELS = {
    "KWS": "mlcommons_tiny/kws_ref_model.tflite",
    "VWW": "mlcommons_tiny/vww_96_int8.tflite",
    "IC": "mlcommons_tiny/pretrainedResnet_quant.tflite",
    "AD": "mlcommons_tiny/ad01_int8.tflite",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()

    from shared_models import _find

    import microlith
    from microlith.api import prepare
    from microlith.codegen import generate
    from microlith.codegen.host import compile_for_host
    from microlith.emulate.qemu import invoke_instructions, run_qemu
    from microlith.emulate.unicorn import section_sizes
    from microlith.toolchain.arm import build_elf
    from microlith.verify.validate import random_samples

    root = _find()
    if root is None:
        sys.exit("../shared/models not found (set MICROLITH_SHARED_MODELS)")
    lines = ["| model | Helium instructions | MACs/instr | portable C on the same M55 | "
             "MACs/instr | ratio | code Helium / portable (B) | bit-exact |",
             "|---|---:|---:|---:|---:|---:|---:|:-:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            graph = prepare(root / MODELS[name])
            macs = microlith.profile(graph).totals["macs"]
            samples = random_samples(graph, 2, seed=3)
            work = Path(tmp) / name
            project = generate(graph, work / "project", prefix="model")
            host = compile_for_host(graph, prefix="model", workdir=work / "host")
            want = [host.invoke(s) for s in samples]
            got = {}
            for label, extra in (("helium", ()), ("portable", ("-DMODEL_ML_PORTABLE",))):
                build = build_elf(project, "cortex-m55", "-O2", board="mps3-an547",
                                  samples=samples, out=work / f"{label}.elf",
                                  extra_cflags=extra)
                run = run_qemu(build, timeout=600)
                exact = all(np.array_equal(a, b) for outs, ref in zip(run.outputs, want,
                                                                      strict=True)
                            for a, b in zip(outs, ref, strict=True))
                counts, _ = invoke_instructions(build.elf, prefix="model")
                bare = build_elf(project, "cortex-m55", "-O2", board="mps3-an547",
                                 firmware="none", out=work / f"{label}-none.elf",
                                 extra_cflags=extra)
                code = section_sizes(bare.elf, "model")["flash"]["code"]
                got[label] = (max(counts), code, exact)
                print(f"{name} {label}: done", file=sys.stderr)
            (hi, hc, he), (pi, pc, pe) = got["helium"], got["portable"]
            lines.append(f"| {name} | {hi:,} | {macs / hi:.2f} | {pi:,} | {macs / pi:.3f} | "
                         f"{pi / hi:.1f}x | {hc:,} / {pc:,} | "
                         f"{'yes' if he and pe else 'NO'} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
