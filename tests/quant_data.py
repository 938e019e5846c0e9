"""Realistic float inputs for the quantization acceptance checks, shared by
tests/test_quant_fidelity.py and bench/run_quant_bench.py.

* VWW (96x96x3, pixels / 255) and IC (32x32x3, raw 0..255 pixels): random
  crops (a quarter to all of the shorter side), random horizontal flips,
  resized with anti-aliasing, from natural photos that ship with
  scikit-image and scikit-learn. The calibration and the evaluation sets
  draw their crops from DIFFERENT photos, so no evaluation pixel was seen
  during calibration. The float models' input ranges come from the official
  int8 models' input parameters: VWW (1/255, -128) = 0..1, IC (1.0, -128) =
  0..255.
* AD (640 floats): windows of 5 frames x 128 mel bins (stride one frame) of
  the ad01 sample log-mel spectrogram (dB). The recording has 196 windows:
  evaluation uses the last 100 as recorded; calibration the first 100, each
  shifted by a random gain in [-1, +1] dB (a different recording level), so
  no calibration input equals an evaluation input.
* mnist: scikit-learn's 8x8 digits (0..16) upscaled to 20x20 and centred in
  28x28 as MNIST digits are, scaled to 0..255 (what mnist.onnx expects: it
  scores better on 0..255 than on 0..1).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from samples import ad01_float_windows

# Natural photos available offline (skimage.data, sklearn sample images).
CALIB_PHOTOS = ("astronaut", "coffee", "rocket", "camera", "coins", "grass", "china")
EVAL_PHOTOS = ("chelsea", "stereo_motorcycle", "immunohistochemistry", "clock", "gravel",
               "brick", "flower", "moon")


@cache
def _photo(name: str) -> np.ndarray:
    """One photo as uint8 RGB (cached: never modify it)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        img = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data
        img = getattr(skimage.data, name)()
        if isinstance(img, tuple):  # stereo pairs: the left image
            img = img[0]
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img[..., :3].astype(np.uint8)


def crops(photos: tuple[str, ...], size: int, count: int, seed: int) -> np.ndarray:
    """[count, size, size, 3] float32 pixels 0..255: random square crops
    (side 25-100% of the shorter side), flipped half the time, resized."""
    from skimage.transform import resize
    rng = np.random.default_rng(seed)
    images = [_photo(p) for p in photos]
    out = np.empty((count, size, size, 3), np.float32)
    for i in range(count):
        img = images[i % len(images)]
        h, w = img.shape[:2]
        side = int(rng.uniform(0.25, 1.0) * min(h, w))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = img[y:y + side, x:x + side].astype(np.float64)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = resize(crop, (size, size, 3), order=1, preserve_range=True,
                        anti_aliasing=True)
    return out


def vww_sets(n_calib: int = 100, n_eval: int = 100, name: str = "input_1"):
    """(calibration, evaluation) lists of {name: [1, 96, 96, 3] float32 in 0..1}."""
    cal = crops(CALIB_PHOTOS, 96, n_calib, seed=1) / 255.0
    ev = crops(EVAL_PHOTOS, 96, n_eval, seed=2) / 255.0
    return ([{name: x[None]} for x in cal], [{name: x[None]} for x in ev])


def ic_sets(n_calib: int = 100, n_eval: int = 100, name: str = "input_1"):
    """(calibration, evaluation) lists of {name: [1, 32, 32, 3] float32 in 0..255}."""
    cal = crops(CALIB_PHOTOS, 32, n_calib, seed=3)
    ev = crops(EVAL_PHOTOS, 32, n_eval, seed=4)
    return ([{name: x[None]} for x in cal], [{name: x[None]} for x in ev])


def ad_sets(n_calib: int = 100, n_eval: int = 100, name: str = "input_1"):
    """(calibration, evaluation) lists of {name: [1, 640] float32 log-mel dB}."""
    windows = ad01_float_windows(196)
    if n_calib > 196 or n_eval > 196:
        raise ValueError("the ad01 sample has 196 windows")
    rng = np.random.default_rng(5)
    cal = [{name: (w + np.float32(rng.uniform(-1.0, 1.0))).astype(np.float32)}
           for w in windows[:n_calib]]
    ev = [{name: w} for w in windows[196 - n_eval:]]
    return cal, ev


def digits_28(images: np.ndarray) -> np.ndarray:
    """sklearn digits [N, 8, 8] (0..16) -> [N, 1, 28, 28, 1] float32 0..255."""
    from skimage.transform import resize
    out = np.zeros((len(images), 28, 28), np.float32)
    for i, img in enumerate(images):
        out[i, 4:24, 4:24] = resize(img / 16.0, (20, 20), order=1, anti_aliasing=False)
    return (out * 255.0).reshape(len(images), 1, 28, 28, 1)


def mnist_sets(n_calib: int = 200, n_eval: int = 600, name: str = "Input3"):
    """(calibration, evaluation, evaluation labels) from sklearn digits:
    a seeded shuffle, calibration first, the evaluation digits after them
    (never seen by calibration)."""
    from sklearn.datasets import load_digits
    d = load_digits()
    order = np.random.default_rng(6).permutation(len(d.images))
    if n_calib + n_eval > len(order):
        raise ValueError(f"sklearn digits has {len(order)} images")
    cal_idx, ev_idx = order[:n_calib], order[n_calib:n_calib + n_eval]
    cal = digits_28(d.images[cal_idx])
    ev = digits_28(d.images[ev_idx])
    return ([{name: x} for x in cal], [{name: x} for x in ev],
            d.target[ev_idx].astype(np.int64))
