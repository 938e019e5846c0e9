"""The `microlith` command: exit codes, JSON shape, and the CI-gate behaviour."""

import json
import subprocess
import sys

import pytest
from shared_models import model

import microlith

VWW = "mlcommons_tiny/vww_96_int8.tflite"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microlith", *args], capture_output=True,
                          text=True, timeout=120)


def test_check_vww_on_32k_part_fails_with_ram_shortfall():
    r = run("check", str(model(VWW)), "--target", "atsamd21g18a")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "DOES NOT FIT" in r.stdout
    reasons = r.stdout.split("DOES NOT FIT")[1]
    assert "RAM: needs" in reasons and "short by" in reasons


def test_check_vww_on_64k_part_fits_with_the_real_plan():
    """VWW's planned arena (~36 KB with in-place convolution; TFLM needs
    103,680 B) fits a 64 KB part with the default 4 KiB stack/runtime reserve.
    Reserve the rest of the SRAM for the application and it no longer fits,
    and the RAM shortfall is named."""
    r = run("check", str(model(VWW)), "--target", "stm32l432kc")
    assert r.returncode == 0, r.stdout + r.stderr
    p = microlith.profile(model(VWW), "stm32l432kc")
    need = p.totals["activation_peak_bytes"] + p.totals["scratch_bytes"]
    reserve = 65536 - need + 1024
    r = run("check", str(model(VWW)), "--target", "stm32l432kc", "--ram-reserve", str(reserve))
    assert r.returncode == 3 and "RAM: needs" in r.stdout and "short by 1.0 KiB" in r.stdout


def test_check_vww_on_512k_part_fits():
    r = run("check", str(model(VWW)), "--target", "nrf5340")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FITS" in r.stdout


def test_check_lists_every_reason():
    r = run("check", str(model(VWW)), "--ram-budget", "16K", "--flash-budget", "64K")
    assert r.returncode == 3
    assert "RAM: needs" in r.stdout and "FLASH: needs" in r.stdout


def test_check_json_and_budgets():
    r = run("check", str(model(VWW)), "--ram-budget", "1M", "--flash-budget", "1M", "--json")
    assert r.returncode == 0
    d = json.loads(r.stdout)
    assert d["fits"] is True and d["reasons"] == []


@pytest.mark.parametrize("args", [["check", "MODEL"], ["check", "MODEL", "--target", "nope"],
                                  ["profile", "MODEL", "--ram-budget", "lots"],
                                  ["profile", "MODEL", "--clock", "80"], ["frobnicate"]])
def test_usage_errors_exit_2(args):
    args = [str(model(VWW)) if a == "MODEL" else a for a in args]
    r = run(*args)
    assert r.returncode == 2, r.stdout + r.stderr


def test_model_errors_exit_1_without_traceback(tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\x00" * 64)
    for cmd in ("profile", "check", "inspect"):
        r = run(cmd, str(bad), "--target", "nrf52840") if cmd != "inspect" else run(cmd, str(bad))
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and "error" in r.stderr
    r = run("profile", str(tmp_path / "missing.onnx"))
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_check_generic_core_without_budget_is_an_error():
    r = run("check", str(model(VWW)), "--target", "cortex-m4f")
    assert r.returncode == 1
    assert "--ram-budget" in r.stderr


def test_profile_json_matches_api():
    path = str(model("mlcommons_tiny/kws_ref_model.tflite"))
    r = run("profile", path, "--target", "stm32l476rg", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("schema_version", "model", "target", "totals", "layers", "fits", "reasons",
                "estimates"):
        assert key in d
    assert set(d["model"]) >= {"path", "sha256", "format"}
    assert set(d["totals"]) >= {"params", "macs", "weight_bytes", "activation_peak_bytes",
                                "io_bytes"}
    assert set(d["estimates"]) >= {"latency_ms", "energy_uj", "method"}
    assert d["estimates"]["method"].startswith("estimated")
    assert d["estimates"]["energy_uj"] > 0 and d["estimates"]["latency_ms"] > 0
    layer = d["layers"][0]
    assert set(layer) >= {"name", "op", "output_shape", "params", "macs", "weight_bytes",
                          "activation_bytes"}
    api = json.loads(json.dumps(microlith.profile(path, "stm32l476rg").to_dict()))
    assert api == d


def test_profile_terminal_table():
    r = run("profile", str(model("tflite_micro/hello_world_int8.tflite")), "--target",
            "cortex-m0plus@48MHz")
    assert r.returncode == 0, r.stderr
    for text in ("Layers", "fully_connected", "MACs per inference", "measured", "estimated",
                 "48 MHz", "no verdict"):
        assert text in r.stdout, text


def test_latency_estimate_scales_with_clock():
    path = str(model("mlcommons_tiny/kws_ref_model.tflite"))
    a = microlith.profile(path, "cortex-m4f@60MHz").estimates["latency_ms"]
    b = microlith.profile(path, "cortex-m4f@120MHz").estimates["latency_ms"]
    assert a == pytest.approx(2 * b)


def test_inspect_unsupported_model_lists_problems_and_io():
    r = run("inspect", str(model("tflite_micro/audio_preprocessor_int8.tflite")), "--json")
    assert r.returncode == 1
    d = json.loads(r.stdout)
    assert d["supported"] is False
    assert d["inputs"][0]["shape"] == [1, 480] and d["inputs"][0]["dtype"] == "int16"
    assert d["source_ops"]["CUSTOM:SignalRfft"] == 1
    assert any("SignalPCAN" in p for p in d["problems"])


def test_inspect_supported_model():
    r = run("inspect", str(model("mlcommons_tiny/kws_ref_model.tflite")))
    assert r.returncode == 0, r.stderr
    assert "supported" in r.stdout and "CONV_2D" in r.stdout
    assert "scale 0.584703, zero point 83" in r.stdout


def test_targets_list_and_show():
    r = run("targets", "list", "--json")
    assert r.returncode == 0
    assert len(json.loads(r.stdout)["targets"]) >= 30
    r = run("targets", "show", "nrf52840")
    assert r.returncode == 0 and "datasheet" in r.stdout and "Cortex-M4" in r.stdout
    assert run("targets", "show", "no-such-chip").returncode == 2


def test_profile_measure_uses_the_emulated_build():
    """`profile --measure`: the fit verdict and the latency come from the
    cross-built model run in emulation (flash and RAM from the ELF, the
    painted stack, executed instructions), not from planning figures; the
    same numbers as `bench` for that target."""
    kws = str(model("mlcommons_tiny/kws_ref_model.tflite"))
    r = run("profile", kws, "--target", "nrf52832", "--measure", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads(r.stdout)
    m = d["measured"]
    assert m["bit_exact"] is True and m["instructions"] > 1_000_000
    assert d["estimates"]["instructions"] == m["instructions"]
    assert "measured instructions" in d["estimates"]["method"]
    assert d["totals"]["code_bytes"] == m["flash"]["code"]
    assert d["totals"]["stack_peak_bytes"] == m["stack_peak_bytes"] > 0
    ram, flash = (next(c for c in d["checks"] if c["resource"] == k) for k in ("ram", "flash"))
    assert flash["required_bytes"] == m["flash"]["total"]
    assert ram["required_bytes"] == m["ram"]["total"] + m["stack_peak_bytes"] + 4096
    assert "measured from the ELF" in ram["basis"] and "peak stack" in ram["basis"]
    plain = json.loads(run("profile", kws, "--target", "nrf52832", "--json").stdout)
    assert plain["measured"] is None and "code_bytes" not in plain["totals"]
    # the CI gate measures too; without a target there is nothing to build for
    r = run("check", kws, "--target", "stm32f030r8", "--measure", "--opt", "Os")
    assert r.returncode == 3 and "measured from the ELF" in r.stdout, r.stdout + r.stderr
    r = run("profile", kws, "--ram-budget", "64K", "--measure")
    assert r.returncode == 2 and "--measure needs --target" in r.stdout + r.stderr
