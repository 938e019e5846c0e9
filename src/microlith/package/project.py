"""A project written by ``microlith compile``, as the packagers see it: its
metadata (model.json), its C sources, the sample input the example runs and
the output our host build computes for it (the example's expectation)."""

from __future__ import annotations

import ctypes
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MicrolithError
from ..ir import DType

# Subfolders of a project that hold build products, never sources.
_BUILD_DIRS = {"arm", "build", "CMakeFiles", "__pycache__"}
NCHW_LAYOUT = "NHWC (ONNX NCHW transposed)"


@dataclass
class Project:
    path: Path
    meta: dict
    sources: list[str]  # relative paths of every .c/.h the library needs, sorted

    @property
    def prefix(self) -> str:
        return self.meta["prefix"]

    @property
    def inputs(self) -> list[dict]:
        return self.meta["inputs"]

    @property
    def outputs(self) -> list[dict]:
        return self.meta["outputs"]

    @property
    def c_sources(self) -> list[str]:
        return [s for s in self.sources if s.endswith(".c")]

    @property
    def model_name(self) -> str:
        return self.meta.get("model", {}).get("path") or "a model"


def read_project(project_dir: str | Path) -> Project:
    """The compiled project in ``project_dir``; every problem found is listed
    in one MicrolithError."""
    path = Path(project_dir)
    what = f"{path} is not a project written by `microlith compile`"
    if not path.is_dir():
        raise MicrolithError(f"{what}: no such directory" if not path.exists()
                             else f"{what}: it is not a directory")
    problems = [f"{name} is missing" for name in ("model.json", "model.h", "model.c")
                if not (path / name).is_file()]
    meta: dict = {}
    if (path / "model.json").is_file():
        try:
            meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            problems.append(f"model.json is not valid JSON ({e})")
        if not isinstance(meta, dict):
            problems.append("model.json is not a JSON object")
            meta = {}
    if meta:
        if not isinstance(meta.get("prefix"), str) or not meta["prefix"]:
            problems.append("model.json has no prefix")
        for key in ("inputs", "outputs"):
            items = meta.get(key)
            if not isinstance(items, list) or not items:
                problems.append(f"model.json lists no {key}")
                continue
            for i, d in enumerate(items):
                if not isinstance(d, dict) or not {"name", "shape", "dtype", "bytes"} <= set(d):
                    problems.append(f"model.json {key}[{i}] lacks name, shape, dtype or bytes")
                elif d["dtype"] not in {t.value for t in DType}:
                    problems.append(f"model.json {key}[{i}] has unknown dtype {d['dtype']!r}")
    if problems:
        raise MicrolithError(what, problems)
    return Project(path, meta, _sources(path))


def _sources(path: Path) -> list[str]:
    """Top-level .c/.h files and those of source subfolders (kernels/ and any
    other folder that is not a build directory)."""
    found = []
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if not f.is_file() or f.suffix not in (".c", ".h"):
            continue
        parts = rel.parts[:-1]
        if any(p in _BUILD_DIRS or p.startswith((".", "build")) for p in parts):
            continue
        if any((path.joinpath(*parts[:k + 1]) / "CMakeCache.txt").exists()
               for k in range(len(parts))):
            continue
        found.append(rel.as_posix())
    return found


# -- the sample input -----------------------------------------------------------
@dataclass
class Sample:
    arrays: list[np.ndarray]  # one per model input, in the model's dtype and shape
    description: str  # how it was made, for the package's README
    notes: list[str] = field(default_factory=list)


def seeded_sample(project: Project, seed: int = 0) -> Sample:
    """Deterministic input: integers over the input type's full range, floats
    from N(0, 1), from numpy's default_rng(seed), inputs in order (the same
    values as the first sample of `microlith validate --seed SEED`)."""
    rng = np.random.default_rng(seed)
    guards = {g.get("input"): g for g in project.meta.get("input_guard") or []
              if isinstance(g, dict)}
    arrays = []
    for i, d in enumerate(project.inputs):
        dt = DType(d["dtype"])
        shape = tuple(d["shape"])
        g = guards.get(i, {})
        if dt.is_float and g.get("min") is not None and g.get("max") is not None:
            # The input guard rejects values outside its range: stay inside.
            lo, hi = np.float32(g["min"]), np.float32(g["max"])
            arrays.append(np.clip(rng.uniform(lo, hi, shape).astype(dt.numpy), lo, hi))
        elif dt.is_float:
            arrays.append(rng.standard_normal(shape).astype(dt.numpy))
        elif dt is DType.BOOL:
            arrays.append(rng.integers(0, 2, shape).astype(np.bool_))
        else:
            info = np.iinfo(dt.numpy)
            arrays.append(rng.integers(info.min, int(info.max) + 1, shape, dtype=dt.numpy))
    how = "floats from N(0, 1)" + (", or uniform over the input guard's range" if guards
                                   else "")
    return Sample(arrays, f"seeded random input (numpy default_rng({seed}): integers over "
                          f"the input type's full range, {how})")


def load_sample(project: Project, file: str | Path) -> Sample:
    """The input stored in ``file``: a .npy for a one-input model, or a .npz
    with one array per input (by input name, or arr_0, arr_1... in order).
    Float data for an integer input is quantized with the input's scale and
    zero point (round half away from zero, then saturate), as TFLite does."""
    file = Path(file)
    if file.suffix not in (".npy", ".npz"):
        raise MicrolithError(f"--sample {file}: give a .npy or .npz file")
    try:
        loaded = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MicrolithError(f"cannot read the sample input {file}: {e}") from None
    if file.suffix == ".npy":
        if len(project.inputs) != 1:
            raise MicrolithError(f"{file}: the model has {len(project.inputs)} inputs; give "
                                 "a .npz with one array per input name "
                                 f"({', '.join(d['name'] for d in project.inputs)})")
        raw = {project.inputs[0]["name"]: np.asarray(loaded)}
        keys = [project.inputs[0]["name"]]
    else:
        keys = list(loaded.keys())
        raw = {k: np.asarray(loaded[k]) for k in keys}
    arrays, notes, problems = [], [], []
    for i, d in enumerate(project.inputs):
        name = d["name"]
        key = name if name in raw else (f"arr_{i}" if f"arr_{i}" in raw else None)
        if key is None and len(project.inputs) == 1 and len(keys) == 1:
            key = keys[0]
        if key is None:
            problems.append(f"no array for input {name!r} (the file has {keys})")
            continue
        try:
            a, note = _fit(d, raw[key])
        except MicrolithError as e:
            problems.append(f"array {key!r}: {e}")
            continue
        arrays.append(a)
        if note:
            notes.append(f"input {name!r}: {note}")
    if problems:
        raise MicrolithError(f"the sample input {file} does not fit the model", problems)
    return Sample(arrays, f"the input stored in {file.name}", notes)


def _fit(d: dict, a: np.ndarray) -> tuple[np.ndarray, str]:
    """One input's array in the model's shape and dtype."""
    shape = tuple(d["shape"])
    dt = DType(d["dtype"])
    notes = []
    candidates = [(shape, None)]
    if d.get("layout") == NCHW_LAYOUT and len(shape) == 4:
        n, h, w, c = shape
        candidates.append(((n, c, h, w), (0, 2, 3, 1)))
    for want, perm in candidates:
        b = a
        if b.shape != want and b.ndim == len(want) + 1 and b.shape[1:] == want:
            notes.append(f"first of {b.shape[0]} samples")
            b = b[0]
        elif b.shape != want and want and want[0] == 1 and b.shape[1:] == want[1:]:
            notes.append(f"first of {b.shape[0]} samples")
            b = b[:1]
        if b.shape == want:
            if perm is not None:
                b = b.transpose(perm)
                notes.append("NCHW transposed to NHWC")
            return _convert(d, dt, b, notes), ", ".join(notes)
    wanted = " or ".join(str(list(w)) for w, _ in candidates)
    raise MicrolithError(f"has shape {list(a.shape)}; input {d['name']!r} needs {wanted} "
                         "(or samples on a new first axis)")


def _convert(d: dict, dt: DType, a: np.ndarray, notes: list[str]) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise MicrolithError(f"has type {a.dtype}; expected numbers")
    if dt.is_float or dt is DType.BOOL:
        return np.ascontiguousarray(a.astype(dt.numpy))
    info = np.iinfo(dt.numpy)
    if a.dtype.kind == "f":
        q = d.get("quant")
        if not q or isinstance(q.get("scale"), list):
            raise MicrolithError(f"is float but input {d['name']!r} is {dt.value} without "
                                 "one scale and zero point to quantize it with")
        if not np.all(np.isfinite(a)):
            raise MicrolithError("contains NaN or infinity")
        scaled = a.astype(np.float64) / float(q["scale"])
        r = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + int(q["zero_point"])
        notes.append(f"quantized with scale {q['scale']:.7g}, zero point {q['zero_point']}")
        return np.ascontiguousarray(np.clip(r, info.min, info.max).astype(dt.numpy))
    if a.size and (a.min() < info.min or a.max() > info.max):
        raise MicrolithError(f"has values outside {dt.value}'s range "
                             f"[{info.min}, {info.max}]")
    return np.ascontiguousarray(a.astype(dt.numpy))


# -- the expectation: our host build --------------------------------------------
def run_on_host(project: Project, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Build the project with the host C compiler, load it, reset, write the
    inputs, invoke once, read the outputs."""
    from ..toolchain.host import build_shared_library

    p = project.prefix
    with tempfile.TemporaryDirectory(prefix="microlith-package-") as tmp:
        lib_path = Path(tmp) / f"lib{p}.so"
        build_shared_library(project.path, lib_path)
        lib = ctypes.CDLL(str(lib_path))
        try:
            reset = getattr(lib, f"{p}_reset")
            get_in = getattr(lib, f"{p}_input")
            get_out = getattr(lib, f"{p}_output")
            invoke = getattr(lib, f"{p}_invoke")
        except AttributeError as e:
            raise MicrolithError(f"{project.path}: the C library lacks the {p}_* API of a "
                                 f"compiled project ({e})") from None
        get_in.restype = get_out.restype = ctypes.c_void_p
        get_in.argtypes = get_out.argtypes = [ctypes.c_int]
        invoke.restype = ctypes.c_int
        reset.restype = None
        reset()
        for i, (d, a) in enumerate(zip(project.inputs, arrays, strict=True)):
            a = np.ascontiguousarray(a)
            if a.nbytes != d["bytes"]:
                raise MicrolithError(f"input {d['name']!r} needs {d['bytes']} bytes, the "
                                     f"sample has {a.nbytes}", internal=True)
            ctypes.memmove(get_in(i), a.ctypes.data, a.nbytes)
        rc = invoke()
        if rc != 0:
            raise MicrolithError(f"{p}_invoke() returned {rc} on the sample input")
        outs = []
        for i, d in enumerate(project.outputs):
            buf = (ctypes.c_uint8 * d["bytes"]).from_address(get_out(i))
            outs.append(np.frombuffer(bytes(buf), dtype=DType(d["dtype"]).numpy)
                        .reshape(d["shape"]).copy())
        del lib
    return outs
