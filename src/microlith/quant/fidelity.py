"""What quantization cost, measured against the float model on held-out inputs.

* SQNR per output, in dB: ``10 log10(sum x^2 / sum (x - deq(q))^2)`` with the
  sums over every element of every evaluation sample (x the float model's
  value, deq(q) = scale * (q - zero_point) the integer model's);
* top-1 agreement per output: how often the argmax over the last axis is the
  same (for a [1, classes] output: the predicted class);
* task accuracy of both models when labels are given (first output's argmax);
* SQNR per layer: every integer tensor against the float tensor it
  approximates (``QuantResult.tensor_map``), both graphs run by the numpy
  reference executor (``verify/reference.py``; bit-exact with TFLM for the
  integer graph);
* size: bytes of the constant tensors (weights, biases) before and after.

``model_sqnr`` computes the same per-output figures for ANY integer model
file (e.g. the TFLite converter's) against a float model, for comparisons.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import MicrolithError
from ..ir import Graph

SCHEMA_VERSION = 1


# -- arithmetic ------------------------------------------------------------------
def sqnr_from_energy(signal_energy: float, noise_energy: float) -> float:
    """10 log10(signal / noise); +inf when the noise is exactly zero."""
    if noise_energy == 0:
        return math.inf if signal_energy > 0 else math.nan
    if signal_energy == 0:
        return -math.inf
    return 10.0 * math.log10(signal_energy / noise_energy)


def quantize_input(x: np.ndarray, tensor) -> np.ndarray:
    """A float array in the integer input tensor's representation:
    round-half-away-from-zero(x / scale) + zero_point, saturated."""
    if tensor.dtype.is_float:
        return np.asarray(x, dtype=tensor.dtype.numpy)
    if tensor.quant is None:
        raise MicrolithError(f"input {tensor.name!r} is {tensor.dtype.value} without "
                             f"quantization parameters: cannot feed it float data")
    scale = float(tensor.quant.scale[0])
    zp = int(tensor.quant.zero_point[0])
    v = np.asarray(x, dtype=np.float64) / scale
    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + zp
    info = np.iinfo(tensor.dtype.numpy)
    return np.clip(q, info.min, info.max).astype(tensor.dtype.numpy)


def dequantize(q: np.ndarray, tensor) -> np.ndarray | None:
    """scale * (q - zero_point) as float64 (per-channel along the tensor's
    axis); float tensors as they are; None for an integer tensor without
    quantization parameters."""
    if tensor.dtype.is_float:
        return np.asarray(q, dtype=np.float64)
    if tensor.quant is None:
        return None
    qp = tensor.quant
    q = np.asarray(q, dtype=np.float64)
    if qp.axis is None or len(qp.scale) == 1:
        return (q - float(qp.zero_point[0])) * float(qp.scale[0])
    shape = [1] * q.ndim
    shape[qp.axis] = -1
    return (q - qp.zero_point.reshape(shape)) * qp.scale.astype(np.float64).reshape(shape)


def weight_bytes(graph: Graph) -> int:
    """Bytes of the constant tensors the nodes read (weights, biases, tables)."""
    return int(sum(t.nbytes for t in graph.constants()))


class _Energy:
    """Running sums for one SQNR figure."""

    __slots__ = ("signal", "noise", "count")

    def __init__(self):
        self.signal = 0.0
        self.noise = 0.0
        self.count = 0

    def add(self, ref: np.ndarray, approx: np.ndarray) -> None:
        ref = np.asarray(ref, dtype=np.float64)
        diff = ref - np.asarray(approx, dtype=np.float64).reshape(ref.shape)
        self.signal += float(np.sum(ref * ref))
        self.noise += float(np.sum(diff * diff))
        self.count += 1

    @property
    def db(self) -> float:
        return sqnr_from_energy(self.signal, self.noise)


def _finite(v: float | None) -> float | None:
    """JSON has no infinity: exact agreement (or no signal) is reported as null."""
    return None if v is None or not math.isfinite(v) else round(float(v), 3)


# -- results ---------------------------------------------------------------------
@dataclass
class OutputFidelity:
    name: str
    sqnr_db: float
    top1_agreement: float | None
    samples: int

    def to_dict(self) -> dict:
        return {"name": self.name, "sqnr_db": _finite(self.sqnr_db),
                "exact": self.sqnr_db == math.inf,
                "top1_agreement": (None if self.top1_agreement is None
                                   else round(self.top1_agreement, 4)),
                "samples": self.samples}


@dataclass
class LayerFidelity:
    name: str          # node name in the integer graph
    op: str
    tensor: str        # its output tensor
    sqnr_db: float
    dtype: str         # "int8" | "int16"

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "tensor": self.tensor,
                "sqnr_db": _finite(self.sqnr_db), "exact": self.sqnr_db == math.inf,
                "dtype": self.dtype}


@dataclass
class FidelityReport:
    outputs: list[OutputFidelity]
    layers: list[LayerFidelity]
    size: dict[str, int]
    samples: int
    accuracy: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)
    runtime: str = "numpy"   # what ran the integer model: numpy (reference) or tflm

    def to_dict(self) -> dict:
        runner = ("TensorFlow Lite Micro" if self.runtime == "tflm"
                  else "microlith's numpy reference (bit-exact with TFLM)")
        d = {"schema_version": SCHEMA_VERSION,
             "measured": (f"measured on {self.samples} evaluation samples: the float model "
                          f"run by microlith's numpy reference, the integer model by "
                          f"{runner}"),
             "samples": self.samples,
             "outputs": [o.to_dict() for o in self.outputs],
             "layers": [la.to_dict() for la in self.layers],
             "size": dict(self.size), "notes": list(self.notes)}
        if self.accuracy is not None:
            d["accuracy"] = {k: round(v, 4) if isinstance(v, float) else v
                             for k, v in self.accuracy.items()}
        return d

    def worst_layers(self, n: int = 5) -> list[LayerFidelity]:
        finite = [la for la in self.layers if math.isfinite(la.sqnr_db)]
        return sorted(finite, key=lambda la: la.sqnr_db)[:n]


# -- running both models ------------------------------------------------------------
def _load(model) -> Graph:
    if isinstance(model, Graph):
        return model
    from .. import api
    return api.prepare(model)


def _run(graph: Graph, feeds: dict[str, np.ndarray], keep: bool) -> dict[str, np.ndarray]:
    from ..verify.reference import run
    return run(graph, feeds, keep_intermediates=keep)


def _int_feeds(graph: Graph, sample: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    return {n: quantize_input(x, graph.tensor(n))
            for n, x in zip(graph.inputs, sample, strict=True)}


def _check_pair(fg: Graph, ig: Graph) -> None:
    problems = []
    if len(fg.inputs) != len(ig.inputs):
        problems.append(f"the float model has {len(fg.inputs)} inputs, the integer one "
                        f"{len(ig.inputs)}")
    if len(fg.outputs) != len(ig.outputs):
        problems.append(f"the float model has {len(fg.outputs)} outputs, the integer one "
                        f"{len(ig.outputs)}")
    for a, b in zip(fg.inputs + fg.outputs, ig.inputs + ig.outputs, strict=False):
        sa, sb = fg.tensor(a).shape, ig.tensor(b).shape
        if math.prod(sa) != math.prod(sb):
            problems.append(f"{a!r} {list(sa)} and {b!r} {list(sb)} differ in size")
    for n in ig.outputs:
        t = ig.tensor(n)
        if not t.dtype.is_float and t.quant is None:
            problems.append(f"integer output {n!r} has no quantization parameters")
    if problems:
        raise MicrolithError("the float and the integer model do not correspond (inputs and "
                             "outputs are matched by position)", problems)


def _top1(ref: np.ndarray, approx: np.ndarray) -> bool | None:
    ref = np.asarray(ref)
    if ref.shape[-1] < 2:
        return None
    a = np.asarray(approx).reshape(ref.shape)
    return bool(np.array_equal(ref.argmax(axis=-1), a.argmax(axis=-1)))


def _inputs_list(fg: Graph, inputs) -> list[list[np.ndarray]]:
    out = []
    for s in inputs:
        if isinstance(s, dict):
            out.append([np.asarray(s[n], dtype=np.float32) for n in fg.inputs])
        else:
            out.append([np.asarray(x, dtype=np.float32) for x in s])
    if not out:
        raise MicrolithError("no evaluation samples")
    return out


def _one_blas_thread():
    from .quantize import one_blas_thread
    return one_blas_thread()


def float_outputs(float_graph: Graph, inputs) -> list[list[np.ndarray]]:
    """The float model's outputs (numpy reference) for each sample, to share
    between several ``compare`` calls on the same inputs."""
    with _one_blas_thread():
        return [[r[n] for n in float_graph.outputs]
                for r in (_run(float_graph, dict(zip(float_graph.inputs, s, strict=True)),
                               False) for s in _inputs_list(float_graph, inputs))]


def _tflm_outputs(int_graph: Graph, tflite, samples) -> list[list[np.ndarray]]:
    from ..verify.tflm import run_tflm
    feeds = [[_int_feeds(int_graph, s)[n] for n in int_graph.inputs] for s in samples]
    return run_tflm(tflite, feeds, state="reset").outputs


def compare(float_graph: Graph, int_graph: Graph, inputs, *,
            labels: np.ndarray | None = None,
            tensor_map: dict[str, str] | None = None,
            layer_dtypes: dict[str, str] | None = None,
            progress: Callable[[int], None] | None = None,
            reference: list[list[np.ndarray]] | None = None,
            runtime: str = "numpy", tflite=None) -> FidelityReport:
    """Run both graphs on the float ``inputs`` (dicts by float input name, or
    lists by position; the integer graph gets them quantized with its input
    parameters) and measure the integer graph against the float one.

    ``tensor_map`` (integer tensor -> float tensor) adds per-layer SQNR (numpy
    reference only). ``reference``: the float outputs already computed
    (``float_outputs``). ``runtime="tflm"`` runs the integer model's
    ``tflite`` (bytes or path) in TensorFlow Lite Micro instead of the numpy
    reference (the two are bit-exact; TFLM is faster on big models);
    ``progress(done)`` is called per sample."""
    with _one_blas_thread():
        return _compare(float_graph, int_graph, inputs, labels, tensor_map, layer_dtypes,
                        progress, reference, runtime, tflite)


def _compare(float_graph, int_graph, inputs, labels, tensor_map, layer_dtypes, progress,
             reference, runtime, tflite) -> FidelityReport:
    _check_pair(float_graph, int_graph)
    samples = _inputs_list(float_graph, inputs)
    if labels is not None and len(labels) != len(samples):
        raise MicrolithError(f"{len(labels)} labels for {len(samples)} evaluation samples")
    if runtime not in ("numpy", "tflm"):
        raise MicrolithError(f"unknown runtime {runtime!r}: numpy or tflm")
    if runtime == "tflm" and (tflite is None or tensor_map):
        raise MicrolithError("runtime tflm needs the .tflite and gives outputs only "
                             "(per-layer figures need the numpy reference)")
    if reference is not None and (tensor_map or len(reference) != len(samples)):
        raise MicrolithError("precomputed float outputs: one per sample, outputs only")
    keep = bool(tensor_map)
    tflm_out = _tflm_outputs(int_graph, tflite, samples) if runtime == "tflm" else None
    out_energy = [_Energy() for _ in int_graph.outputs]
    agree: list[list[bool]] = [[] for _ in int_graph.outputs]
    layer_energy: dict[str, _Energy] = {}
    layer_tensors = []
    if tensor_map:
        for node in int_graph.nodes:
            for t in node.outputs:
                if t in tensor_map and tensor_map[t] in float_graph.tensors:
                    layer_tensors.append((node, t))
    correct_f = correct_i = 0
    for k, sample in enumerate(samples):
        if reference is not None:
            fres = dict(zip(float_graph.outputs, reference[k], strict=True))
        else:
            fres = _run(float_graph, dict(zip(float_graph.inputs, sample, strict=True)), keep)
        if tflm_out is not None:
            ires = dict(zip(int_graph.outputs, tflm_out[k], strict=True))
        else:
            ires = _run(int_graph, _int_feeds(int_graph, sample), keep)
        for j, (fn, iname) in enumerate(zip(float_graph.outputs, int_graph.outputs,
                                            strict=True)):
            ref = fres[fn]
            approx = dequantize(ires[iname], int_graph.tensor(iname))
            out_energy[j].add(ref, approx)
            a = _top1(ref, approx)
            if a is not None:
                agree[j].append(a)
            if j == 0 and labels is not None:
                correct_f += int(np.asarray(ref).reshape(-1).argmax() == labels[k])
                correct_i += int(np.asarray(approx).reshape(-1).argmax() == labels[k])
        for _node, t in layer_tensors:
            deq = dequantize(ires[t], int_graph.tensor(t))
            ref = fres.get(tensor_map[t])
            if deq is None or ref is None or deq.size != np.asarray(ref).size:
                continue
            layer_energy.setdefault(t, _Energy()).add(ref, deq)
        if progress is not None:
            progress(k + 1)
    outputs = [OutputFidelity(n, e.db, (float(np.mean(a)) if a else None), e.count)
               for n, e, a in zip(int_graph.outputs, out_energy, agree, strict=True)]
    layers = []
    for node, t in layer_tensors:
        if t in layer_energy:
            dtype = (layer_dtypes or {}).get(node.name, int_graph.tensor(t).dtype.value)
            layers.append(LayerFidelity(node.name, node.op, t, layer_energy[t].db, dtype))
    accuracy = None
    if labels is not None:
        n = len(samples)
        accuracy = {"float": correct_f / n, "int8": correct_i / n, "samples": n}
    size = {"before": weight_bytes(float_graph), "after": weight_bytes(int_graph)}
    return FidelityReport(outputs, layers, size, len(samples), accuracy, runtime=runtime)


def evaluate(result, inputs, *, labels: np.ndarray | None = None,
             per_layer: bool = True, runtime: str = "numpy",
             reference: list[list[np.ndarray]] | None = None,
             progress: Callable[[int], None] | None = None) -> FidelityReport:
    """The fidelity report of a ``quant.QuantResult`` on held-out float inputs
    (``runtime="tflm"``: outputs only, from its exported .tflite in TFLM)."""
    tflite = None
    if runtime == "tflm":
        from .quantize import quantize_to_tflite
        tflite = quantize_to_tflite(result)
        per_layer = False
    return compare(result.float_graph, result.graph, inputs, labels=labels,
                   tensor_map=result.tensor_map if per_layer else None,
                   layer_dtypes=result.layer_dtypes, progress=progress,
                   reference=reference, runtime=runtime, tflite=tflite)


def model_sqnr(float_model: str | os.PathLike | Graph, int_model: str | os.PathLike | Graph,
               inputs, *, labels: np.ndarray | None = None, runtime: str = "numpy",
               reference: list[list[np.ndarray]] | None = None,
               progress: Callable[[int], None] | None = None) -> FidelityReport:
    """Per-output SQNR / top-1 agreement (and accuracy with labels) of any
    integer model file against a float model on the same float inputs.
    Inputs and outputs are matched by position; the integer model gets the
    float inputs quantized with its own input parameters. ``runtime="tflm"``
    runs the integer model file in TFLM (it must be a .tflite path)."""
    tflite = None
    if runtime == "tflm":
        if isinstance(int_model, Graph):
            raise MicrolithError("runtime tflm needs the integer model's .tflite path")
        tflite = os.fspath(int_model)
    return compare(_load(float_model), _load(int_model), inputs, labels=labels,
                   progress=progress, reference=reference, runtime=runtime, tflite=tflite)


# -- the whole `microlith quantize` run ------------------------------------------------
@dataclass
class Quantization:
    """What ``api.quantize`` did: the integer model, its fidelity report on
    held-out data, the files written and how long it took (measured)."""

    model: str
    result: object                 # quant.QuantResult
    fidelity: FidelityReport
    calibration: dict
    evaluation: dict
    files: dict[str, str]
    seconds: dict[str, float]
    bias_correction: bool = True
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        r = self.result
        f = self.fidelity.to_dict()
        d = {"schema_version": SCHEMA_VERSION, "model": self.model,
             "method": r.method, "per_channel": r.per_channel,
             "bias_correction": self.bias_correction,
             "calibration": dict(self.calibration), "evaluation": dict(self.evaluation),
             "outputs": f["outputs"]}
        if "accuracy" in f:
            d["accuracy"] = f["accuracy"]
        d.update({"layers": f["layers"],
                  "int16_layers": sorted(k for k, v in r.layer_dtypes.items() if v == "int16"),
                  "size": {**f["size"], "unit": "bytes",
                           "what": "measured: bytes of the constant tensors (weights, "
                                   "biases) of the float and the integer graph"},
                  "files": dict(self.files),
                  "timings": {**{k: round(v, 3) for k, v in self.seconds.items()},
                              "how": "measured: wall time on this machine"},
                  "measured": f["measured"],
                  "warnings": list(self.warnings), "notes": list(self.notes)})
        if getattr(r, "sensitivity", None):
            d["sensitivity_db"] = {k: _finite(v) for k, v in r.sensitivity.items()}
        return d


def _as_calib(data, graph: Graph, what: str, normalize, audio):
    from .calib import CalibData, load_data
    if isinstance(data, CalibData):
        return data
    if isinstance(data, str | os.PathLike):
        return load_data(data, graph, normalize=normalize, audio=audio)
    samples = list(data)
    if not samples:
        raise MicrolithError(f"the {what} data is empty")
    return CalibData(samples, f"{len(samples)} samples given by the caller")


def _paths(out: str | os.PathLike, model_name: str) -> tuple[str, str]:
    """(OUT.tflite, OUT.json) for ``-o OUT`` (OUT.tflite also accepted; a
    folder gets <model>_int8.tflite/.json inside)."""
    p = os.fspath(out)
    if os.path.isdir(p):
        p = os.path.join(p, f"{model_name}_int8")
    if p.endswith(".tflite"):
        p = p[:-len(".tflite")]
    elif p.endswith(".json"):
        raise MicrolithError(f"-o {p}: give the output name without .json (OUT.tflite and "
                             f"OUT.json are written)")
    return p + ".tflite", p + ".json"


def run_quantize(model: str | os.PathLike | Graph, calib, out: str | os.PathLike | None = None,
                 *, eval=None, labels=None, per_channel: bool = True,
                 method: str | None = None, int16_layers=None, bias_correction: bool = True,
                 normalize=None, audio=None, holdout: float = 0.2,
                 calib_progress: Callable[[int, int], None] | None = None,
                 eval_progress: Callable[[int, int], None] | None = None) -> Quantization:
    """Load the data, quantize, export OUT.tflite + OUT.json, and measure the
    fidelity on the evaluation data (or a held-out part of the calibration
    data). ``calib_progress(done, total)`` / ``eval_progress(done, total)``
    report progress in samples."""
    import json
    import time

    from .calib import load_labels
    from .quantize import quantize, quantize_to_tflite

    fg = _load(model)
    model_name = os.fspath(model) if not isinstance(model, Graph) else model.name
    cal = _as_calib(calib, fg, "calibration", normalize, audio)
    notes: list[str] = []
    warnings = list(cal.warnings)
    held_out = eval is None
    if held_out:
        if len(cal) < 2:
            raise MicrolithError(f"{len(cal)} calibration sample: give --eval data, or at "
                                 f"least 2 samples so that some can be held out")
        if labels is not None and not isinstance(labels, np.ndarray):
            cal.labels = load_labels(labels, len(cal))
        elif labels is not None:
            cal.labels = np.asarray(labels, dtype=np.int64)
        elif cal.labels is not None:
            notes.append("labels: the 'y' array of the calibration data")
        n_eval = min(len(cal) - 1, max(1, round(len(cal) * holdout)))
        cal, ev = cal.split(n_eval)
        notes.append(f"no evaluation data given: held out the last {len(ev)} of "
                     f"{len(cal) + len(ev)} calibration samples for the fidelity report "
                     f"and calibrated on the other {len(cal)}")
    else:
        ev = _as_calib(eval, fg, "evaluation", normalize, audio)
        warnings += [w for w in ev.warnings if w not in warnings]
        if labels is not None:
            ev.labels = (np.asarray(labels, dtype=np.int64).reshape(-1)
                         if isinstance(labels, np.ndarray) else load_labels(labels, len(ev)))
            if len(ev.labels) != len(ev):
                raise MicrolithError(f"{len(ev.labels)} labels for {len(ev)} evaluation "
                                     f"samples")
        elif ev.labels is not None:
            notes.append("labels: the 'y' array of the evaluation data")
    if cal.random or ev.random:
        notes.append("random data: these figures say nothing about real inputs")

    def _progress(callback, total):
        return None if callback is None else (lambda done: callback(done, total))

    t0 = time.perf_counter()
    chosen = {} if method is None else {"method": method}  # None: the quantizer's default
    result = quantize(fg, cal.samples, per_channel=per_channel, **chosen,
                      int16_layers=int16_layers, bias_correction=bias_correction,
                      progress=_progress(calib_progress, len(cal)))
    seconds = {"quantize": time.perf_counter() - t0}
    files: dict[str, str] = {}
    tflite = None
    if out is not None:
        tflite = quantize_to_tflite(result)

    t0 = time.perf_counter()
    report = evaluate(result, ev.samples, labels=ev.labels,
                      progress=_progress(eval_progress, len(ev)))
    seconds["evaluate"] = time.perf_counter() - t0

    q = Quantization(model_name, result, report,
                     {"source": cal.source, "samples": len(cal)},
                     {"source": ev.source, "samples": len(ev), "held_out": held_out,
                      "labelled": ev.labels is not None},
                     files, seconds, bias_correction, warnings, notes)
    if out is not None:
        tpath, jpath = _paths(out, os.path.splitext(os.path.basename(model_name))[0])
        files.update({"tflite": tpath, "metadata": jpath})
        try:
            os.makedirs(os.path.dirname(os.path.abspath(tpath)), exist_ok=True)
            with open(tpath, "wb") as fh:
                fh.write(tflite)
            with open(jpath, "w") as fh:
                json.dump(_metadata(q, tflite), fh, indent=1, default=_json_default,
                          allow_nan=False)
        except OSError as e:
            raise MicrolithError(f"cannot write {tpath} / {jpath}: {e}") from None
    return q


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(type(o).__name__)


def _metadata(q: Quantization, tflite: bytes) -> dict:
    """OUT.json: microlith's quantized-model format is OUT.tflite (a standard
    int8 TFLite flatbuffer) plus this file: where the model came from, how it
    was quantized (method, calibrated float ranges, per-layer dtypes, which
    integer tensor approximates which float tensor) and the fidelity report."""
    import hashlib
    r = q.result
    return {"format": "microlith-quantized", "format_version": 1,
            "tflite": os.path.basename(q.files["tflite"]),
            "tflite_sha256": hashlib.sha256(tflite).hexdigest(),
            "source_model": q.model,
            "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in r.ranges.items()},
            "layer_dtypes": dict(r.layer_dtypes), "tensor_map": dict(r.tensor_map),
            "report": q.to_dict()}


def _db(v: float) -> str:
    if v == math.inf:
        return "exact"
    return "-" if not math.isfinite(v) else f"{v:.1f}"


def render(q: Quantization, console) -> None:
    """The fidelity report as rich tables (what `microlith quantize` prints)."""
    from rich.table import Table

    r, f = q.result, q.fidelity
    n16 = sum(1 for v in r.layer_dtypes.values() if v == "int16")
    console.print(f"[bold]{q.model}[/] quantized: {r.method} ranges, "
                  f"{'per-channel' if r.per_channel else 'per-tensor'} weights, bias "
                  f"correction {'on' if q.bias_correction else 'off'}"
                  + (f", {n16} layer(s) 16x8" if n16 else ""))
    console.print(f"calibration: {q.calibration['source']}")
    console.print(f"evaluation : {q.evaluation['source']}")
    for w in q.warnings:
        console.print(f"[bold red]WARNING[/]: {w}", highlight=False)
    console.print(f"[bold]Outputs vs the float model[/] (measured on {f.samples} samples)")
    t = Table()
    for col in ("output", "SQNR dB", "top-1 agreement"):
        t.add_column(col, justify="left" if col == "output" else "right")
    for o in f.outputs:
        t.add_row(o.name, _db(o.sqnr_db),
                  "-" if o.top1_agreement is None else f"{100 * o.top1_agreement:.1f} %")
    console.print(t)
    if f.accuracy is not None:
        a = f.accuracy
        console.print(f"accuracy (measured, {a['samples']} labelled samples): float "
                      f"{100 * a['float']:.2f} %, int8 {100 * a['int8']:.2f} % "
                      f"({100 * (a['int8'] - a['float']):+.2f} points)")
    worst = {la.name for la in f.worst_layers(3)}
    console.print("[bold]Per-layer SQNR[/] vs the float tensor each layer approximates "
                  "(measured; the lowest 3 marked)")
    t = Table()
    for col in ("layer", "op", "dtype", "SQNR dB", ""):
        t.add_column(col, justify="right" if col == "SQNR dB" else "left")
    for la in f.layers:
        name = la.name if len(la.name) <= 48 else "…" + la.name[-47:]
        t.add_row(name, la.op, la.dtype, _db(la.sqnr_db), "◀ lowest" if la.name in worst else "")
    console.print(t)
    before, after = f.size["before"], f.size["after"]
    ratio = f" ({before / after:.2f}x smaller)" if after else ""
    console.print(f"weights (measured): {before:,} B float -> {after:,} B integer{ratio}")
    console.print(f"time (measured): quantize {q.seconds['quantize']:.1f} s, evaluate "
                  f"{q.seconds['evaluate']:.1f} s")
    for n in q.notes:
        console.print(f"note: {n}", highlight=False)
    for k, p in q.files.items():
        console.print(f"wrote {k}: {p}")
