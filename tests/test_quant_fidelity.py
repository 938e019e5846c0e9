"""Calibration data, the fidelity report, `microlith quantize`, and the
quantization acceptance figures (issue 5): our int8 SQNR against each float
MLPerf Tiny model is at least the official converter-made int8 model's on the
same inputs, and mnist.onnx loses at most one point of accuracy."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import wave

import numpy as np
import pytest
import quant_data
from shared_models import model

from microlith import api
from microlith.errors import MicrolithError
from microlith.ir import DType, Graph, QuantParams, Tensor
from microlith.quant import calib, fidelity
from microlith.quant import quantize as quantize_model
from microlith.verify.reference import run

MNIST = "onnx/mnist.onnx"
TINY = "mlcommons_tiny/"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microlith", *args], capture_output=True,
                          text=True, timeout=120)


def one_input_graph(shape, name="x") -> Graph:
    g = Graph(name="g")
    g.add_tensor(Tensor(name, shape, DType.FLOAT32))
    g.inputs.append(name)
    return g


# -- arithmetic -------------------------------------------------------------------------
def test_sqnr_sums_energy_over_all_samples():
    assert fidelity.sqnr_from_energy(100.0, 1.0) == pytest.approx(20.0)
    assert fidelity.sqnr_from_energy(1.0, 0.0) == math.inf
    e = fidelity._Energy()
    e.add(np.array([3.0, 4.0]), np.array([3.0, 3.0]))   # signal 25, noise 1
    e.add(np.array([1.0, 0.0]), np.array([0.0, 0.0]))   # signal 1, noise 1
    # one ratio of sums (26 / 2), not a mean of per-sample dB
    assert e.db == pytest.approx(10 * math.log10(13.0))


def test_quantize_input_rounds_half_away_and_saturates():
    t = Tensor("x", (5,), DType.INT8, QuantParams([0.5], [-3]))
    q = fidelity.quantize_input(np.array([0.25, -0.25, 0.75, 100.0, -100.0]), t)
    assert q.tolist() == [-2, -4, -1, 127, -128]


def test_dequantize_per_tensor_and_per_channel():
    t = Tensor("x", (2, 3), DType.INT8, QuantParams([0.5], [2]))
    assert fidelity.dequantize(np.array([[2, 4, 0]] * 2, np.int8), t)[0].tolist() == [0, 1, -1]
    pc = Tensor("w", (2, 3), DType.INT8, QuantParams([0.5, 2.0], [0, 0], axis=0))
    got = fidelity.dequantize(np.array([[1, 2, 3], [1, 2, 3]], np.int8), pc)
    assert got.tolist() == [[0.5, 1.0, 1.5], [2.0, 4.0, 6.0]]
    assert fidelity.dequantize(np.zeros(2, np.int32), Tensor("b", (2,), DType.INT32)) is None


def test_normalize_scale_offset_mean_std():
    n = calib.Normalize.parse(scale="1/255", offset="0", mean="0.5,0.25,0", std="0.5,0.25,1")
    x = np.array([[[255.0, 255.0, 51.0]]])
    assert n.apply(x)[0, 0].tolist() == pytest.approx([1.0, 3.0, 0.2])
    with pytest.raises(MicrolithError, match="--mean has 3 values"):
        n.apply(np.zeros((2, 2, 1)))
    with pytest.raises(MicrolithError, match="not a number"):
        calib.Normalize.parse(scale="1/x")


def test_mel_scale_and_filterbank():
    assert float(calib.hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.05)  # HTK anchor
    assert float(calib.mel_to_hz(calib.hz_to_mel(3333.0))) == pytest.approx(3333.0)
    fb = calib.mel_filterbank(10, 512, 16000, 0.0, 8000.0)
    assert fb.shape == (10, 257) and fb.min() == 0.0 and fb.max() <= 1.0
    edges = calib.mel_to_hz(np.linspace(0, calib.hz_to_mel(8000.0), 12))
    freqs = np.arange(257) * 16000 / 512
    for m in range(10):
        inside = (freqs > edges[m]) & (freqs < edges[m + 2])
        assert np.all(fb[m, ~inside] == 0) and np.all(fb[m, inside] > 0)
        peak = freqs[np.argmax(fb[m])]  # the bin closest to the centre edge
        assert abs(peak - edges[m + 1]) <= 16000 / 512


def test_dct_ii_orthonormal_matches_scipy():
    from scipy.fft import dct
    x = np.random.default_rng(0).standard_normal((4, 40))
    assert np.allclose(calib.dct_ii_ortho(x, 13), dct(x, type=2, norm="ortho")[:, :13])


def test_frontend_puts_a_tone_in_its_mel_band_and_silence_at_the_floor():
    fe = calib.AudioFrontend.parse("logmel:window=400,hop=160,n_mels=20")
    sr = 16000
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(sr) / sr)
    feats = fe(tone, sr, frames=30)
    assert feats.shape == (30, 20)
    edges = calib.mel_to_hz(np.linspace(0, calib.hz_to_mel(8000.0), 22))
    expected = int(np.argmin(np.abs(edges[1:-1] - 1000.0)))
    assert set(np.argmax(feats, axis=1)) == {expected}
    silent = fe(np.zeros(100), sr, frames=3)  # padded to 3 frames of zeros
    assert np.allclose(silent, math.log(1e-6))
    mfcc = calib.AudioFrontend.parse("mfcc:window=400,hop=160,n_mels=20,n_mfcc=5")
    assert np.allclose(mfcc(tone, sr, 30), calib.dct_ii_ortho(feats, 5))


def test_frontend_spec_errors_name_the_problem():
    with pytest.raises(MicrolithError, match="must state hop"):
        calib.AudioFrontend.parse("mfcc:window=400,n_mels=20,n_mfcc=5")
    with pytest.raises(MicrolithError, match="n_mfcc between 1 and n_mels"):
        calib.AudioFrontend.parse("mfcc:window=400,hop=160,n_mels=20")
    with pytest.raises(MicrolithError, match="choose logmel or mfcc"):
        calib.AudioFrontend.parse("stft:window=400,hop=160,n_mels=20")


# -- loaders ----------------------------------------------------------------------------
def test_npz_by_name_x_or_single_array_and_onnx_nchw(tmp_path):
    g = api.prepare(model(MNIST))  # ONNX: NCHW file data, NHWC inside
    nchw = np.arange(3 * 28 * 28, dtype=np.float32).reshape(3, 1, 28, 28)
    np.savez(tmp_path / "a.npz", x=nchw, y=np.array([1, 2, 3]))
    d = calib.load_data(tmp_path / "a.npz", g)
    assert len(d) == 3 and d.samples[1]["Input3"].shape == (1, 28, 28, 1)
    assert np.array_equal(d.samples[1]["Input3"][0, :, :, 0], nchw[1, 0])
    assert d.labels.tolist() == [1, 2, 3]
    np.save(tmp_path / "b.npy", nchw.transpose(0, 2, 3, 1))
    assert np.array_equal(calib.load_data(tmp_path / "b.npy", g).samples[2]["Input3"],
                          nchw[2:3].transpose(0, 2, 3, 1))
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 28, 27)))
    with pytest.raises(MicrolithError, match=r"needs \[N, 1, 28, 28, 1\]"):
        calib.load_data(tmp_path / "bad.npz", g)


def test_image_folder_resized_normalized_and_channels(tmp_path):
    from skimage import io
    folder = tmp_path / "imgs"
    folder.mkdir()
    io.imsave(folder / "a.png", np.full((40, 50, 3), 200, np.uint8), check_contrast=False)
    io.imsave(folder / "b.bmp", np.full((30, 30), 100, np.uint8), check_contrast=False)
    io.imsave(folder / "c.jpg", np.full((64, 64, 3), 50, np.uint8), check_contrast=False)
    (folder / "notes.txt").write_text("ignored")
    g = one_input_graph((1, 8, 8, 3))
    d = calib.load_data(folder, g, normalize=calib.Normalize.parse(scale="1/255"))
    assert [s["x"].shape for s in d.samples] == [(1, 8, 8, 3)] * 3
    assert np.allclose(d.samples[0]["x"], 200 / 255)
    assert np.allclose(d.samples[1]["x"], 100 / 255)      # gray repeated to RGB
    assert np.allclose(d.samples[2]["x"], 50 / 255, atol=2 / 255)  # JPEG
    gray = one_input_graph((1, 4, 4, 1))
    d = calib.load_data(folder, gray)
    assert np.allclose(d.samples[0]["x"], 200.0, atol=1e-3)  # luma of a gray RGB pixel


def test_wav_folder_through_the_stated_frontend(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    sr = 16000
    for i, f0 in enumerate((500.0, 2000.0)):
        x = (0.3 * np.sin(2 * np.pi * f0 * np.arange(sr) / sr) * 32767).astype("<i2")
        with wave.open(str(folder / f"{i}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sr)
            w.writeframes(x.tobytes())
    g = one_input_graph((1, 49, 10, 1))
    spec = "mfcc:window=480,hop=320,n_mels=40,n_mfcc=10"
    d = calib.load_data(folder, g, audio=calib.AudioFrontend.parse(spec))
    assert len(d) == 2 and d.samples[0]["x"].shape == (1, 49, 10, 1)
    audio, rate = calib.read_wav(folder / "0.wav")
    expected = calib.AudioFrontend.parse(spec)(audio, rate, 49)
    assert np.allclose(d.samples[0]["x"].reshape(49, 10), expected, atol=1e-4)
    with pytest.raises(MicrolithError, match="state the front end"):
        calib.load_data(folder, g)
    with pytest.raises(MicrolithError, match="not a whole number of 10-feature frames"):
        calib.load_data(folder, one_input_graph((1, 45)), audio=calib.AudioFrontend.parse(spec))


def test_data_errors_are_clear(tmp_path):
    g = one_input_graph((1, 4))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MicrolithError, match="has no images"):
        calib.load_data(tmp_path / "empty", g)
    with pytest.raises(MicrolithError, match="not found"):
        calib.load_data(tmp_path / "nope.npz", g)
    with pytest.raises(MicrolithError, match="random:64"):
        calib.load_data("random:1", g)
    (tmp_path / "l.txt").write_text("1, 2\n3")
    assert calib.load_labels(tmp_path / "l.txt", 3).tolist() == [1, 2, 3]
    with pytest.raises(MicrolithError, match="3 labels for 4"):
        calib.load_labels(tmp_path / "l.txt", 4)


def test_random_calibration_warns_loudly(capsys):
    d = calib.load_data("random:5", one_input_graph((1, 4)))
    assert len(d) == 5 and d.random
    assert "RANDOM NOISE" in capsys.readouterr().err


# -- the report -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_q():
    cal, ev, y = quant_data.mnist_sets(200, 500)
    return quantize_model(model(MNIST), cal), ev, y


def test_report_figures_equal_a_direct_computation(mnist_q):
    result, ev, y = mnist_q
    few = ev[:20]
    rep = fidelity.evaluate(result, few, labels=y[:20])
    fg, ig = result.float_graph, result.graph
    sig = noise = 0.0
    agree = 0
    for s in few:
        ref = run(fg, s)[fg.outputs[0]].astype(np.float64)
        it = ig.tensor(ig.inputs[0])
        scale, zp = float(it.quant.scale[0]), int(it.quant.zero_point[0])
        v = s[fg.inputs[0]].astype(np.float64) / scale  # std::round: half away from 0
        v = np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))
        q = np.clip(v + zp, -128, 127).astype(np.int8)
        out = ig.tensor(ig.outputs[0])
        deq = (run(ig, {ig.inputs[0]: q})[ig.outputs[0]].astype(np.float64)
               - float(out.quant.zero_point[0])) * float(out.quant.scale[0])
        sig += float(np.sum(ref ** 2))
        noise += float(np.sum((ref - deq) ** 2))
        agree += int(ref.argmax() == deq.argmax())
    assert rep.outputs[0].sqnr_db == pytest.approx(10 * math.log10(sig / noise), rel=1e-6)
    assert rep.outputs[0].top1_agreement == agree / 20
    names = [la.name for la in rep.layers]
    assert names and set(names) <= {n.name for n in ig.nodes}
    assert all(math.isfinite(la.sqnr_db) and la.dtype == "int8" for la in rep.layers)
    assert rep.size["after"] < rep.size["before"] / 3  # int8 weights vs float32


def test_model_sqnr_of_the_official_model_matches_tflm():
    """model_sqnr runs any int8 file with the numpy reference: check its figure
    against TFLM's own outputs of the official ad01_int8 model."""
    from microlith.verify.tflm import run_tflm
    _, ev = quant_data.ad_sets(1, 12)
    rep = fidelity.model_sqnr(model(TINY + "ad01_fp32.tflite"),
                              model(TINY + "ad01_int8.tflite"), ev)
    ig = api.prepare(model(TINY + "ad01_int8.tflite"))
    fg = api.prepare(model(TINY + "ad01_fp32.tflite"))
    it, ot = ig.tensor(ig.inputs[0]), ig.tensor(ig.outputs[0])
    qs = [[fidelity.quantize_input(s["input_1"], it)] for s in ev]
    tf = run_tflm(model(TINY + "ad01_int8.tflite"), qs, state="reset")
    sig = noise = 0.0
    for s, outs in zip(ev, tf.outputs, strict=True):
        ref = run(fg, s)[fg.outputs[0]].astype(np.float64)
        deq = (outs[0].astype(np.float64) - float(ot.quant.zero_point[0])) * float(
            ot.quant.scale[0])
        sig += float(np.sum(ref ** 2))
        noise += float(np.sum((ref - deq) ** 2))
    assert rep.outputs[0].sqnr_db == pytest.approx(10 * math.log10(sig / noise), rel=1e-9)
    ref = fidelity.float_outputs(fg, ev)
    in_tflm = fidelity.model_sqnr(fg, model(TINY + "ad01_int8.tflite"), ev, runtime="tflm",
                                  reference=ref)
    assert in_tflm.outputs[0].sqnr_db == rep.outputs[0].sqnr_db


# -- acceptance -------------------------------------------------------------------------
def test_mnist_loses_at_most_one_point_on_held_out_digits(mnist_q):
    result, ev, y = mnist_q
    assert len(ev) >= 500 and len(set(y)) == 10
    rep = fidelity.evaluate(result, ev, labels=y, runtime="tflm")
    acc = rep.accuracy
    print(f"mnist float {acc['float']:.4f} int8 {acc['int8']:.4f} on {len(ev)} digits")
    assert acc["float"] > 0.85  # the float model does read these digits
    assert acc["float"] - acc["int8"] <= 0.01


@pytest.mark.parametrize("float_file, official, sets", [
    ("vww_96_float.tflite", "vww_96_int8.tflite", quant_data.vww_sets),
    ("pretrainedResnet.tflite", "pretrainedResnet_quant.tflite", quant_data.ic_sets),
    ("ad01_fp32.tflite", "ad01_int8.tflite", quant_data.ad_sets),
], ids=["vww", "ic", "ad"])
def test_our_sqnr_at_least_the_official_int8_model(float_file, official, sets):
    cal, ev = sets(100, 100)
    assert len(cal) == 100 and len(ev) == 100
    result = quantize_model(model(TINY + float_file), cal)
    # The float model once (numpy reference); both int8 models in TFLM (bit-exact
    # with the numpy reference, much faster on these models).
    ref = fidelity.float_outputs(result.float_graph, ev)
    ours = fidelity.evaluate(result, ev, runtime="tflm", reference=ref).outputs[0].sqnr_db
    theirs = fidelity.model_sqnr(result.float_graph, model(TINY + official), ev,
                                 runtime="tflm", reference=ref).outputs[0].sqnr_db
    print(f"{float_file}: ours {ours:.2f} dB, official {theirs:.2f} dB")
    assert math.isfinite(ours) and math.isfinite(theirs)
    assert ours >= theirs


def test_api_quantize_from_an_image_folder(tmp_path):
    from skimage import io
    cal, _ = quant_data.vww_sets(10, 1)
    for i, s in enumerate(cal):
        io.imsave(tmp_path / f"{i:02d}.png", (s["input_1"][0] * 255).round().astype(np.uint8),
                  check_contrast=False)
    q = api.quantize(model(TINY + "vww_96_float.tflite"), tmp_path, tmp_path / "out",
                     scale="1/255")
    d = q.to_dict()
    assert "10 images from" in d["calibration"]["source"] and d["evaluation"]["held_out"]
    assert "x * 0.00392157" in d["calibration"]["source"]  # the stated normalization
    assert d["calibration"]["samples"] == 8 and d["evaluation"]["samples"] == 2
    assert d["outputs"][0]["sqnr_db"] > 10
    assert (tmp_path / "out.tflite").is_file() and (tmp_path / "out.json").is_file()


# -- the command --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("mnist_q")
    cal, ev, y = quant_data.mnist_sets(40, 30)
    np.savez(d / "calib.npz", Input3=np.stack([s["Input3"][0] for s in cal]))
    np.savez(d / "eval.npz", x=np.stack([s["Input3"][0] for s in ev]))
    np.save(d / "labels.npy", y)
    return d


def test_cli_quantize_json_schema_and_files(mnist_files):
    d = mnist_files
    r = cli("quantize", str(model(MNIST)), "--calib", str(d / "calib.npz"), "--eval",
            str(d / "eval.npz"), "--labels", str(d / "labels.npy"), "-o", str(d / "out"),
            "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["schema_version"] == 1
    (o,) = rep["outputs"]
    assert o["name"] and o["sqnr_db"] > 20 and 0.9 <= o["top1_agreement"] <= 1
    assert set(rep["accuracy"]) >= {"float", "int8"}
    assert rep["layers"] and all({"name", "sqnr_db", "dtype"} <= set(la) for la in rep["layers"])
    assert 0 < rep["size"]["after"] < rep["size"]["before"]
    assert rep["calibration"]["samples"] == 40 and rep["evaluation"]["samples"] == 30
    assert "Calibrating" not in r.stdout and "calibrating" not in r.stderr  # no progress bar
    tfl, meta = rep["files"]["tflite"], rep["files"]["metadata"]
    assert tfl == str(d / "out.tflite") and meta == str(d / "out.json")
    assert (d / "out.tflite").read_bytes()[4:8] == b"TFL3"
    m = json.loads((d / "out.json").read_text())
    assert m["format"] == "microlith-quantized" and m["report"]["outputs"] == rep["outputs"]
    g = api.prepare(d / "out.tflite")
    assert g.tensor(g.inputs[0]).dtype is DType.INT8


def test_cli_quantize_holds_out_and_prints_the_report(mnist_files):
    d = mnist_files
    r = cli("quantize", str(model(MNIST)), "--calib", str(d / "calib.npz"), "-o",
            str(d / "held"), "--method", "percentile", "--per-tensor",
            "--int16-activations", "Convolution28")
    assert r.returncode == 0, r.stderr
    assert "held out the last 8 of 40" in r.stdout
    assert "SQNR dB" in r.stdout and "measured" in r.stdout and "per-tensor" in r.stdout
    meta = json.loads((d / "held.json").read_text())
    assert meta["layer_dtypes"]["Convolution28"] == "int16"
    assert "Convolution28" in meta["report"]["int16_layers"]


def test_cli_quantize_exit_codes_and_random_warning(mnist_files, tmp_path):
    d = mnist_files
    r = cli("quantize", str(model(MNIST)), "--calib", "random:6", "-o", str(tmp_path / "r"),
            "--json")
    assert r.returncode == 0, r.stderr
    assert "WARNING" in r.stderr and "RANDOM NOISE" in r.stderr
    assert any("RANDOM NOISE" in w for w in json.loads(r.stdout)["warnings"])
    r = cli("quantize", str(model(MNIST)), "--calib", str(d / "calib.npz"), "-o",
            str(tmp_path / "x"), "--method", "bogus")
    assert r.returncode == 2
    np.savez(tmp_path / "wrong.npz", x=np.zeros((4, 27, 28), np.float32))
    r = cli("quantize", str(model(MNIST)), "--calib", str(tmp_path / "wrong.npz"), "-o",
            str(tmp_path / "x"))
    assert r.returncode == 1 and "needs [N, 1, 28, 28, 1]" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.tflite").exists()
