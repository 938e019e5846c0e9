"""Activation-range observers: what calibration learns about each float tensor
and how a quantization range is chosen from it.

``Observer`` watches one tensor over the calibration set: its exact minimum
and maximum, its per-channel mean (last axis; bias correction reads it) and a
fixed random subsample of its values (at most ``per_sample`` per calibration
sample). The range methods work on that subsample:

- ``minmax``: the observed extremes.
- ``percentile``: the ``pct`` and ``100 - pct`` percentiles (outliers clipped).
- ``mse``: the range, shrunk towards zero, whose quantize-dequantize error
  (clipping plus rounding) over the values is smallest.
- ``entropy``: the clipping threshold whose quantized histogram is closest to
  the observed one in Kullback-Leibler divergence.

Every range contains 0, as the TFLite quantization spec needs (0 must be
exactly representable).
"""

from __future__ import annotations

import numpy as np

from ..errors import MicrolithError

METHODS = ("minmax", "percentile", "mse", "entropy")


class Observer:
    def __init__(self, per_sample: int = 1024, seed: int = 0):
        self.per_sample = per_sample
        self.seed = seed
        self.min = np.inf
        self.max = -np.inf
        self.count = 0  # samples seen
        self._sum: np.ndarray | None = None
        self._rows = 0
        self._index: np.ndarray | None = None
        self._values: list[np.ndarray] = []

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32)
        flat = x.reshape(-1)
        if flat.size == 0:
            return
        self.min = min(self.min, float(flat.min()))
        self.max = max(self.max, float(flat.max()))
        channels = x.shape[-1] if x.ndim else 1
        rows = flat.reshape(-1, channels)
        s = rows.sum(axis=0, dtype=np.float64)
        self._sum = s if self._sum is None else self._sum + s
        self._rows += rows.shape[0]
        if flat.size <= self.per_sample:
            self._values.append(flat.copy())
        else:
            if self._index is None or self._index.size != self.per_sample:
                rng = np.random.default_rng(self.seed)
                self._index = np.sort(rng.choice(flat.size, self.per_sample, replace=False))
            # A different fixed offset per sample so every position gets seen.
            shift = (self.count * 7919) % flat.size
            self._values.append(flat[(self._index + shift) % flat.size])
        self.count += 1

    @property
    def channel_mean(self) -> np.ndarray:
        if self._sum is None:
            raise MicrolithError("an observer was asked for a mean before seeing any data")
        return self._sum / max(self._rows, 1)

    @property
    def values(self) -> np.ndarray:
        if not self._values:
            return np.zeros(0, dtype=np.float32)
        if len(self._values) > 1:
            self._values = [np.concatenate(self._values)]
        return self._values[0]

    def range(self, method: str = "minmax", *, bits: int = 8, symmetric: bool = False,
              pct: float = 99.99) -> tuple[float, float]:
        if self.count == 0:
            raise MicrolithError("an observer was asked for a range before seeing any data")
        return choose_range(self.values, method, lo=self.min, hi=self.max, bits=bits,
                            symmetric=symmetric, pct=pct)


def _with_zero(lo: float, hi: float) -> tuple[float, float]:
    return min(float(lo), 0.0), max(float(hi), 0.0)


def fake_quant(x: np.ndarray, lo: float, hi: float, bits: int = 8,
               symmetric: bool = False) -> np.ndarray:
    """Quantize-dequantize ``x`` on the grid ``quant_params`` gives [lo, hi]."""
    scale, zp = grid(lo, hi, bits, symmetric)
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    q = np.clip(np.round(x / scale) + zp, qmin, qmax)
    return (q - zp) * scale


def grid(lo: float, hi: float, bits: int = 8, symmetric: bool = False) -> tuple[float, int]:
    """(scale, zero point) of an affine grid covering [lo, hi] (widened to
    hold 0): asymmetric over the full signed range, or symmetric with zero
    point 0 (int16 activations)."""
    lo, hi = _with_zero(lo, hi)
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if symmetric:
        bound = max(-lo, hi)
        scale = bound / qmax if bound > 0 else 1.0 / qmax
        return float(np.float32(scale)), 0
    if hi - lo <= 0:
        return float(np.float32(1.0 / (qmax - qmin))), qmin
    scale = float(np.float32((hi - lo) / (qmax - qmin)))
    zp = int(np.clip(round(qmin - lo / scale), qmin, qmax))
    return scale, zp


def choose_range(values: np.ndarray, method: str, *, lo: float | None = None,
                 hi: float | None = None, bits: int = 8, symmetric: bool = False,
                 pct: float = 99.99) -> tuple[float, float]:
    """The (min, max) to quantize ``values`` with, by ``method``. ``lo``/``hi``
    are the exact extremes when ``values`` is a subsample."""
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    lo = float(values.min()) if lo is None else float(lo)
    hi = float(values.max()) if hi is None else float(hi)
    lo, hi = _with_zero(lo, hi)
    if method == "minmax" or values.size == 0 or hi == lo:
        return lo, hi
    if method == "percentile":
        plo, phi = np.percentile(values, [100.0 - pct, pct])
        return _with_zero(max(lo, float(plo)), min(hi, float(phi)))
    if method == "mse":
        return _mse_range(values, lo, hi, bits, symmetric)
    if method == "entropy":
        return _entropy_range(values, lo, hi, bits)
    raise MicrolithError(f"unknown calibration method {method!r}",
                         [f"choose one of {', '.join(METHODS)}"])


def _mse_range(values: np.ndarray, lo: float, hi: float, bits: int,
               symmetric: bool) -> tuple[float, float]:
    """Shrink [lo, hi] towards 0 by a factor alpha and keep the alpha with
    the smallest mean squared quantize-dequantize error: a coarse search on a
    log scale (1 down to 1/1000), then a fine one around the best."""
    x = values.astype(np.float64)
    if x.size > 100_000:
        x = x[np.linspace(0, x.size - 1, 100_000).astype(np.int64)]

    def err(alpha: float) -> float:
        return float(np.mean((fake_quant(x, lo * alpha, hi * alpha, bits, symmetric) - x) ** 2))

    coarse = np.logspace(0.0, -3.0, 46)
    errs = [err(a) for a in coarse]
    k = int(np.argmin(errs))
    fine = np.linspace(coarse[min(k + 1, coarse.size - 1)], coarse[max(k - 1, 0)], 21)
    best_err, best = errs[k], float(coarse[k])
    for a in fine:
        e = err(float(a))
        if e < best_err * (1 - 1e-9):
            best_err, best = e, float(a)
    return lo * best, hi * best


def _entropy_range(values: np.ndarray, lo: float, hi: float, bits: int,
                   bins: int = 2048) -> tuple[float, float]:
    """KL-divergence calibration on |x| (as TensorRT's entropy calibrator):
    for each candidate threshold T, P is the histogram of |x| clipped at T
    (outliers folded into the last bin), Q the same bins merged into the
    levels the grid has below T and spread back; the T with the smallest
    KL(P || Q) gives the range [max(lo, -T), min(hi, T)]."""
    if values.size < 16 * bins:
        # Too few values for a meaningful histogram (e.g. a classifier's
        # logits): keep the observed range.
        return lo, hi
    mags = np.abs(values.astype(np.float64))
    # Exact zeros (a ReLU's clipped half) are exact at any threshold; left
    # in, their spike swamps the tail and the threshold collapses.
    mags = mags[mags > 0]
    if mags.size < 16 * bins:
        return lo, hi
    top = max(-lo, hi)
    hist, _ = np.histogram(mags, bins=bins, range=(0.0, top))
    hist = hist.astype(np.float64)
    # Levels available on one side of zero: the whole grid for one-signed
    # data, half of it when both signs occur.
    levels = (1 << bits) - 1 if (lo == 0.0 or hi == 0.0) else (1 << (bits - 1))
    start = min(levels, bins)
    best = (np.inf, bins)
    for i in range(start, bins + 1, 16 if bins > 256 else 1):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()
        if p.sum() == 0:
            continue
        base = hist[:i]
        n = min(levels, i)
        sizes = np.full(n, i // n)
        sizes[: i % n] += 1
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        nz = base > 0
        sums = np.add.reduceat(base, starts)
        counts = np.add.reduceat(nz.astype(np.float64), starts)
        per = np.repeat(np.divide(sums, counts, out=np.zeros(n), where=counts > 0), sizes)
        q = np.where(nz, per, 0.0)
        p /= p.sum()
        qs = q.sum()
        if qs == 0:
            continue
        q /= qs
        mask = p > 0
        kl = float(np.sum(p[mask] * np.log(p[mask] / np.maximum(q[mask], 1e-12))))
        if kl < best[0]:
            best = (kl, i)
    t = top * best[1] / bins
    return _with_zero(max(lo, -t), min(hi, t))
