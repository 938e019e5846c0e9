"""Post-training quantization: microlith's int8 models against the official
MLPerf Tiny int8 models (made by the TFLite converter), measured in one run.

For vww_96_float, pretrainedResnet and ad01_fp32: calibrate on 100 realistic
inputs and evaluate on 100 others (tests/quant_data.py: crops of natural
photos for VWW and IC, windows of the ad01 sample spectrogram for AD), and
report the output SQNR (dB) of our int8 model and of the official int8 model
against the float model on the same evaluation inputs, for every calibration
method (the last column: the first method, by default the quantizer's default).
The float model runs in microlith's numpy reference, both int8 models in
TensorFlow Lite Micro. Also: mnist.onnx accuracy on held-out
scikit-learn digits (float vs our int8), and the wall time of quantizing
vww_96_float with 200 calibration images (wall and CPU time: the machines
are shared).

    .venv/bin/python bench/run_quant_bench.py [--methods minmax,mse] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

CASES = [("VWW", "vww_96_float.tflite", "vww_96_int8.tflite", "vww_sets"),
         ("IC", "pretrainedResnet.tflite", "pretrainedResnet_quant.tflite", "ic_sets"),
         ("AD", "ad01_fp32.tflite", "ad01_int8.tflite", "ad_sets")]


def shared_models() -> Path:
    from shared_models import _find
    found = _find()
    if found is None:
        sys.exit("../shared/models not found (set MICROLITH_SHARED_MODELS)")
    return found


def sqnr_table(models: Path, methods: list[str], n: int) -> list[str]:
    import quant_data

    from microlith.quant import fidelity, quantize
    rows = ["| model | official int8 (TFLite converter) | "
            + " | ".join(f"microlith {m}" for m in methods)
            + f" | microlith {methods[0]} - official |",
            "|---|---:|" + "---:|" * len(methods) + "---:|"]
    for label, float_file, official, sets in CASES:
        cal, ev = getattr(quant_data, sets)(n, n)
        fpath = models / "mlcommons_tiny" / float_file
        ours = []
        ref = None
        for method in methods:
            result = quantize(fpath, cal, method=method)
            if ref is None:
                ref = fidelity.float_outputs(result.float_graph, ev)
            rep = fidelity.evaluate(result, ev, runtime="tflm", reference=ref)
            ours.append(rep.outputs[0].sqnr_db)
        theirs = fidelity.model_sqnr(result.float_graph, models / "mlcommons_tiny" / official,
                                     ev, runtime="tflm", reference=ref).outputs[0].sqnr_db
        rows.append(f"| {label} `{float_file}` | {theirs:.2f} | "
                    + " | ".join(f"{v:.2f}" for v in ours)
                    + f" | {ours[0] - theirs:+.2f} |")
        print(rows[-1], file=sys.stderr)
    return rows


def mnist_line(models: Path) -> str:
    import quant_data

    from microlith.quant import fidelity, quantize
    cal, ev, y = quant_data.mnist_sets(200, 500)
    result = quantize(models / "onnx" / "mnist.onnx", cal)
    acc = fidelity.evaluate(result, ev, labels=y, runtime="tflm").accuracy
    return (f"mnist.onnx, 200 calibration digits, {len(ev)} held-out digits (measured): "
            f"float {100 * acc['float']:.2f} %, microlith int8 {100 * acc['int8']:.2f} % "
            f"({100 * (acc['int8'] - acc['float']):+.2f} points)")


def vww_time(models: Path, n: int) -> str:
    import quant_data

    from microlith.quant import quantize
    cal, _ = quant_data.vww_sets(n, 1)
    path = models / "mlcommons_tiny" / "vww_96_float.tflite"
    t0, c0 = time.perf_counter(), time.process_time()
    quantize(path, cal)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return (f"quantizing vww_96_float with {n} calibration images (measured on a shared "
            f"2-core machine): {wall:.1f} s wall time, {cpu:.1f} s CPU time of this process")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=None,
                    help="comma-separated; default: the quantizer's default method first, "
                         "then the others")
    ap.add_argument("--quick", action="store_true", help="20+20 samples (a smoke run)")
    args = ap.parse_args()
    models = shared_models()
    n = 20 if args.quick else 100
    if args.methods:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    else:
        import inspect

        from microlith.quant import METHODS, quantize
        default = inspect.signature(quantize).parameters["method"].default
        methods = [default] + [m for m in METHODS if m != default]
    command = "python bench/run_quant_bench.py" + (
        f" --methods {args.methods}" if args.methods else "") + (
        " --quick" if args.quick else "")
    lines = ["### Quantization: microlith int8 vs the official MLPerf Tiny int8 models", "",
             f"`{command}` ({n} calibration + {n} other evaluation inputs per model; output "
             f"SQNR in dB against the float model, measured; higher is better)", ""]
    lines += sqnr_table(models, methods, n)
    lines += ["", "- " + mnist_line(models), "- " + vww_time(models, 2 * n)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
