"""PlatformIO extra script: build a `native` environment with a cross GCC,
by default the AArch64 Linux one (Debian/Ubuntu: gcc-aarch64-linux-gnu and
libc6-dev-arm64-cross), for a Raspberry Pi 4 / 5 or any AArch64 Linux board.

    [env:native_aarch64]
    platform = native
    extra_scripts = pre:extra_scripts/build/cross_gcc.py
    build_flags = -DLLM_BACKEND=LLM_BACKEND_NEON ...

Project options (all optional):
    custom_cross_prefix = aarch64-linux-gnu-   the tools' name prefix
    custom_cross_static = yes                  link -static (the program runs
                                               on any AArch64 Linux, and under
                                               `qemu-aarch64 program` here)

The local `native` platform takes its compiler and archiver from the
environment variables CC, CXX, AR and RANLIB (extra_scripts/platforms/native),
so this script, which runs before the platform's builder, sets those for this
build's SCons process (PlatformIO runs each environment in its own), and
replaces CC, CXX, AR, RANLIB and LINK on the construction environment as well
for the other platforms' conventions. On an AArch64 machine without the
prefixed tools the machine's own gcc is used. Acts only on the native
platform; idempotent.
"""

import os
import platform
import sys

from SCons.Script import Import

Import("env")  # noqa: F821

DEFAULT_PREFIX = "aarch64-linux-gnu-"


def fail(msg):
    sys.stderr.write("Error: cross_gcc.py: %s\n" % msg)
    env.Exit(1)  # noqa: F821


def option(name, default):
    return env.GetProjectOption(name, default)  # noqa: F821


def tools():
    """CC, CXX, AR, RANLIB for this build, or None when none is usable."""
    prefix = option("custom_cross_prefix", DEFAULT_PREFIX).strip()
    if env.WhereIs(prefix + "gcc"):  # noqa: F821
        return {"CC": prefix + "gcc", "CXX": prefix + "g++", "AR": prefix + "ar",
                "RANLIB": prefix + "ranlib"}
    native = platform.machine().lower() in ("aarch64", "arm64")
    if prefix == DEFAULT_PREFIX and native and env.WhereIs("gcc"):  # noqa: F821
        return {"CC": "gcc", "CXX": "g++", "AR": "ar", "RANLIB": "ranlib"}
    return None


if env.get("PIOPLATFORM") == "native" and not env.get("LLM_CROSS_GCC"):  # noqa: F821
    found = tools()
    if not found:
        prefix = option("custom_cross_prefix", DEFAULT_PREFIX).strip()
        fail("%sgcc not found; %s" % (prefix, (
            "on Debian/Ubuntu: sudo apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross "
            "(./setup.sh installs them)" if prefix == DEFAULT_PREFIX else
            "install that toolchain or correct custom_cross_prefix")))
    os.environ.update(found)
    env.Replace(LINK=found["CC"], LLM_CROSS_GCC=found["CC"], **found)  # noqa: F821
    if str(option("custom_cross_static", "yes")).strip().lower() in ("1", "yes", "true", "on"):
        env.AppendUnique(LINKFLAGS=["-static"])  # noqa: F821
