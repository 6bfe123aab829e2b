"""PlatformIO extra script: CMSIS-DSP for the llm library's Cortex-M55 and
Cortex-M4F/M7/M33 backends.

Use it in every environment built with LLM_BACKEND_CM55 (boards/mps3_an547.ini)
or LLM_BACKEND_CM4 (boards/mps2.ini):

    extra_scripts = pre:extra_scripts/build/cmsis_dsp.py

It finds CMSIS-DSP's sources, adds their Include/PrivateInclude folders (as
system headers) and -D__GNUC_PYTHON__ to the build (it drops the dependency
on CMSIS-Core, which only CMSIS-DSP's DSP-extension intrinsics need: the
kernels compiled here do not use them), plus -DARM_MATH_HELIUM when the
board's CPU has Helium (build.cpu cortex-m55; elsewhere CMSIS-DSP's scalar
C variants are compiled), and compiles only the CMSIS-DSP files the backend calls
(SOURCES below) into $BUILD_DIR/cmsis_dsp. CMSIS-DSP is never copied into
this repository. Where it comes from, first found wins:

  1. a CMSIS-DSP folder named by the project option `custom_cmsis_dsp_dir`
     or the environment variable CMSIS_DSP_DIR (e.g. a git checkout);
  2. PlatformIO's own package, the normal way on a connected machine: add
         platform_packages = platformio/framework-cmsis-dsp@~1.16.2
     to the environment (CMSIS-DSP 1.16.2; Helium kernels exist since
     CMSIS-DSP 1.8, the release of CMSIS 5.7) and PlatformIO installs it;
  3. the cache <cache>/cmsis-dsp/cmsisdsp-1.10.3, unpacked from the Python
     package cmsisdsp 1.10.3 on PyPI, whose source distribution carries the
     CMSIS-DSP C sources (the offline path: PyPI is reachable where the
     PlatformIO registry is not). <cache> is $LLM_CACHE_DIR, else
     $XDG_CACHE_HOME/llm-mcu, else ~/.cache/llm-mcu. When it is missing,
     this script runs, once,
         python -m pip download --no-deps --no-binary :all: \\
             --no-build-isolation cmsisdsp==1.10.3
     with PlatformIO's Python, which needs numpy, setuptools and wheel (pip
     prepares the sdist's metadata, and its setup.py imports numpy).

Anything missing stops the build with a message saying what to install or
run. Idempotent: a second run in the same build adds nothing twice.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

Import("env")  # noqa: F821 (SCons)

# The CMSIS-DSP files the backend calls, relative to the CMSIS-DSP root.
SOURCES = ["Source/MatrixFunctions/arm_mat_vec_mult_f32.c"]
HELIUM_MARK = "ARM_MATH_MVEF"  # the Helium variants are under this macro
PYPI_NAME = "cmsisdsp"
PYPI_VERSION = "1.10.3"
REGISTRY_PACKAGE = "framework-cmsis-dsp"
DEFINES = ["__GNUC_PYTHON__"]
HELIUM_CPUS = ("cortex-m55", "cortex-m85")
HELIUM_DEFINES = ["ARM_MATH_HELIUM"]


def say(msg):
    print("cmsis_dsp.py: " + msg)


def fail(msg):
    sys.stderr.write("Error: cmsis_dsp.py: %s\n" % msg)
    env.Exit(1)  # noqa: F821


def cache_dir():
    if os.environ.get("LLM_CACHE_DIR"):
        return os.environ["LLM_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "llm-mcu")


def missing_files(root):
    """Files the build needs that root lacks (empty when root is usable)."""
    need = ["Include/arm_math.h"] + SOURCES
    return [f for f in need if not os.path.isfile(os.path.join(root, f))]


def option_dir():
    value = env.GetProjectOption("custom_cmsis_dsp_dir", "") or os.environ.get("CMSIS_DSP_DIR", "")  # noqa: F821
    if not value:
        return None
    root = os.path.abspath(os.path.join(env.subst("$PROJECT_DIR"), os.path.expanduser(value)))  # noqa: F821
    missing = missing_files(root)
    if missing:
        fail("%s (custom_cmsis_dsp_dir / CMSIS_DSP_DIR) is not a CMSIS-DSP folder: no %s"
             % (root, ", ".join(missing)))
    return root


def package_dir():
    """The PlatformIO package framework-cmsis-dsp when the environment has it."""
    try:
        root = env.PioPlatform().get_package_dir(REGISTRY_PACKAGE)  # noqa: F821
    except Exception:  # not a package of this platform or environment
        return None
    return root if root and not missing_files(root) else None


def fetch_pypi_sdist(dest):
    """Download the cmsisdsp sdist with pip and unpack its C sources to dest."""
    python = env.subst("$PYTHONEXE") or sys.executable  # noqa: F821
    hint = ("Install what pip needs into PlatformIO's Python (`%s -m pip install numpy "
            "setuptools wheel`) and build again, or download CMSIS-DSP yourself and set "
            "CMSIS_DSP_DIR (or custom_cmsis_dsp_dir) to it, or, online, add "
            "`platform_packages = platformio/%s@~1.16.2` to the environment."
            % (python, REGISTRY_PACKAGE))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
        say("fetching CMSIS-DSP sources: %s==%s from PyPI (once, into %s)"
            % (PYPI_NAME, PYPI_VERSION, dest))
        cmd = [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--no-build-isolation", "--disable-pip-version-check", "-q", "-d", tmp,
               "%s==%s" % (PYPI_NAME, PYPI_VERSION)]
        if subprocess.call(cmd) != 0:
            fail("`%s` failed (see above). %s" % (" ".join(cmd), hint))
        archives = [f for f in os.listdir(tmp) if f.endswith(".tar.gz")]
        if not archives:
            fail("pip left no %s-%s.tar.gz in %s. %s" % (PYPI_NAME, PYPI_VERSION, tmp, hint))
        top = "%s-%s/" % (PYPI_NAME, PYPI_VERSION)
        dirs = tuple(top + d + "/" for d in ("Include", "PrivateInclude", "Source"))
        files = (top + "LICENSE", top + "README.md")
        unpacked = os.path.join(tmp, "unpacked")
        with tarfile.open(os.path.join(tmp, archives[0])) as tar:
            members = [m for m in tar.getmembers()
                       if (m.isfile() or m.isdir()) and ".." not in m.name.split("/")
                       and (m.name.startswith(dirs) or m.name in files)]
            tar.extractall(unpacked, members=members)
        src = os.path.join(unpacked, top.rstrip("/"))
        missing = missing_files(src)
        if missing:
            fail("%s %s has no %s" % (PYPI_NAME, PYPI_VERSION, ", ".join(missing)))
        os.replace(src, dest)  # atomic: a half-unpacked cache is never seen


def cached_dir():
    dest = os.path.join(cache_dir(), "cmsis-dsp", "%s-%s" % (PYPI_NAME, PYPI_VERSION))
    if missing_files(dest):
        if os.path.isdir(dest):
            shutil.rmtree(dest)  # incomplete: fetch again
        fetch_pypi_sdist(dest)
    return dest


def main():
    if env.get("LLM_CMSIS_DSP_ROOT"):  # noqa: F821 (already done for this build)
        return
    root = option_dir() or package_dir() or cached_dir()
    helium = env.BoardConfig().get("build.cpu", "") in HELIUM_CPUS  # noqa: F821
    for rel in SOURCES if helium else ():
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            if HELIUM_MARK not in f.read():
                fail("%s has no Helium variant (%s): CMSIS-DSP 1.8 or newer is needed"
                     % (os.path.join(root, rel), HELIUM_MARK))
    say("using CMSIS-DSP from %s" % root)
    env.Replace(LLM_CMSIS_DSP_ROOT=root)  # noqa: F821
    # Global, as the llm library includes arm_math.h; -isystem, so that its
    # headers do not trip the warnings our own code is held to.
    flags = dict(CCFLAGS=["-isystem", os.path.join(root, "Include"),
                          "-isystem", os.path.join(root, "PrivateInclude")],
                 CPPDEFINES=DEFINES + (HELIUM_DEFINES if helium else []))
    env.Append(**flags)  # noqa: F821
    # For environments cloned before this ran (the packaged library's builder).
    env.Replace(LLM_CMSIS_DSP_FLAGS=flags)  # noqa: F821
    # The global environment, not a clone: machine flags and build_flags
    # reach it only after pre scripts, and SCons expands them at build time.
    env.BuildSources(  # noqa: F821

        os.path.join("$BUILD_DIR", "cmsis_dsp"),
        root,
        src_filter=["-<*>"] + ["+<%s>" % s for s in SOURCES],
    )


main()
