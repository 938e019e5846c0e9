"""Calibration and evaluation data for ``quantize``: float model inputs from

* ``.npz`` / ``.npy`` arrays: by input name (or a single array / ``x`` for a
  one-input model), samples on axis 0; NCHW data for an ONNX model is
  transposed to microlith's NHWC;
* a folder of images (PNG, JPEG, BMP; read with scikit-image), resized to the
  model input and converted to its channel count;
* a folder of ``.wav`` files for audio models, through a stated log-mel or
  MFCC front end (``AudioFrontend``, defined below, every parameter explicit);
* ``random`` (or ``random:N``): seeded N(0, 1) noise, with a loud warning,
  because ranges calibrated on noise say nothing about real inputs.

Images and audio features are normalized as the user states
(``Normalize``): ``x' = (x * scale + offset - mean) / std``, applied after
resizing (pixels start at 0..255) or after the front end.

Every sample is a ``{input name: float32 array of exactly the input's shape}``
dict, as ``quant.quantize`` and the reference executor take them.
"""

from __future__ import annotations

import math
import os
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MicrolithError
from ..ir import Graph

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
RANDOM_WARNING = ("calibrating on RANDOM NOISE (--calib random): the ranges, the SQNR and "
                  "every other fidelity number mean nothing for real inputs; use real data")
DEFAULT_RANDOM_SAMPLES = 32


def warn(message: str) -> None:
    """A loud warning on stderr (also for API users, who see no CLI)."""
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


# -- normalization -------------------------------------------------------------
def _number(text: str) -> float:
    """'0.5', '1/255', '-3e-2'."""
    text = text.strip()
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise MicrolithError(f"{text!r} is not a number (e.g. 0.5 or 1/255)") from None


def parse_numbers(text: str | float | None) -> tuple[float, ...] | None:
    """'0.5' -> (0.5,); '0.485,0.456,0.406' -> per-channel values."""
    if text is None:
        return None
    if isinstance(text, int | float):
        return (float(text),)
    return tuple(_number(v) for v in str(text).split(","))


@dataclass(frozen=True)
class Normalize:
    """``x' = (x * scale + offset - mean) / std``; each a single value or one
    per channel (last axis)."""

    scale: tuple[float, ...] = (1.0,)
    offset: tuple[float, ...] = (0.0,)
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    @classmethod
    def parse(cls, scale=None, offset=None, mean=None, std=None) -> Normalize:
        values = {k: parse_numbers(v) for k, v in
                  dict(scale=scale, offset=offset, mean=mean, std=std).items()}
        if values["std"] is not None and any(s == 0 for s in values["std"]):
            raise MicrolithError("--std must not be 0")
        return cls(**{k: v for k, v in values.items() if v is not None})

    @property
    def identity(self) -> bool:
        return self == Normalize()

    def apply(self, x: np.ndarray) -> np.ndarray:
        channels = x.shape[-1] if x.ndim else 1
        for name, v in (("scale", self.scale), ("offset", self.offset), ("mean", self.mean),
                        ("std", self.std)):
            if len(v) not in (1, channels):
                raise MicrolithError(f"--{name} has {len(v)} values; the input has "
                                     f"{channels} channels (give 1 or {channels})")
        x = x.astype(np.float64) * np.asarray(self.scale) + np.asarray(self.offset)
        return ((x - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def describe(self) -> str:
        def fmt(v):
            return ",".join(f"{x:g}" for x in v)
        return (f"x * {fmt(self.scale)} + {fmt(self.offset)}, then (x - {fmt(self.mean)}) / "
                f"{fmt(self.std)}")


# -- audio front end ------------------------------------------------------------
def hz_to_mel(f):
    """HTK mel scale: 2595 * log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: float, fmin: float,
                   fmax: float) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters, peak 1, centres equally
    spaced on the HTK mel scale between ``fmin`` and ``fmax`` (no area
    normalization): filter m rises from edge m to edge m+1 and falls to m+2."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lo, centre, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - lo) / (centre - lo)
    falling = (hi - freqs[None]) / (hi - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def dct_ii_ortho(x: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` orthonormal DCT-II coefficients along the last axis:
    c_k = s_k * sum_j x_j cos(pi k (2j + 1) / (2N)), s_0 = sqrt(1/N), else sqrt(2/N)."""
    big_n = x.shape[-1]
    k = np.arange(n)[:, None]
    j = np.arange(big_n)[None]
    basis = np.cos(np.pi * k * (2 * j + 1) / (2 * big_n)) * math.sqrt(2.0 / big_n)
    basis[0] *= math.sqrt(0.5)
    return x @ basis.T


@dataclass(frozen=True)
class AudioFrontend:
    """A log-mel or MFCC front end, every parameter stated:

    1. samples as float in [-1, 1) (int16 / 32768; channels averaged);
    2. frames of ``window`` samples every ``hop`` samples (the clip is
       zero-padded or cut to exactly the frames the model input needs);
    3. periodic Hann window, |rfft(frame, n_fft)|^2 (``n_fft`` defaults to the
       next power of two >= ``window``);
    4. ``n_mels`` HTK-mel triangular filters from ``fmin`` to ``fmax``
       (default sample_rate / 2), then ``log(energy + log_floor)`` (natural log);
    5. ``mfcc``: the first ``n_mfcc`` orthonormal DCT-II coefficients of that.

    The result [frames, features] fills the model input in row-major order.
    Spec string: ``mfcc:window=480,hop=320,n_mels=40,n_mfcc=10`` (``logmel:...``
    without ``n_mfcc``); optional ``n_fft``, ``fmin``, ``fmax``, ``sample_rate``
    (the rate the clips must have), ``log_floor``.
    """

    kind: str
    window: int
    hop: int
    n_mels: int
    n_mfcc: int | None = None
    n_fft: int | None = None
    fmin: float = 0.0
    fmax: float | None = None
    sample_rate: int | None = None
    log_floor: float = 1e-6

    def __post_init__(self):
        problems = []
        if self.kind not in ("logmel", "mfcc"):
            problems.append(f"front end {self.kind!r}: choose logmel or mfcc")
        for name in ("window", "hop", "n_mels"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.kind == "mfcc" and (self.n_mfcc is None or not 1 <= self.n_mfcc <= self.n_mels):
            problems.append("mfcc needs n_mfcc between 1 and n_mels")
        if self.kind == "logmel" and self.n_mfcc is not None:
            problems.append("n_mfcc is only for the mfcc front end")
        if self.n_fft is not None and self.n_fft < self.window:
            problems.append(f"n_fft {self.n_fft} is shorter than the window {self.window}")
        if self.log_floor <= 0:
            problems.append("log_floor must be positive")
        if problems:
            raise MicrolithError("invalid audio front end", problems)

    @classmethod
    def parse(cls, spec: str) -> AudioFrontend:
        kind, _, rest = spec.partition(":")
        ints = {"window", "hop", "n_mels", "n_mfcc", "n_fft", "sample_rate"}
        floats = {"fmin", "fmax", "log_floor"}
        values: dict = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, val = item.partition("=")
            key = key.strip().replace("-", "_")
            if not eq or key not in ints | floats:
                raise MicrolithError(
                    f"audio front end {spec!r}: {item!r} is not key=value with a key among "
                    f"{', '.join(sorted(ints | floats))}")
            try:
                values[key] = int(val) if key in ints else _number(val)
            except ValueError:
                raise MicrolithError(f"audio front end {spec!r}: {key} must be an "
                                     f"integer, not {val!r}") from None
        missing = [k for k in ("window", "hop", "n_mels") if k not in values]
        if missing:
            raise MicrolithError(f"audio front end {spec!r} must state "
                                 f"{', '.join(missing)} (e.g. mfcc:window=480,hop=320,"
                                 f"n_mels=40,n_mfcc=10)")
        return cls(kind=kind.strip(), **values)

    @property
    def features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def describe(self) -> str:
        extra = f", n_mfcc={self.n_mfcc}" if self.kind == "mfcc" else ""
        return (f"{self.kind}: window={self.window}, hop={self.hop}, n_fft={self._n_fft}, "
                f"n_mels={self.n_mels}{extra}, Hann, HTK mel, log(x + {self.log_floor:g})")

    @property
    def _n_fft(self) -> int:
        return self.n_fft or 1 << (self.window - 1).bit_length()

    def __call__(self, audio: np.ndarray, sample_rate: int, frames: int) -> np.ndarray:
        """[frames, features] from float samples in [-1, 1)."""
        if self.sample_rate is not None and sample_rate != self.sample_rate:
            raise MicrolithError(f"the clip has {sample_rate} Hz, the front end states "
                                 f"sample_rate={self.sample_rate}")
        fmax = self.fmax if self.fmax is not None else sample_rate / 2
        if not 0 <= self.fmin < fmax <= sample_rate / 2:
            raise MicrolithError(f"need 0 <= fmin < fmax <= {sample_rate / 2:g} Hz "
                                 f"(fmin={self.fmin:g}, fmax={fmax:g})")
        need = (frames - 1) * self.hop + self.window
        audio = np.asarray(audio, dtype=np.float64)[:need]
        audio = np.pad(audio, (0, need - len(audio)))
        index = np.arange(frames)[:, None] * self.hop + np.arange(self.window)[None]
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.window) / self.window)
        power = np.abs(np.fft.rfft(audio[index] * hann, n=self._n_fft, axis=-1)) ** 2
        bank = mel_filterbank(self.n_mels, self._n_fft, sample_rate, self.fmin, fmax)
        logmel = np.log(power @ bank.T + self.log_floor)
        if self.kind == "mfcc":
            return dct_ii_ortho(logmel, self.n_mfcc)
        return logmel


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(float samples in [-1, 1), sample rate) of a PCM .wav (8, 16 or 32 bit)."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as e:
        raise MicrolithError(f"cannot read {path}: {e} (PCM .wav files only)") from None
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float64) / 2147483648.0
    else:
        raise MicrolithError(f"{path}: {8 * width}-bit samples are not supported "
                             f"(8, 16 or 32-bit PCM)")
    return x.reshape(-1, channels).mean(axis=1), rate


# -- the data set ----------------------------------------------------------------
@dataclass
class CalibData:
    """Float input samples (dicts by graph input name), where they came from,
    optional labels (one per sample) and warnings already shown."""

    samples: list[dict[str, np.ndarray]]
    source: str
    labels: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    random: bool = False

    def __len__(self) -> int:
        return len(self.samples)

    def split(self, n_eval: int) -> tuple[CalibData, CalibData]:
        """(the first len - n_eval samples, the last n_eval): a hold-out."""
        if not 0 < n_eval < len(self):
            raise MicrolithError(f"cannot hold out {n_eval} of {len(self)} samples")
        cut = len(self) - n_eval
        lab = self.labels
        first = CalibData(self.samples[:cut], f"{self.source} (first {cut})",
                          None if lab is None else lab[:cut], list(self.warnings), self.random)
        last = CalibData(self.samples[cut:], f"{self.source} (last {n_eval}, held out)",
                         None if lab is None else lab[cut:], list(self.warnings), self.random)
        return first, last


def _float_input(graph: Graph, name: str):
    t = graph.tensor(name)
    if not t.dtype.is_float:
        raise MicrolithError(f"input {name!r} is {t.dtype.value}: quantization calibrates a "
                             f"float model (this one is already integer)")
    return t


def load_data(spec: str | os.PathLike, graph: Graph, *, normalize: Normalize | None = None,
              audio: AudioFrontend | None = None, seed: int = 0) -> CalibData:
    """Float inputs for ``graph`` from ``spec``: an .npz/.npy file, a folder of
    images or .wav files, or ``random`` / ``random:N``."""
    normalize = normalize or Normalize()
    text = os.fspath(spec)
    for name in graph.inputs:
        _float_input(graph, name)
    if text == "random" or text.startswith("random:"):
        return _random(graph, text, seed)
    path = Path(text)
    if not path.exists():
        raise MicrolithError(f"calibration data {text!r} not found (an .npz/.npy file, a "
                             f"folder of images or .wav files, or 'random')")
    if path.is_dir():
        return _folder(path, graph, normalize, audio)
    if audio is not None:
        raise MicrolithError("--audio applies to a folder of .wav files")
    if path.suffix.lower() in (".npz", ".npy"):
        data = _arrays(path, graph, normalize)
    elif path.suffix.lower() in IMAGE_SUFFIXES + (".wav",):
        raise MicrolithError(f"{path} is one file: give the folder that holds the images or "
                             f"clips (calibration needs many samples)")
    else:
        raise MicrolithError(f"{path}: unknown data format (use .npz, .npy, a folder of "
                             f"images or .wav files, or 'random')")
    if not data.samples:
        raise MicrolithError(f"{path} holds no samples")
    return data


def _random(graph: Graph, text: str, seed: int) -> CalibData:
    count = DEFAULT_RANDOM_SAMPLES
    if text.startswith("random:"):
        try:
            count = int(text.split(":", 1)[1])
        except ValueError:
            count = 0
        if count < 2:
            raise MicrolithError(f"{text!r}: give a sample count of at least 2, e.g. random:64")
    warn(RANDOM_WARNING)
    rng = np.random.default_rng(seed)
    samples = [{n: rng.standard_normal(graph.tensor(n).shape).astype(np.float32)
                for n in graph.inputs} for _ in range(count)]
    return CalibData(samples, f"random N(0, 1) noise, {count} samples (seed {seed})",
                     warnings=[RANDOM_WARNING], random=True)


def as_samples(graph: Graph, name: str, a: np.ndarray, what: str) -> np.ndarray:
    """Data for one input as [N, *input shape]: samples on a new first axis or
    stacked on the batch axis of a batch-1 input; for inputs microlith moved
    to NHWC, also in the model's own NCHW layout (transposed here)."""
    t = _float_input(graph, name)
    candidates = [(t.shape, False)]
    if name in graph.meta.get("layout", {}) and len(t.shape) == 4:
        n, h, w, c = t.shape
        candidates.append(((n, c, h, w), True))
    for shape, nchw in candidates:
        b = a
        if b.shape == shape:
            b = b[None]
        elif shape and shape[0] == 1 and b.shape[1:] == shape[1:]:
            b = b[:, None]
        if b.shape[1:] == shape:
            if nchw:
                b = b.transpose(0, 1, 3, 4, 2)
            return np.ascontiguousarray(b.astype(np.float32))
    raise MicrolithError(f"{what} has shape {list(a.shape)}; input {name!r} needs "
                         f"[N, {', '.join(map(str, t.shape))}] (samples on axis 0)")


def _arrays(path: Path, graph: Graph, normalize: Normalize) -> CalibData:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise MicrolithError(f"cannot read {path}: {e}") from None
    if isinstance(loaded, np.ndarray):
        arrays = {"arr_0": loaded}
    else:
        with loaded:
            arrays = {k: loaded[k] for k in loaded.files}
    keys = list(arrays)
    chosen: dict[str, np.ndarray] = {}
    if len(graph.inputs) == 1:
        name = graph.inputs[0]
        key = next((k for k in (name, "x", "arr_0") if k in arrays), None)
        if key is None and len(keys) == 1:
            key = keys[0]
        if key is None:
            raise MicrolithError(f"{path} has arrays {keys}: name the input's array "
                                 f"{name!r} or 'x'")
        chosen[name] = as_samples(graph, name, arrays[key], f"{path}: {key!r}")
    else:
        missing = [n for n in graph.inputs if n not in arrays]
        if missing:
            raise MicrolithError(f"{path} needs one array per model input, named after it",
                                 [f"no array {n!r} (arrays: {keys})" for n in missing])
        chosen = {n: as_samples(graph, n, arrays[n], f"{path}: {n!r}") for n in graph.inputs}
    counts = {len(a) for a in chosen.values()}
    if len(counts) != 1:
        raise MicrolithError(f"{path}: the inputs have different sample counts {sorted(counts)}")
    if not normalize.identity:
        chosen = {n: normalize.apply(a) for n, a in chosen.items()}
    n = counts.pop()
    labels = None
    for key in ("y", "labels"):
        if key in arrays and key not in chosen and len(arrays[key]) == n:
            labels = np.asarray(arrays[key]).reshape(n, -1)[:, 0].astype(np.int64)
            break
    samples = [{name: a[i] for name, a in chosen.items()} for i in range(n)]
    return CalibData(samples, f"{path} ({n} samples)", labels)


def _single_input(graph: Graph, what: str):
    if len(graph.inputs) != 1:
        raise MicrolithError(f"{what} needs a model with one input; this one has "
                             f"{len(graph.inputs)} (use an .npz with one array per input)")
    return graph.inputs[0], graph.tensor(graph.inputs[0])


def _folder(path: Path, graph: Graph, normalize: Normalize,
            audio: AudioFrontend | None) -> CalibData:
    files = sorted(p for p in path.iterdir() if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    clips = [p for p in files if p.suffix.lower() == ".wav"]
    if not images and not clips:
        raise MicrolithError(f"folder {path} has no images ({', '.join(IMAGE_SUFFIXES)}) and "
                             f"no .wav files")
    if images and clips:
        raise MicrolithError(f"folder {path} mixes images and .wav files: keep one kind")
    if clips:
        if audio is None:
            raise MicrolithError(f"{path} holds .wav files: state the front end that turns "
                                 f"them into the model's features with --audio, e.g. "
                                 f"mfcc:window=480,hop=320,n_mels=40,n_mfcc=10")
        return _clips(path, clips, graph, normalize, audio)
    if audio is not None:
        raise MicrolithError("--audio applies to a folder of .wav files, not images")
    return _images(path, images, graph, normalize)


def _images(path: Path, files: list[Path], graph: Graph, normalize: Normalize) -> CalibData:
    name, t = _single_input(graph, "image calibration data")
    if len(t.shape) != 4 or t.shape[0] != 1 or t.shape[3] not in (1, 3):
        raise MicrolithError(f"images need a model input shaped [1, H, W, 1 or 3]; "
                             f"{name!r} is {list(t.shape)}")
    try:
        from skimage import io
        from skimage.transform import resize
    except ImportError:
        raise MicrolithError("reading images needs scikit-image: pip install "
                             "'microlith[images]'") from None
    _, h, w, c = t.shape
    samples, problems = [], []
    for f in files:
        try:
            img = np.asarray(io.imread(f))
        except Exception as e:  # noqa: BLE001 - any decoder failure is the file's problem
            problems.append(f"{f.name}: cannot decode ({type(e).__name__}: {e})")
            continue
        samples.append({name: normalize.apply(image_to_input(img, h, w, c, resize))[None]})
    if problems:
        raise MicrolithError(f"cannot read every image in {path}", problems)
    return CalibData(samples, f"{len(samples)} images from {path} resized to {h}x{w}x{c}, "
                              f"normalized {normalize.describe()}")


def image_to_input(img: np.ndarray, h: int, w: int, c: int, resize) -> np.ndarray:
    """An image (H, W[, 1|3|4]) as float [h, w, c] pixel values 0..255:
    alpha dropped, RGB -> gray by ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B),
    gray -> RGB by repetition, bilinear resize with anti-aliasing."""
    img = np.asarray(img)
    scale = 255.0 if img.dtype == np.bool_ else 1.0
    if img.dtype == np.uint16:
        scale = 255.0 / 65535.0
    x = img.astype(np.float64) * scale
    if x.ndim == 3 and x.shape[2] == 4:
        x = x[..., :3]
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or x.shape[2] not in (1, 3):
        raise MicrolithError(f"image of shape {list(img.shape)} is neither gray nor RGB")
    if c == 1 and x.shape[2] == 3:
        x = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
    elif c == 3 and x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    if x.shape[:2] != (h, w):
        x = resize(x, (h, w, c), order=1, preserve_range=True, anti_aliasing=True)
    return x.astype(np.float32)


def _clips(path: Path, files: list[Path], graph: Graph, normalize: Normalize,
           audio: AudioFrontend) -> CalibData:
    name, t = _single_input(graph, ".wav calibration data")
    numel = math.prod(t.shape)
    if numel % audio.features:
        raise MicrolithError(f"input {name!r} {list(t.shape)} holds {numel} values, not a "
                             f"whole number of {audio.features}-feature frames")
    frames = numel // audio.features
    samples = []
    for f in files:
        x, rate = read_wav(f)
        if len(x) == 0:
            raise MicrolithError(f"{f} holds no samples")
        feats = audio(x, rate, frames).reshape(t.shape)
        samples.append({name: normalize.apply(feats)})
    return CalibData(samples, f"{len(samples)} clips from {path}, {frames} frames of "
                              f"{audio.describe()}")


def load_labels(path: str | os.PathLike, count: int) -> np.ndarray:
    """Integer class labels, one per evaluation sample: .npy, .npz (array
    ``y``, ``labels`` or the only one), or text (one per line or comma separated)."""
    p = Path(path)
    if not p.is_file():
        raise MicrolithError(f"labels file {p} not found")
    try:
        if p.suffix.lower() == ".npy":
            y = np.load(p, allow_pickle=False)
        elif p.suffix.lower() == ".npz":
            with np.load(p, allow_pickle=False) as z:
                key = next((k for k in ("y", "labels") if k in z.files),
                           z.files[0] if len(z.files) == 1 else None)
                if key is None:
                    raise MicrolithError(f"{p} has arrays {z.files}: name the labels 'y' or "
                                         f"'labels'")
                y = z[key]
        else:
            text = p.read_text().replace(",", " ").split()
            y = np.array([int(v) for v in text])
    except (OSError, ValueError, EOFError) as e:
        raise MicrolithError(f"cannot read labels {p}: {e}") from None
    y = np.asarray(y).reshape(-1)
    if not np.issubdtype(y.dtype, np.integer) and not np.all(np.equal(np.mod(y, 1), 0)):
        raise MicrolithError(f"labels in {p} must be integer class indices")
    if len(y) != count:
        raise MicrolithError(f"{p} has {len(y)} labels for {count} evaluation samples")
    return y.astype(np.int64)
