"""The package formats: each turns a compiled project into files to ship.

Every package holds the model's C sources (renamed after the prefix, so two
models' packages never collide on a header name: model.h -> <prefix>.h,
model.c -> <prefix>.c, model_weights.c -> <prefix>_weights.c, ...), the
example inference (see example.py), a README and a LICENSE notice. Output is
deterministic: the same project and options give the same bytes.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..errors import MicrolithError
from .example import c_comment, example_c, example_h, host_main_c, template
from .project import Project, Sample

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
ARDUINO_CATEGORY = "Data Processing"
DEFAULT_URL = "https://example.com/"  # RFC 2606 placeholder: pass --url
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,48}[A-Za-z0-9]$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")


@dataclass
class Options:
    name: str
    version: str = "1.0.0"
    author: str = "microlith"
    maintainer: str | None = None
    url: str = DEFAULT_URL

    def check(self) -> None:
        problems = []
        if not _NAME.match(self.name) or "--" in self.name:
            problems.append(f"name {self.name!r} must be 2 to 50 letters, digits and single "
                            "dashes, starting with a letter and not ending with a dash (a "
                            "name every format accepts: Arduino, PlatformIO, Zephyr, CMake)")
        if self.name.lower().startswith("arduino"):
            problems.append(f"name {self.name!r} must not start with 'Arduino' (reserved for "
                            "official Arduino libraries)")
        if not _SEMVER.match(self.version) or len(self.version) > 20:
            problems.append(f"version {self.version!r} must be a semantic version such as "
                            "1.0.0 (at most 20 characters)")
        for label, value in (("author", self.author), ("maintainer", self.maintainer or ""),
                             ("url", self.url)):
            if "\n" in value or "\r" in value:
                problems.append(f"{label} must be one line")
        if not self.author.strip():
            problems.append("author must not be empty")
        if not re.match(r"^https?://\S+$", self.url):
            problems.append(f"url {self.url!r} must be an http(s) URL")
        if problems:
            raise MicrolithError("invalid package options", problems)


@dataclass
class Files:
    """A package being assembled: relative path -> bytes, written sorted."""
    items: dict[str, bytes] = field(default_factory=dict)

    def add(self, rel: str, content: str | bytes) -> None:
        if rel in self.items:
            raise MicrolithError(f"package file {rel} written twice", internal=True)
        self.items[rel] = content.encode("utf-8") if isinstance(content, str) else content


def default_name(prefix: str) -> str:
    return re.sub(r"-+", "-", f"microlith-{prefix.replace('_', '-')}").strip("-")


def renamed(project: Project, rel: str) -> str:
    """model.h -> <prefix>.h, model_weights.c -> <prefix>_weights.c, ... (top
    level only; kernels already carry the prefix)."""
    if "/" not in rel and re.match(r"^model([_.])", rel):
        return project.prefix + rel[len("model"):]
    return rel


def _rename_includes(project: Project, text: str) -> str:
    return re.sub(r'#include "model((?:_\w+)?\.h)"',
                  lambda m: f'#include "{project.prefix}{m.group(1)}"', text)


def add_sources(files: Files, project: Project, into: str) -> list[str]:
    """The project's sources under ``into``; returns their new relative paths."""
    out = []
    for rel in project.sources:
        text = (project.path / rel).read_text(encoding="utf-8")
        new = f"{into}/{renamed(project, rel)}"
        files.add(new, _rename_includes(project, text))
        out.append(new)
    return out


def add_data(files: Files, project: Project, into: str) -> None:
    """model.json and, for a --weights-slot project, weights.bin (the image to
    write into the weights slot)."""
    for name in ("model.json", "weights.bin"):
        if (project.path / name).is_file():
            files.add(f"{into}{name}", (project.path / name).read_bytes())


def add_example(files: Files, project: Project, sample: Sample, expected, into: str) -> None:
    p = project.prefix
    files.add(f"{into}/{p}_example.h", example_h(project))
    files.add(f"{into}/{p}_example.c", _rename_includes(project, example_c(project, sample,
                                                                          expected)))


def license_text(project: Project) -> str:
    return template("LICENSE.txt").replace("@prefix@", project.prefix) \
        .replace("@model@", project.model_name)


def umbrella_header(project: Project) -> str:
    """microlith_<prefix>.h: the one header a sketch includes (a name no other
    library has)."""
    p, P = project.prefix, project.prefix.upper()
    return (f"/* Generated by microlith: {c_comment(project.model_name)} as a library. */\n"
            f"#ifndef MICROLITH_{P}_H\n#define MICROLITH_{P}_H\n\n"
            f'#include "{p}.h"\n\n#endif /* MICROLITH_{P}_H */\n')


def _io_lines(project: Project) -> list[str]:
    lines = []
    for kind, items in (("input", project.inputs), ("output", project.outputs)):
        for i, d in enumerate(items):
            q = d.get("quant")
            quant = ""
            if q and not isinstance(q.get("scale"), list):
                quant = f", scale {q['scale']:.7g}, zero point {q['zero_point']}"
            layout = f", {d['layout']}" if d.get("layout") else ""
            lines.append(f"- {kind} {i} `{d['name']}`: {d['dtype']} {d['shape']}"
                         f"{quant}{layout}")
    return lines


def _values(a: np.ndarray, limit: int = 16) -> str:
    flat = a.reshape(-1)
    if flat.dtype.kind == "f":
        items = [f"{float(v):.6f}" for v in flat[:limit]]
    else:
        items = [str(int(v)) for v in flat[:limit]]
    more = f" ... ({flat.size - limit} more)" if flat.size > limit else ""
    return " ".join(items) + more


def readme(project: Project, opts: Options, sample: Sample, expected, kind: str,
           usage: list[str]) -> str:
    meta = project.meta
    lines = [f"# {opts.name}", "",
             f"{kind} generated by microlith from `{project.model_name}`: the neural "
             f"network compiled to C99 with no dynamic memory (C prefix `{project.prefix}`, "
             f"version {opts.version}).", "",
             "## Model", "", *_io_lines(project), "",
             f"- arena: {meta.get('arena_bytes', '?')} bytes of RAM (static), weights: "
             f"{meta.get('weight_bytes', '?')} bytes of flash (measured: the sizes of the "
             "arrays in the generated code)", "",
             "API (`" + project.prefix + ".h`): call `" + project.prefix + "_reset()` once, "
             "write each input at `" + project.prefix + "_input(i)`, call `" + project.prefix
             + "_invoke()`, read each output at `" + project.prefix + "_output(i)`.", "",
             "## Build and run the example", "", *usage, "",
             "## The example", "",
             f"It runs one inference on {sample.description}"
             + (f" ({'; '.join(sample.notes)})" if sample.notes else "")
             + ", prints the outputs and compares them with the outputs microlith's host "
             "build of the same C code computed (measured), stored in the example: integers "
             "must be equal, floats within a relative 1e-5 (C libraries differ in the last "
             "bits of expf and friends). It ends with `result: PASS` (exit code 0) or "
             "`result: FAIL` (exit code 1). Expected:", ""]
    for i, (d, a) in enumerate(zip(project.outputs, expected, strict=True)):
        lines.append(f"- output {i} `{d['name']}`: {_values(a)}")
    lines += ["", "## License", "",
              "Apache-2.0 for the C code (see LICENSE); the weights come from "
              f"`{project.model_name}` and stay under its owner's terms.", ""]
    return "\n".join(lines)


def manifest(project: Project, opts: Options, fmt: str, files: Files, sample: Sample) -> str:
    data = {"schema_version": 1, "generator": "microlith", "format": fmt, "name": opts.name,
            "version": opts.version, "prefix": project.prefix,
            "model": project.meta.get("model", {}),
            "sources_sha256": project.meta.get("sources_sha256", ""),
            "sample": sample.description, "sample_notes": sample.notes,
            "files": sorted(files.items)}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


# -- cmake --------------------------------------------------------------------
def cmake(project: Project, opts: Options, sample: Sample, expected) -> Files:
    p, P = project.prefix, project.prefix.upper()
    files = Files()
    srcs = add_sources(files, project, "src")
    add_example(files, project, sample, expected, "example")
    files.add("example/main.c", host_main_c(project))
    add_data(files, project, "")
    c_srcs = [s for s in srcs if s.endswith(".c")]
    listing = "\n  ".join(c_srcs)
    numeric = opts.version.split("-")[0].split("+")[0]
    files.add("CMakeLists.txt", f"""# Generated by microlith: {opts.name} {opts.version}
cmake_minimum_required(VERSION 3.13)
project({opts.name.replace('-', '_')} VERSION {numeric} LANGUAGES C)

# The example is built when this is the top-level project (turn it off with
# -D{P}_BUILD_EXAMPLE=OFF); a parent project using add_subdirectory() gets
# only the library.
if(CMAKE_SOURCE_DIR STREQUAL CMAKE_CURRENT_SOURCE_DIR)
  option({P}_BUILD_EXAMPLE "Build the example inference {p}_example" ON)
else()
  option({P}_BUILD_EXAMPLE "Build the example inference {p}_example" OFF)
endif()

add_library({p} STATIC
  {listing}
)
set_target_properties({p} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_include_directories({p} PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}}/src)
if(NOT MSVC)
  target_link_libraries({p} PUBLIC m)
endif()

if({P}_BUILD_EXAMPLE)
  add_executable({p}_example example/main.c example/{p}_example.c)
  set_target_properties({p}_example PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON
                        C_EXTENSIONS OFF)
  target_link_libraries({p}_example PRIVATE {p})
  enable_testing()
  add_test(NAME {p}_example COMMAND {p}_example)
endif()
""")
    objs = " ".join(f"build/{s[:-2]}.o" for s in c_srcs)
    files.add("Makefile", f"""# Generated by microlith: {opts.name} {opts.version}
# `make` builds lib{p}.a and the example {p}_example; `make run` runs it.
CC ?= cc
AR ?= ar
CFLAGS ?= -O2
# Always added (also when CFLAGS is given on the command line).
ML_CFLAGS = -std=c99 -Wall -Wextra -Isrc
LDLIBS ?= -lm

OBJS = {objs}
EXAMPLE_OBJS = build/example/main.o build/example/{p}_example.o

all: lib{p}.a {p}_example

lib{p}.a: $(OBJS)
\t$(AR) rcs $@ $^

{p}_example: $(EXAMPLE_OBJS) lib{p}.a
\t$(CC) $(CFLAGS) $(ML_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/%.o: %.c
\t@mkdir -p $(dir $@)
\t$(CC) $(CFLAGS) $(ML_CFLAGS) -c $< -o $@

run: {p}_example
\t./{p}_example

clean:
\trm -rf build lib{p}.a {p}_example

.PHONY: all run clean
""")
    usage = ["```sh", "cmake -S . -B build && cmake --build build && ./build/" + p + "_example",
             "# or, with make only:", "make run", "```", "",
             f"In your own CMake project: `add_subdirectory({opts.name})` and "
             f"`target_link_libraries(app PRIVATE {p})`. On a board without stdio, compile "
             "`example/main.c` with `-DEXAMPLE_WRITE=my_write` (your "
             "`void my_write(const char *text)`)."]
    files.add("README.md", readme(project, opts, sample, expected, "A C library (CMake and "
                                  "Make)", usage))
    files.add("LICENSE", license_text(project))
    files.add("microlith-package.json", manifest(project, opts, "cmake", files, sample))
    return files


# -- arduino and platformio -------------------------------------------------------
def example_name(project: Project) -> str:
    return f"{project.prefix}_inference"


def _library_layout(files: Files, project: Project, sample: Sample, expected) -> list[str]:
    srcs = add_sources(files, project, "src")
    files.add(f"src/microlith_{project.prefix}.h", umbrella_header(project))
    ex = example_name(project)
    add_example(files, project, sample, expected, f"examples/{ex}")
    files.add(f"examples/{ex}/{ex}.ino", template("sketch.ino.in")
              .replace("@prefix@", project.prefix).replace("@model@", project.model_name)
              .replace("@header@", f"microlith_{project.prefix}.h"))
    add_data(files, project, "extras/")
    return srcs


def _sentence(project: Project) -> str:
    return (f"The neural network {project.model_name} compiled to C by microlith: "
            "one static arena, no dynamic memory.")


def arduino(project: Project, opts: Options, sample: Sample, expected) -> Files:
    files = Files()
    _library_layout(files, project, sample, expected)
    p = project.prefix
    shapes = "; ".join(f"{d['dtype']}{d['shape']}" for d in project.inputs)
    outs = "; ".join(f"{d['dtype']}{d['shape']}" for d in project.outputs)
    props = {
        "name": opts.name, "version": opts.version, "author": opts.author,
        "maintainer": opts.maintainer or opts.author, "sentence": _sentence(project),
        "paragraph": (f"Input {shapes}, output {outs}, arena "
                      f"{project.meta.get('arena_bytes', '?')} bytes. Call {p}_reset(), fill "
                      f"{p}_input(i), call {p}_invoke(), read {p}_output(i). The example "
                      f"{example_name(project)} runs one inference and checks it."),
        "category": ARDUINO_CATEGORY, "url": opts.url, "architectures": "*",
        "includes": f"microlith_{p}.h",
    }
    files.add("library.properties", "".join(f"{k}={v}\n" for k, v in props.items()))
    ex = example_name(project)
    usage = [f"Copy this folder into your Arduino `libraries/` folder (or zip it and use Sketch "
             f"> Include Library > Add .ZIP Library), open File > Examples > {opts.name} > {ex}, "
             "upload and open the Serial Monitor at 115200 baud.", "",
             "```sh", f"arduino-cli compile --library . -b <your board> examples/{ex}", "```"]
    files.add("README.md", readme(project, opts, sample, expected, "An Arduino library",
                                  usage))
    files.add("LICENSE", license_text(project))
    files.add("microlith-package.json", manifest(project, opts, "arduino", files, sample))
    return files


def platformio(project: Project, opts: Options, sample: Sample, expected) -> Files:
    files = Files()
    srcs = _library_layout(files, project, sample, expected)
    p = project.prefix
    ex = example_name(project)
    subdirs = sorted({s.split("/")[1] for s in srcs if s.count("/") >= 2})
    src_filter = ["+<*.c>"] + [f"+<{d}/*.c>" for d in subdirs]
    desc = _sentence(project)
    manifest_json = {
        "name": opts.name, "version": opts.version, "description": desc[:255],
        "keywords": ["microlith", "neural-network", "inference", "tinyml"],
        "authors": [{"name": opts.author, "maintainer": True}],
        "license": "Apache-2.0", "homepage": opts.url,
        "frameworks": "*", "platforms": "*",
        "headers": [f"microlith_{p}.h"],
        "build": {"srcDir": "src", "includeDir": "src", "srcFilter": src_filter},
        "examples": [{"name": ex, "base": f"examples/{ex}",
                      "files": sorted(f.rsplit("/", 1)[1] for f in files.items
                                      if f.startswith(f"examples/{ex}/"))}],
    }
    files.add("library.json", json.dumps(manifest_json, indent=2) + "\n")
    usage = ["In platformio.ini: `lib_deps = file:///path/to/" + opts.name + "`, then "
             f"`#include <microlith_{p}.h>`. The example `examples/{ex}` is an Arduino "
             "sketch:", "", "```sh",
             f"pio ci --lib . --board <your board> examples/{ex}/{ex}.ino", "```"]
    files.add("README.md", readme(project, opts, sample, expected, "A PlatformIO library",
                                  usage))
    files.add("LICENSE", license_text(project))
    files.add("microlith-package.json", manifest(project, opts, "platformio", files, sample))
    return files


# -- zephyr ----------------------------------------------------------------------
def kconfig_symbol(project: Project) -> str:
    return f"MICROLITH_{project.prefix.upper()}"


def zephyr(project: Project, opts: Options, sample: Sample, expected) -> Files:
    files = Files()
    srcs = add_sources(files, project, "src")
    p = project.prefix
    sym = kconfig_symbol(project)
    module = opts.name
    files.add("zephyr/module.yml", f"name: {module}\nbuild:\n  cmake: .\n  kconfig: Kconfig\n")
    listing = "\n    ".join(s for s in srcs if s.endswith(".c"))
    files.add("CMakeLists.txt", f"""# Generated by microlith: Zephyr module {module} {opts.version}
if(CONFIG_{sym})
  zephyr_library_named({module.replace('-', '_')})
  zephyr_library_sources(
    {listing}
  )
  zephyr_include_directories(src)
endif()
""")
    model = project.model_name.replace('"', "'")
    files.add("Kconfig", f"""# Generated by microlith: the Zephyr module {module}

config {sym}
\tbool "microlith model {p} ({model})"
\thelp
\t  The neural network {model} compiled to C by microlith:
\t  {p}_reset(), {p}_input(), {p}_invoke() and {p}_output() from
\t  {p}.h, running in one static arena of {project.meta.get('arena_bytes', '?')} bytes.
""")
    ex = example_name(project)
    base = f"samples/{ex}"
    add_example(files, project, sample, expected, f"{base}/src")
    files.add(f"{base}/src/main.c", template("zephyr_main.c.in")
              .replace("@prefix@", p).replace("@model@", c_comment(project.model_name)))
    files.add(f"{base}/prj.conf", f"CONFIG_{sym}=y\nCONFIG_PRINTK=y\n"
                                  "CONFIG_MAIN_STACK_SIZE=4096\n")
    files.add(f"{base}/CMakeLists.txt", f"""# Generated by microlith: the example app of {module}
cmake_minimum_required(VERSION 3.20.0)
# This module is two folders up; an application elsewhere lists it the same way
# (or in its west manifest).
list(APPEND ZEPHYR_EXTRA_MODULES ${{CMAKE_CURRENT_SOURCE_DIR}}/../..)
find_package(Zephyr REQUIRED HINTS $ENV{{ZEPHYR_BASE}})
project({p}_example LANGUAGES C)
target_sources(app PRIVATE src/main.c src/{p}_example.c)
""")
    add_data(files, project, "")
    usage = ["```sh", f"west build -b <your board> {base} && west flash", "```", "",
             "In your own application: add this folder to `ZEPHYR_EXTRA_MODULES` (or to "
             f"your west manifest) and set `CONFIG_{sym}=y` in prj.conf."]
    files.add("README.md", readme(project, opts, sample, expected, "A Zephyr module", usage))
    files.add("LICENSE", license_text(project))
    files.add("microlith-package.json", manifest(project, opts, "zephyr", files, sample))
    return files


# -- zip -----------------------------------------------------------------------
def zip_bytes(files: Files, top: str, out_path) -> None:
    """A reproducible zip: sorted entries under ``top/``, fixed dates and
    permissions, deflate level 9."""
    with zipfile.ZipFile(out_path, "w") as zf:
        for rel in sorted(files.items):
            info = zipfile.ZipInfo(f"{top}/{rel}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below are read
            info.external_attr = 0o100644 << 16
            zf.writestr(info, files.items[rel], compress_type=zipfile.ZIP_DEFLATED,
                        compresslevel=9)
