"""Deployable packages of a compiled project (``microlith package``).

    package("build/c", "cmake", "dist/kws")          # CMake + Make library and example
    package("build/c", "arduino", "dist/kws-arduino")  # library.properties, src/, examples/
    package("build/c", "platformio", "dist/kws-pio")   # library.json, src/, examples/
    package("build/c", "zephyr", "dist/kws-zephyr")    # zephyr/module.yml, Kconfig, sample
    package("build/c", "zip", "dist/kws.zip")          # the cmake package, reproducibly zipped
    package("build/c", "update", "kws.mlu", sign_key=..., version=2)   # signed model update
    package("build/c", "mcuboot", "kws.img", sign_key=..., version=...)  # MCUboot image

Each library package carries an example that runs one inference on a stored
sample input and checks the outputs against the expectation microlith's host
build computed; the same inputs give the same bytes.
"""

from __future__ import annotations

import importlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MicrolithError
from . import formats
from .project import load_sample as _load_sample
from .project import read_project, run_on_host, seeded_sample

LIBRARY_FORMATS = ("cmake", "arduino", "platformio", "zephyr", "zip")
SIGNED_FORMATS = ("update", "mcuboot")
FORMATS = LIBRARY_FORMATS + SIGNED_FORMATS
MARKER = "microlith-package.json"


@dataclass
class PackageResult:
    format: str
    path: Path
    files: list[str] = field(default_factory=list)  # relative paths (directory formats)
    name: str = ""
    version: str = ""
    sample: str = ""
    expected: list[list] = field(default_factory=list)  # per output, flattened values
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"schema_version": 1, "format": self.format, "path": str(self.path),
                "name": self.name, "version": self.version, "files": self.files,
                "sample": self.sample,
                "expected_outputs": {"values": self.expected,
                                     "how": "measured: microlith's host build of the C code"},
                "notes": self.notes}


def package(project_dir: str | Path, fmt: str, out: str | Path, *,
            sample: str | Path | None = None, seed: int = 0, name: str | None = None,
            version: str | int | None = None, author: str = "microlith",
            maintainer: str | None = None, url: str = formats.DEFAULT_URL,
            sign_key: str | Path | None = None, encrypt_key: str | Path | None = None,
            **extra) -> PackageResult:
    """Write the ``fmt`` package of the project ``microlith compile`` wrote
    into ``project_dir`` to ``out`` (a directory; a .zip file for "zip"; the
    blob or image file for "update" and "mcuboot")."""
    if fmt not in FORMATS:
        raise MicrolithError(f"unknown package format {fmt!r}: choose one of "
                             f"{', '.join(FORMATS)}")
    if fmt in SIGNED_FORMATS:
        return _signed(project_dir, fmt, out, sign_key=sign_key, encrypt_key=encrypt_key,
                       version=version, **extra)
    if extra:
        raise MicrolithError(f"the {fmt} format takes no option(s) "
                             f"{', '.join(sorted(extra))}")
    if sign_key is not None or encrypt_key is not None:
        raise MicrolithError(f"--sign-key and --encrypt-key are for --format update or "
                             f"mcuboot, not {fmt}")
    project = read_project(project_dir)
    opts = formats.Options(name=name or formats.default_name(project.prefix),
                           version="1.0.0" if version is None else str(version),
                           author=author, maintainer=maintainer, url=url)
    opts.check()
    out = Path(out)
    if fmt == "zip" and out.suffix != ".zip":
        raise MicrolithError(f"-o {out}: the zip format writes a .zip file; name it "
                             f"{out.name}.zip")
    smp = _load_sample(project, sample) if sample is not None else seeded_sample(project, seed)
    expected = run_on_host(project, smp.arrays)
    build = {"cmake": formats.cmake, "zip": formats.cmake, "arduino": formats.arduino,
             "platformio": formats.platformio, "zephyr": formats.zephyr}[fmt]
    files = build(project, opts, smp, expected)
    notes = list(smp.notes)
    if opts.url == formats.DEFAULT_URL and fmt in ("arduino", "platformio"):
        notes.append(f"the library's url is the placeholder {formats.DEFAULT_URL}; pass "
                     "--url with your project's page")
    if fmt == "zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        formats.zip_bytes(files, opts.name, out)
        listed = sorted(files.items)
    else:
        _write_dir(files, out)
        listed = sorted(files.items)
    return PackageResult(fmt, out, listed, opts.name, opts.version, smp.description,
                         [a.reshape(-1).tolist() for a in expected], notes)


def _write_dir(files: formats.Files, out: Path) -> None:
    """Write into ``out``: a new or empty directory, or one holding an earlier
    package (replaced whole); anything else is left alone."""
    if out.exists():
        if not out.is_dir():
            raise MicrolithError(f"-o {out} exists and is not a directory")
        if any(out.iterdir()):
            marker = out / MARKER
            ok = False
            if marker.is_file():
                try:
                    ok = json.loads(marker.read_text()).get("generator") == "microlith"
                except (ValueError, OSError, AttributeError):
                    ok = False
            if not ok:
                raise MicrolithError(f"-o {out} is a non-empty directory that is not a "
                                     "microlith package; choose a new or empty directory")
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for rel in sorted(files.items):
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(files.items[rel])


def _signed(project_dir, fmt: str, out, *, sign_key, encrypt_key, version, **extra):
    """Signed artifacts are built by microlith.package.update (model-only
    update blob) and microlith.package.mcuboot (whole-firmware image)."""
    if sign_key is None:
        raise MicrolithError(f"--format {fmt} needs --sign-key KEY (make one with "
                             "`microlith keys generate`)")
    if version is None:
        raise MicrolithError(f"--format {fmt} needs --version V")
    read_project(project_dir)  # a clear error for a directory that is not a project
    module, function = (("update", "build_update") if fmt == "update"
                        else ("mcuboot", "build_image"))
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{module}":
            raise
        mod = None
    build = getattr(mod, function, None)
    if build is None:
        raise MicrolithError(f"--format {fmt} is not available in this microlith yet "
                             f"(microlith.package.{module}.{function} is missing)")
    kwargs = dict(extra, sign_key=sign_key, version=version)
    if encrypt_key is not None:
        kwargs["encrypt_key"] = encrypt_key
    path = Path(build(project_dir, out, **kwargs))
    return PackageResult(fmt, path, [], version=str(version))
