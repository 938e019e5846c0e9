"""Kernel sets: a project generated for a core without the DSP extension
(``kernels="portable"``, what ``compile --target`` picks for Cortex-M0/M0+/
M3, RISC-V and Xtensa parts) defines <PREFIX>_ML_PORTABLE in its ml_config.h,
so every kernel stays on its portable C path, and its scratch covers that
path alone:

- the mapping from catalog targets to kernel sets;
- the portable project's scratch is at most the "any" project's, and on the
  MLPerf Tiny models smaller where the DSP paths keep constants in scratch;
- built for Cortex-M4F (a DSP core), the portable project contains no DSP
  dual 16-bit instruction (SMLAD, SXTB16) and gives the host build's outputs in Unicorn;
- built for the host under AddressSanitizer, the portable project's kernels
  stay inside the smaller scratch (ASan puts redzones around the static
  scratch array);
- profile, compile --target and bench report the same plan for a target.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from shared_models import model

from microlith import api
from microlith.api import prepare
from microlith.codegen import generate, kernels_for
from microlith.codegen.host import build_harness, compile_for_host, run_harness
from microlith.emulate.bench import _board_for
from microlith.emulate.unicorn import run_unicorn
from microlith.errors import MicrolithError
from microlith.targets import catalog, get_target
from microlith.toolchain.arm import build_elf
from microlith.verify.validate import random_samples

assert shutil.which("arm-none-eabi-gcc"), \
    "arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"

KWS = "mlcommons_tiny/kws_ref_model.tflite"
VWW = "mlcommons_tiny/vww_96_int8.tflite"


def test_every_catalog_target_has_the_kernel_set_of_its_core():
    seen = set()
    for t in catalog().values():
        ks = kernels_for(t)
        arm_dsp = t.core.dsp and t.core.arch in ("armv7e-m", "armv8-m.main", "armv8.1-m.main")
        assert ks == ("any" if arm_dsp else "portable"), (t.id, t.core.arch, t.core.dsp)
        seen.add((t.core.id, ks))
    assert ("cortex-m0plus", "portable") in seen and ("cortex-m4f", "any") in seen
    assert ("cortex-m3", "portable") in seen and ("cortex-m55", "any") in seen
    assert kernels_for(None) == "any"


def test_an_unknown_kernel_set_is_refused(tmp_path):
    graph = prepare(model(KWS))
    with pytest.raises(MicrolithError, match="kernels must be one of"):
        generate(graph, tmp_path / "p", kernels="dsp-only")


def _config(project) -> str:
    return (project.path / "kernels" / f"{project.prefix}_ml_config.h").read_text()


@pytest.mark.parametrize("rel", [KWS, VWW])
def test_portable_projects_define_ml_portable_and_reserve_less(rel, tmp_path):
    graph = prepare(model(rel))
    anyp = generate(graph, tmp_path / "any", prefix="m")
    port = generate(graph, tmp_path / "portable", prefix="m", kernels="portable")
    assert "#define M_ML_PORTABLE 1" in _config(port)
    assert not re.search(r"#define\s+M_ML_PORTABLE", _config(anyp))
    assert port.meta["kernel_set"] == "portable" and anyp.meta["kernel_set"] == "any"
    # every kernel includes the config through ml_common.h
    common = (port.path / "kernels" / "m_ml_common.h").read_text()
    assert '#include "m_ml_config.h"' in common
    assert port.scratch_bytes < anyp.scratch_bytes, (port.scratch_bytes, anyp.scratch_bytes)
    assert port.arena_bytes == anyp.arena_bytes


def test_portable_project_on_a_dsp_core_uses_no_dsp_instructions(tmp_path):
    graph = prepare(model(KWS))
    samples = random_samples(graph, 2, seed=11)
    host = compile_for_host(graph, prefix="model", workdir=tmp_path / "host")
    runs = {}
    for ks in ("any", "portable"):
        project = generate(graph, tmp_path / ks, prefix="model", kernels=ks)
        build = build_elf(project, "cortex-m4f", "-O2", board=_board_for("cortex-m4f"),
                          firmware="none", out=tmp_path / f"{ks}.elf")
        listing = subprocess.run(["arm-none-eabi-objdump", "-d", str(build.elf)],
                                 capture_output=True, text=True, check=True).stdout
        runs[ks] = (run_unicorn(build.elf, "model", samples, graph, core="cortex-m4f"),
                    # the dual 16-bit operations of our DSP paths (the compiler
                    # itself emits SMLABB for plain C, never these)
                    len(re.findall(r"\t(?:smlad|sxtb16|sxtab16)\b", listing)))
    assert runs["any"][1] > 0  # the DSP paths are there on this core...
    assert runs["portable"][1] == 0  # ...and compiled out of the portable project
    for ks, (run, _) in runs.items():
        for sample, got in zip(samples, run.outputs, strict=True):
            want = host.invoke(sample)
            assert all(np.array_equal(a, b) for a, b in zip(want, got, strict=True)), ks
    assert max(runs["any"][0].instructions) < min(runs["portable"][0].instructions)


def test_portable_scratch_is_enough_under_address_sanitizer(tmp_path):
    graph = prepare(model(KWS))
    project = generate(graph, tmp_path / "p", prefix="model", kernels="portable")
    exe = build_harness(project, tmp_path / "asan", sanitize=True)
    samples = random_samples(graph, 2, seed=3)
    got = run_harness(graph, exe, samples)
    host = compile_for_host(graph, prefix="model", workdir=tmp_path / "host")
    for sample, outs in zip(samples, got, strict=True):
        assert all(np.array_equal(a, b)
                   for a, b in zip(host.invoke(sample), outs, strict=True))


def test_profile_and_compile_for_a_target_agree(tmp_path):
    from typer.testing import CliRunner

    from microlith.cli import app

    path = model(VWW)
    for tid in ("cortex-m0plus", "nrf52832"):
        prof = api.profile(path, tid).to_dict()
        r = CliRunner().invoke(app, ["compile", str(path), "-o", str(tmp_path / tid),
                                     "--target", tid, "--json"])
        assert r.exit_code == 0, r.output
        meta = json.loads(r.stdout)  # one object, the verdict included
        assert meta["kernel_set"] == kernels_for(get_target(tid))
        assert meta["scratch_bytes"] == prof["totals"]["scratch_bytes"]
        assert meta["arena_bytes"] == prof["totals"]["activation_peak_bytes"]
        assert meta["fits"] == prof["fits"] and meta["reasons"] == prof["reasons"]
