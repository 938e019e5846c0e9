"""On target: Cortex-M builds (arm-none-eabi-gcc, microlith's own startup code
and linker scripts) run under QEMU, bit-exact with the host build."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from shared_models import model

from microlith.api import prepare
from microlith.codegen import generate, kernels_for
from microlith.codegen.host import compile_for_host
from microlith.emulate.qemu import run_qemu
from microlith.errors import MicrolithError
from microlith.targets import get_target
from microlith.toolchain import arm
from microlith.toolchain.arm import BOARDS, CORES, build_elf
from microlith.verify.validate import random_samples


def _need(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        message = f"{tool} is not installed ({hint})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _tools():
    _need("arm-none-eabi-gcc", arm.INSTALL_HINT)
    _need("qemu-system-arm", "sudo apt-get install -y qemu-system-arm")


class Case:
    """A model, its generated project, samples and host-build outputs."""

    def __init__(self, relative: str, root: Path, n: int, prefix: str = "model"):
        self.graph = prepare(model(relative))
        self.project = generate(self.graph, root / "project", prefix=prefix)
        # what `compile --target` generates for cores without DSP (no DSP scratch)
        self.portable = generate(self.graph, root / "portable", prefix=prefix,
                                 kernels="portable")
        self.samples = random_samples(self.graph, n, seed=1)
        host = compile_for_host(self.graph, workdir=root / "host")
        self.expected = [host.invoke(s) for s in self.samples]

    def check(self, core: str, opt: str = "-O2", board: str | None = None) -> None:
        project = (self.project if kernels_for(get_target(core)) == "any"
                   else self.portable)
        build = build_elf(project, core, opt, board=board, samples=self.samples)
        result = run_qemu(build)
        assert result.exit_code == 0
        assert len(result.outputs) == len(self.expected)
        for got, want in zip(result.outputs, self.expected, strict=True):
            for g, w in zip(got, want, strict=True):
                assert g.dtype == w.dtype and g.shape == w.shape
                assert np.array_equal(g, w), f"{core} {opt} on {build.board} differs from host"
        assert result.stack_bytes is not None and 0 < result.stack_bytes < 4096


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    return Case("tflite_micro/hello_world_int8.tflite", tmp_path_factory.mktemp("hello"), 4)


@pytest.fixture(scope="module")
def kws(tmp_path_factory):
    return Case("mlcommons_tiny/kws_ref_model.tflite", tmp_path_factory.mktemp("kws"), 2,
                prefix="kws")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return Case("tflite_micro/micro_speech_quantized.tflite",
                tmp_path_factory.mktemp("speech"), 2)


@pytest.mark.parametrize("core", list(CORES))
def test_hello_world_every_core(hello, core):
    hello.check(core)  # on the core's own board


def test_hello_world_both_opts_and_a_larger_board(hello):
    hello.check("cortex-m0plus", "-Os")
    hello.check("cortex-m4f", "-Os")
    hello.check("cortex-m0plus", board="mps2-an385")  # Thumb-1 code, M0 alignment rules


# The micro:bit (nRF51, Cortex-M0, 16 KB RAM) holds both keyword models, generated
# for the portable kernels as `compile --target` does for a Cortex-M0+.
@pytest.mark.parametrize("core,opt", [("cortex-m4f", "-O2"), ("cortex-m4f", "-Os"),
                                      ("cortex-m0plus", "-Os")])
def test_kws_on_target(kws, core, opt):
    kws.check(core, opt)


@pytest.mark.parametrize("core,opt", [("cortex-m4f", "-O2"), ("cortex-m0plus", "-O2")])
def test_micro_speech_on_target(speech, core, opt):
    speech.check(core, opt)


def test_m0_alignment_is_enforced(hello, tmp_path):
    """The M0 runs above never faulted; this shows they would have: the same
    unaligned word load faults on the micro:bit and passes on a Cortex-M3."""
    project = generate(hello.graph, tmp_path / "project")
    model_c = project.path / "model.c"
    head = "int model_invoke(void) {"
    text = model_c.read_text()
    assert head in text
    model_c.write_text(text.replace(head, head + (
        " { static volatile uint8_t b[8]; volatile uintptr_t o = 1;"
        " (void)*(volatile uint32_t *)((uintptr_t)b + o); }")))
    m3 = build_elf(project, "cortex-m3", samples=hello.samples[:1])
    assert run_qemu(m3).exit_code == 0
    for board in ("microbit", "mps2-an385"):
        m0 = build_elf(project, "cortex-m0plus", board=board, samples=hello.samples[:1])
        with pytest.raises(MicrolithError, match=r"faulted: @ml-fault exception=00000003"):
            run_qemu(m0)


def test_bare_firmware_keeps_the_model_symbols(kws):
    build = build_elf(kws.portable, "cortex-m0plus", "-Os", firmware="none")
    assert run_qemu(build).outputs == []
    nm = subprocess.run(["arm-none-eabi-nm", str(build.elf)], capture_output=True, text=True,
                        check=True).stdout.split()
    for name in ("kws_invoke", "kws_input", "kws_output", "kws_reset", "kws_arena",
                 "__stack_start", "__stack_end", "ml_vector_table"):
        assert name in nm
    assert "ml_stack_paint" not in nm  # no harness code in this ELF
    assert build.map_file.is_file()


def test_errors(hello, tmp_path, monkeypatch):
    with pytest.raises(MicrolithError, match="unknown core"):
        build_elf(hello.project, "cortex-m99")
    with pytest.raises(MicrolithError, match="does not run on microbit"):
        build_elf(hello.project, "cortex-m4f", board="microbit")
    with pytest.raises(MicrolithError, match="opt must be"):
        build_elf(hello.project, "cortex-m3", opt="-O3")
    assert all(core in BOARDS[c.board].runs for core, c in CORES.items())
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(MicrolithError, match="apt-get install -y gcc-arm-none-eabi "
                                             "libnewlib-arm-none-eabi"):
        build_elf(hello.project, "cortex-m3")
    fake = arm.ArmBuild(tmp_path / "x.elf", "cortex-m3", "mps2-an385", "-O2", [],
                        tmp_path / "x.map")
    with pytest.raises(MicrolithError, match="apt-get install -y qemu-system-arm"):
        run_qemu(fake)
