"""The `microlith` command. Thin: parse, call the API, render.

Exit codes: 0 success (check: the model fits), 1 error (e.g. a model that
cannot be imported), 2 usage error, 3 (check) the model does not fit.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from . import api
from .errors import MicrolithError
from .report import terminal
from .report.jsonout import dumps
from .targets import Target, get_target
from .units import parse_bytes

EXIT_ERROR, EXIT_USAGE, EXIT_DOES_NOT_FIT = 1, 2, 3

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compile trained neural networks into small, fast, verified C for "
                       "microcontrollers.")
targets_app = typer.Typer(no_args_is_help=True, help="The device catalog.")
app.add_typer(targets_app, name="targets")
keys_app = typer.Typer(no_args_is_help=True, help="Keys that sign and encrypt model updates.")
app.add_typer(keys_app, name="keys")

out = Console(soft_wrap=False)
if not out.is_terminal:
    out = Console(soft_wrap=False, width=120)
err = Console(stderr=True)

Model = Annotated[str, typer.Argument(help="A .tflite or .onnx model file.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TargetOpt = Annotated[str | None, typer.Option(
    "--target", "-t", help="Target id (see `microlith targets list`); generic cores take "
                           "a clock: cortex-m4f@80MHz.")]
Clock = Annotated[float | None, typer.Option("--clock", help="Clock in MHz.")]
RamBudget = Annotated[str | None, typer.Option(
    "--ram-budget", help="RAM the model may use, e.g. 64K (checked instead of the SRAM).")]
FlashBudget = Annotated[str | None, typer.Option(
    "--flash-budget", help="Flash the model may use, e.g. 256K.")]
Reserve = Annotated[str | None, typer.Option(
    "--ram-reserve", help="RAM kept for stack and application when checking against a "
                          "device's SRAM (default 4K).")]


def _errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MicrolithError as e:
            err.print(f"[bold red]error[/]: {e}", highlight=False)
            raise typer.Exit(EXIT_ERROR) from None
    return wrapper


def _target(spec: str | None, clock: float | None) -> Target | None:
    if spec is None:
        if clock is not None:
            raise typer.BadParameter("--clock needs --target", param_hint="--clock")
        return None
    try:
        return get_target(spec, clock)
    except MicrolithError as e:
        raise typer.BadParameter(str(e), param_hint="--target") from None


def _size(value: str | None, hint: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_bytes(value)
    except MicrolithError as e:
        raise typer.BadParameter(str(e), param_hint=hint) from None


@app.command()
@_errors
def inspect(model: Model, json: Json = False):
    """List a model's inputs, outputs and operators, and anything unsupported."""
    result = api.inspect(model)
    if json:
        print(dumps(result.to_dict()))
    else:
        terminal.render_inspection(result, out)
    if not result.supported:
        raise typer.Exit(EXIT_ERROR)


Measure = Annotated[bool, typer.Option(
    "--measure", help="Build for the target's core and run it in emulation (as `bench`): "
    "measured flash, RAM, stack and instructions replace the planning figures.")]
Opt = Annotated[str, typer.Option(help="With --measure: O2 or Os.")]


def _profile(model, target, clock, ram_budget, flash_budget, ram_reserve, measure=False,
             opt="O2"):
    t = _target(target, clock)
    budgets = dict(ram_budget=_size(ram_budget, "--ram-budget"),
                   flash_budget=_size(flash_budget, "--flash-budget"),
                   ram_reserve=_size(ram_reserve, "--ram-reserve"))
    if measure and t is None:
        raise typer.BadParameter("--measure needs --target (its core picks the build)",
                                 param_hint="--target")
    if opt not in ("O2", "Os"):
        raise typer.BadParameter("choose O2 or Os", param_hint="--opt")
    return api.profile(model, t, measure=measure, opt=f"-{opt}", **budgets)


@app.command()
@_errors
def profile(model: Model, target: TargetOpt = None, clock: Clock = None,
            ram_budget: RamBudget = None, flash_budget: FlashBudget = None,
            ram_reserve: Reserve = None, measure: Measure = False, opt: Opt = "O2",
            json: Json = False):
    """Per-layer cost, totals, fit verdict and latency/energy estimates."""
    result = _profile(model, target, clock, ram_budget, flash_budget, ram_reserve, measure,
                      opt)
    if json:
        print(dumps(result.to_dict()))
    else:
        terminal.render_profile(result, out)


@app.command()
@_errors
def check(model: Model, target: TargetOpt = None, clock: Clock = None,
          ram_budget: RamBudget = None, flash_budget: FlashBudget = None,
          ram_reserve: Reserve = None, measure: Measure = False, opt: Opt = "O2",
          json: Json = False):
    """Does the model fit? Exit 0 if it does, 3 if it does not (a CI gate)."""
    if target is None and ram_budget is None and flash_budget is None:
        raise typer.BadParameter("give --target or a --ram-budget/--flash-budget",
                                 param_hint="--target")
    result = _profile(model, target, clock, ram_budget, flash_budget, ram_reserve, measure,
                      opt)
    if json:
        print(dumps(result.to_dict()))
    else:
        terminal.render_profile(result, out, verdict_only=True)
    if result.fits is None:
        err.print("[bold red]error[/]: the target has no RAM or flash size; pass "
                  "--ram-budget and/or --flash-budget")
        raise typer.Exit(EXIT_ERROR)
    if not result.fits:
        raise typer.Exit(EXIT_DOES_NOT_FIT)


def _input_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not LO:HI (two numbers)",
                                 param_hint="--input-range") from None
    if not (lo <= hi and abs(lo) < 3.4e38 and abs(hi) < 3.4e38):
        raise typer.BadParameter(f"{text!r}: need finite float32 values with LO <= HI",
                                 param_hint="--input-range")
    return lo, hi


def _slot_options(weights_slot: bool, update_key: str | None, decrypt_key: str | None,
                  target: Target | None) -> dict:
    if not weights_slot:
        if update_key is not None or decrypt_key is not None:
            raise typer.BadParameter("the update verifier needs --weights-slot",
                                     param_hint="--update-key")
        return {}
    if decrypt_key is not None and update_key is None:
        raise typer.BadParameter("--decrypt-key needs --update-key", param_hint="--decrypt-key")
    from .codegen import UpdateConfig
    from .package import keys
    options = {"weights_slot": True, "update_target": target.id if target else "any"}
    if update_key is not None:
        options["update"] = UpdateConfig(
            keys.load_public_key(update_key),
            keys.load_encryption_key(decrypt_key) if decrypt_key is not None else None)
    return options


@app.command("compile")
@_errors
def compile_(model: Model,
             out_dir: Annotated[str, typer.Option("-o", "--out", help="Output directory.")],
             prefix: Annotated[str, typer.Option(help="Prefix of every public C symbol.")]
             = "model",
             target: TargetOpt = None, json: Json = False,
             input_guard: Annotated[bool, typer.Option(
                 "--input-guard", help="Check every float input before invoke: NaN/Inf "
                 "and, when a range is known, out-of-range values give an error code.")]
             = False,
             input_range: Annotated[str | None, typer.Option(
                 "--input-range", help="LO:HI range of the float inputs for the input guard "
                 "(implies --input-guard), e.g. --input-range=-1:1.")] = None,
             weights_slot: Annotated[bool, typer.Option(
                 "--weights-slot", help="Read every constant from one image that a signed "
                 "model-only update can replace (model.json has its layout).")] = False,
             update_key: Annotated[str | None, typer.Option(
                 "--update-key", help="With --weights-slot: embed the update verifier for "
                 "this Ed25519 public key (a `keys generate` directory or key file).")] = None,
             decrypt_key: Annotated[str | None, typer.Option(
                 "--decrypt-key", help="With --update-key: accept only updates encrypted "
                 "with this 32-byte key (the directory or update_encryption_key.bin).")]
             = None):
    """Generate a standalone C project: model.h/.c, weights, kernels, build files."""
    t = _target(target, None)
    options = {}
    if input_guard or input_range is not None:
        options = {"input_guard": True, "input_range": _input_range(input_range)}
    options.update(_slot_options(weights_slot, update_key, decrypt_key, t))
    project = api.compile(model, out_dir, prefix=prefix, target=t, **options)
    result = api.profile(model, t) if t is not None else None
    if json:  # one object: the project's model.json, plus the verdict for --target
        meta = dict(project.meta)
        if result is not None:
            verdict = result.to_dict()
            meta.update({k: verdict[k] for k in ("target", "fits", "reasons")})
        print(dumps(meta))
        return
    terminal.render_project(project, out)
    if result is not None:
        terminal.render_profile(result, out, verdict_only=True)


@app.command()
@_errors
def validate(model: Model,
             reference: Annotated[str | None, typer.Option(
                 help="tflm, onnxruntime or numpy (default: the model's own runtime).")] = None,
             inputs: Annotated[int, typer.Option(
                 "--inputs", help="Number of seeded random input samples.")] = 10,
             data: Annotated[str | None, typer.Option(
                 help=".npz with input samples (by input name; first axis = samples).")] = None,
             seed: Annotated[int, typer.Option(help="Seed of the random inputs.")] = 0,
             debug: Annotated[bool, typer.Option(
                 "--debug", help="Compare every intermediate tensor; name the first layer "
                                 "that diverges.")] = False,
             json: Json = False):
    """Compile for the host, run the C and a reference on the same inputs, compare.
    Exit 0 when they agree (integer outputs bit-exact), 3 when they do not."""
    if reference is not None and reference not in ("tflm", "onnxruntime", "numpy"):
        raise typer.BadParameter("choose tflm, onnxruntime or numpy",
                                 param_hint="--reference")
    if inputs < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--inputs")
    result = api.validate(model, reference, inputs=inputs, data=data, seed=seed, debug=debug)
    if json:
        print(dumps(result.to_dict()))
    else:
        terminal.render_validation(result, out)
    if not result.passed:
        raise typer.Exit(EXIT_DOES_NOT_FIT)


@app.command("bench")
@_errors
def bench_(model: Model,
           target: Annotated[str, typer.Option(
               "--target", "-t", help="Target id (its core picks the build).")],
           opt: Annotated[str, typer.Option(help="O2 or Os.")] = "O2",
           samples: Annotated[int, typer.Option(help="Seeded random inputs to run.")] = 2,
           layers: Annotated[bool, typer.Option(
               "--layers", help="Also measure the executed instructions of every layer "
                                "(Unicorn cores; not under QEMU yet).")] = False,
           clock: Clock = None, json: Json = False):
    """Cross-compile for the target's Cortex-M core, run in emulation, check the
    outputs bit for bit against the host build, and report flash, RAM, stack and
    executed instructions (measured) and latency and energy (estimated)."""
    if opt not in ("O2", "Os"):
        raise typer.BadParameter("choose O2 or Os", param_hint="--opt")
    if samples < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--samples")
    t = _target(target, clock)
    result = api.bench(model, t, opt=f"-{opt}", samples=samples, layers=layers)
    if json:
        print(dumps(result.to_dict()))
    else:
        terminal.render_bench(result, out)
    if not result.bit_exact:
        raise typer.Exit(EXIT_DOES_NOT_FIT)


@app.command("package")
@_errors
def package_(project_dir: Annotated[str, typer.Argument(
                 help="A directory written by `microlith compile`.")],
             fmt: Annotated[str, typer.Option(
                 "--format", "-f", help="cmake, arduino, platformio, zephyr, zip, update "
                                        "or mcuboot.")],
             out_path: Annotated[str, typer.Option(
                 "-o", "--out", help="Output directory (a .zip file for zip, the blob for "
                                     "update, the image for mcuboot).")],
             sample: Annotated[str | None, typer.Option(
                 help=".npy/.npz input for the example (float data is quantized as the "
                      "model's input says); default: a seeded random input.")] = None,
             seed: Annotated[int, typer.Option(help="Seed of the default input.")] = 0,
             name: Annotated[str | None, typer.Option(
                 help="Library name (default microlith-<prefix>).")] = None,
             version: Annotated[str | None, typer.Option(
                 help="Library version (semver, default 1.0.0); for update/mcuboot the "
                      "model/image version (required).")] = None,
             author: Annotated[str, typer.Option(help="Library author.")] = "microlith",
             url: Annotated[str | None, typer.Option(
                 help="The library's web page (Arduino/PlatformIO).")] = None,
             sign_key: Annotated[str | None, typer.Option(
                 help="Signing key (update, mcuboot).")] = None,
             encrypt_key: Annotated[str | None, typer.Option(
                 help="Encryption key (update).")] = None,
             target: Annotated[str | None, typer.Option(
                 "--target", "-t", help="Target of the update/mcuboot image (default: the "
                                        "project's).")] = None,
             json: Json = False):
    """Package a compiled project: a CMake/Make library, an Arduino or PlatformIO
    library, a Zephyr module (each with an example that runs one inference and
    checks it), a reproducible zip, or a signed update."""
    from .package import FORMATS, package
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    opts: dict = {"sample": sample, "seed": seed, "name": name, "author": author,
                  "sign_key": sign_key, "encrypt_key": encrypt_key}
    if url is not None:
        opts["url"] = url
    if version is not None:
        opts["version"] = int(version) if fmt in ("update", "mcuboot") and \
            version.isdigit() else version
    if fmt in ("update", "mcuboot"):
        opts = {k: opts[k] for k in ("sign_key", "encrypt_key") if opts[k] is not None} | \
            {"version": opts.get("version")} | ({"target": target} if target else {})
    elif target is not None:
        raise typer.BadParameter("only for --format update or mcuboot", param_hint="--target")
    result = package(project_dir, fmt, out_path, **opts)
    if json:
        print(dumps(result.to_dict()))
        return
    what = [f"{len(result.files)} files"] if result.files else []
    what += [f"{result.name} {result.version}".strip() or "version ?"]
    out.print(f"wrote the {result.format} package {result.path} ({', '.join(what)})",
              highlight=False)
    if result.sample:
        out.print(f"example input: {result.sample}", highlight=False)
        out.print("expected outputs (measured: host build): "
                  + "; ".join(" ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                       for v in vals[:16]) for vals in result.expected),
                  highlight=False)
    for note in result.notes:
        out.print(f"note: {note}", highlight=False)


@keys_app.command("generate")
@_errors
def keys_generate(out_dir: Annotated[str, typer.Option("-o", "--out", help="Key directory.")],
                  force: Annotated[bool, typer.Option(
                      "--force", help="Replace keys already in the directory.")] = False,
                  json: Json = False):
    """An Ed25519 signing key (PEM, 0600), its public key (raw and as a C array) and
    a ChaCha20-Poly1305 encryption key (0600) for signed, encrypted model updates."""
    from .package.keys import generate_keys
    files = generate_keys(out_dir, force=force)
    if json:
        print(dumps(files.to_dict()))
        return
    out.print(f"signing key     {files.signing_key}  (Ed25519, keep secret, mode 0600)")
    out.print(f"public key      {files.public_key}  ({files.public_key_hex[:16]}...)")
    out.print(f"public key (C)  {files.public_key_h}")
    out.print(f"encryption key  {files.encryption_key}  (ChaCha20-Poly1305, mode 0600)")


def _num_opt(help_text: str):
    return Annotated[str | None, typer.Option(help=help_text)]


@app.command("quantize")
@_errors
def quantize_(model: Model,
              calib: Annotated[str, typer.Option(
                  "--calib", help="Calibration data: .npz/.npy (by input name, samples on "
                  "axis 0), a folder of images or .wav files, or 'random[:N]' (noise: the "
                  "numbers then mean nothing).")],
              out_name: Annotated[str, typer.Option(
                  "-o", "--out", help="Writes OUT.tflite (int8 TFLite) and OUT.json (how it "
                  "was quantized, the fidelity report).")],
              per_channel: Annotated[bool, typer.Option(
                  "--per-channel/--per-tensor", help="Weight scales per output channel or "
                  "one per tensor.")] = True,
              method: Annotated[str | None, typer.Option(
                  help="Activation ranges: minmax, percentile, mse or entropy (default: the "
                  "quantizer's default; the report names it).")] = None,
              int16_activations: Annotated[str | None, typer.Option(
                  "--int16-activations", help="Layers (comma-separated node names) to run "
                  "16x8, or 'auto' (chosen by per-layer sensitivity).")] = None,
              eval_data: Annotated[str | None, typer.Option(
                  "--eval", help="Held-out data for the report (same formats as --calib); "
                  "default: hold out a fifth of the calibration data.")] = None,
              labels: Annotated[str | None, typer.Option(
                  help="Class labels of the evaluation samples (.npy, .npz, text) for task "
                  "accuracy; an .npz --eval with a 'y' array needs none.")] = None,
              bias_correction: Annotated[bool, typer.Option(
                  "--bias-correction/--no-bias-correction",
                  help="Correct biases for the per-channel weight error.")] = True,
              scale: _num_opt("Images/audio: multiply by this (e.g. 1/255).") = None,
              offset: _num_opt("Images/audio: then add this.") = None,
              mean: _num_opt("Images/audio: then subtract this (per channel: a,b,c).") = None,
              std: _num_opt("Images/audio: then divide by this (per channel: a,b,c).") = None,
              audio: Annotated[str | None, typer.Option(
                  help="Front end for .wav folders, every parameter stated: e.g. "
                  "mfcc:window=480,hop=320,n_mels=40,n_mfcc=10 or logmel:window=...")]
              = None,
              json: Json = False):
    """Post-training int8 quantization of a float model, with a fidelity report
    against it: SQNR per output and per layer, top-1 agreement, accuracy."""
    from .quant import METHODS
    if method is not None and method not in METHODS:
        raise typer.BadParameter(f"choose {', '.join(METHODS)}", param_hint="--method")
    int16 = None
    if int16_activations is not None:
        int16 = (int16_activations if int16_activations == "auto" else
                 [n.strip() for n in int16_activations.split(",") if n.strip()])
    options = dict(eval=eval_data, labels=labels, per_channel=per_channel, method=method,
                   int16_layers=int16, bias_correction=bias_correction, scale=scale,
                   offset=offset, mean=mean, std=std, audio=audio)
    if json:
        result = api.quantize(model, calib, out_name, **options)
        print(dumps(result.to_dict()))
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from .quant.fidelity import render
    with Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks = {}

        def tick(what):
            def update(done, total):
                if what not in tasks:
                    tasks[what] = bar.add_task(what, total=total)
                bar.update(tasks[what], completed=done)
            return update
        result = api.quantize(model, calib, out_name, **options,
                              calib_progress=tick("calibrating"),
                              eval_progress=tick("evaluating"))
    render(result, out)


@targets_app.command("list")
def targets_list(json: Json = False):
    """Every device and generic core microlith knows."""
    items = api.targets()
    if json:
        print(dumps({"schema_version": 1, "targets": [t.to_dict() for t in items]}))
    else:
        terminal.render_targets(items, out)


@targets_app.command("show")
def targets_show(target_id: Annotated[str, typer.Argument(help="Target id.")],
                 json: Json = False):
    """One target in full, with its datasheet reference."""
    t = _target(target_id, None)
    if json:
        print(dumps(t.to_dict()))
    else:
        terminal.render_target(t, out)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - a bug of ours, reported as one
        if os.environ.get("MICROLITH_TRACEBACK"):
            raise
        err.print(f"[bold red]internal error[/] (a bug in microlith, please report it): "
                  f"{type(e).__name__}: {e}\nSet MICROLITH_TRACEBACK=1 to see where.",
                  highlight=False)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
