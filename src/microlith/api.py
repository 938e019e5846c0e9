"""The public Python API. Returns the same objects the CLI renders."""

from __future__ import annotations

import os

from . import frontends
from .errors import MicrolithError
from .inspection import Inspection, inspect_model
from .ir import Graph
from .profile import Profile
from .profile import profile as _profile
from .targets import Target, catalog, get_target
from .units import parse_bytes


def load(path: str | os.PathLike) -> Graph:
    """Import a .tflite or .onnx model; raises MicrolithError listing every problem."""
    return frontends.load(path)


def inspect(path: str | os.PathLike) -> Inspection:
    return inspect_model(os.fspath(path))


def _target(target: str | Target | None, clock_mhz: float | None) -> Target | None:
    if target is None or isinstance(target, Target):
        return target
    return get_target(target, clock_mhz)


def profile(model: str | os.PathLike | Graph, target: str | Target | None = None, *,
            ram_budget: int | str | None = None, flash_budget: int | str | None = None,
            ram_reserve: int | str | None = None, clock_mhz: float | None = None,
            measure: bool = False, opt: str = "-O2") -> Profile:
    """Per-layer costs, totals, fit verdict and estimates for ``model`` on ``target``.
    ``profile(...).to_dict()`` is exactly what ``microlith profile --json`` prints.
    ``measure``: build for the target's core at ``opt`` and run it in emulation
    (``bench``); the measured flash, RAM, stack and instructions replace the
    planning figures."""
    graph = prepare(model)
    t = _target(target, clock_mhz)

    def size(v):
        return None if v is None else parse_bytes(v)

    measured = None
    if measure:
        if t is None:
            raise MicrolithError("measuring needs a target: its core picks the build")
        from .emulate import bench as _bench
        measured = _bench(graph, t, opt=opt, samples=1).to_dict()
    return _profile(graph, t, ram_budget=size(ram_budget), flash_budget=size(flash_budget),
                    ram_reserve=size(ram_reserve), measured=measured)


def targets() -> list[Target]:
    return list(catalog().values())


def prepare(model: str | os.PathLike | Graph) -> Graph:
    """The graph microlith compiles: imported, then simplified by ``passes``
    (BatchNorm and bias folding, activation fusion). A Graph passed in is
    copied, never modified."""
    from .passes import optimize
    graph = model.copy() if isinstance(model, Graph) else load(model)
    return optimize(graph)


def compile(model: str | os.PathLike | Graph, out_dir: str | os.PathLike,
            prefix: str = "model", target: str | Target | None = None, **options):
    """Write the standalone C project for ``model`` into ``out_dir``; ``options``
    go to ``codegen.generate`` (e.g. ``input_guard=True, input_range=(lo, hi)``).
    With ``target``, the project is generated for the kernels its core runs
    (``codegen.kernels_for``: portable C alone on cores without DSP, which
    then reserve no scratch for the DSP paths) unless ``kernels`` is given."""
    from .codegen import generate, kernels_for
    t = _target(target, None)
    if t is not None:
        options.setdefault("kernels", kernels_for(t))
    return generate(prepare(model), out_dir, prefix=prefix, **options)


def validate(model: str | os.PathLike | Graph, reference: str | None = None, *,
             inputs: int = 10, data: str | os.PathLike | None = None, seed: int = 0,
             debug: bool = False):
    """Run the generated C (host build) and a reference (tflm, onnxruntime or
    numpy) on the same inputs; ``.to_dict()`` is what ``validate --json`` prints."""
    from .verify.validate import validate as _validate
    return _validate(prepare(model), reference, samples=inputs, data=data, seed=seed, debug=debug)


def bench(model: str | os.PathLike | Graph, target: str | Target, *, opt: str = "-O2",
          samples: int = 2, seed: int = 0, clock_mhz: float | None = None,
          layers: bool = False):
    """Cross-build for ``target``'s core, run in emulation, compare with the
    host build: flash, RAM, stack, executed instructions (measured) and latency
    and energy (estimated). ``layers``: also each layer's executed
    instructions (Unicorn cores). ``.to_dict()`` is what ``microlith bench
    --json`` prints."""
    from .emulate import bench as _bench
    t = _target(target, clock_mhz)
    return _bench(prepare(model), t, opt=opt, samples=samples, seed=seed, layers=layers)


def quantize(model: str | os.PathLike | Graph, calib, out: str | os.PathLike | None = None, *,
             eval=None, labels=None, per_channel: bool = True,
             method: str | None = None, int16_layers=None, bias_correction: bool = True,
             scale=None, offset=None, mean=None, std=None, audio: str | None = None,
             calib_progress=None, eval_progress=None):
    """Post-training int8 quantization of a float model, measured against it.

    ``calib``/``eval``: an .npz/.npy file, a folder of images or .wav files
    (with ``audio``, e.g. ``"mfcc:window=480,hop=320,n_mels=40,n_mfcc=10"``),
    ``"random"``, or a list of {input name: float array} samples. Images and
    audio features are normalized as ``x * scale + offset``, then
    ``(x - mean) / std``. ``method`` None: the quantizer's default range
    method (the report names it). Without ``eval`` a fifth of the calibration data is
    held out for the report. With ``out`` writes OUT.tflite (standard int8
    TFLite) and OUT.json (how it was quantized and the report).
    ``.to_dict()`` is what ``microlith quantize --json`` prints."""
    from .quant.calib import AudioFrontend, Normalize
    from .quant.fidelity import run_quantize
    return run_quantize(model, calib, out, eval=eval, labels=labels, per_channel=per_channel,
                        method=method, int16_layers=int16_layers,
                        bias_correction=bias_correction,
                        normalize=Normalize.parse(scale, offset, mean, std),
                        audio=AudioFrontend.parse(audio) if audio else None,
                        calib_progress=calib_progress, eval_progress=eval_progress)
