#!/usr/bin/env python3
"""Offline step for the Cortex-M55 target (boards/mps3_an547.ini).

The arm_baremetal platform (extra_scripts/platforms/arm_baremetal) is local,
so it needs nothing from the PlatformIO registry except its toolchain package
`toolchain-gccarmnoneeabi`. Where the registry answers, `pio run` installs
that itself and this script does nothing for it. Where it does not, this
script registers the machine's own arm-none-eabi GCC (Debian/Ubuntu:
`apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi`) as a local
package: a directory with a package.json and bin/ links to the tools,
installed as `toolchain-gccarmnoneeabi@symlink://<dir>`. The platform uses
such a package whenever no registry version is installed.

It first runs extra_scripts/setup/pio_offline.py (tool-scons and the native
platform), so this one command prepares every environment:

    python extra_scripts/setup/pio_offline_arm.py
    LLM_PIO_OFFLINE=1 python extra_scripts/setup/pio_offline_arm.py   # force offline
    ARM_NONE_EABI_BIN=/opt/arm/bin python extra_scripts/setup/pio_offline_arm.py

Idempotent: a second run finds the package in place and exits at once.
pio_offline.py may also call ensure_toolchain() directly.
"""

import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pio_offline  # noqa: E402  (extra_scripts/setup/pio_offline.py)

TOOLCHAIN = "toolchain-gccarmnoneeabi"
PLATFORM_DIR = os.path.join(os.path.dirname(HERE), "platforms", "arm_baremetal")
PREFIX = "arm-none-eabi-"
MIN_GCC_MAJOR = 10  # first GCC with -mcpu=cortex-m55
# What the firmware needs from the toolchain: Cortex-M55 code generation and
# newlib (libc, libm, librdimon for semihosting) for the hard-float multilib.
PROBE_FLAGS = ["-mcpu=cortex-m55", "-mfloat-abi=hard", "-mfpu=auto", "-mthumb"]
PROBE_LIBS = ("libc.a", "libm.a", "librdimon.a")

APT_HINT = "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"


def say(msg):
    print("pio_offline_arm: " + msg, flush=True)


def die(msg):
    raise SystemExit("pio_offline_arm: error: " + msg)


def platform_requirement():
    """The toolchain version range platform.json asks the registry for."""
    with open(os.path.join(PLATFORM_DIR, "platform.json"), encoding="utf-8") as f:
        return json.load(f)["packages"][TOOLCHAIN]["version"]


def local_package_dir():
    from platformio.project.config import ProjectConfig

    core = ProjectConfig.get_instance().get("platformio", "core_dir")
    return os.path.join(core, "llm-local-packages", TOOLCHAIN)


def installed_toolchain():
    """(kind, path): kind "registry" for a registry version that satisfies the
    platform, "local" for a registered local package, or (None, None)."""
    from platformio.package.manager.tool import ToolPackageManager
    from platformio.package.meta import PackageSpec

    pm = ToolPackageManager()
    pkg = pm.get_package(PackageSpec(owner="platformio", name=TOOLCHAIN,
                                     requirements=platform_requirement()))
    if pkg:
        return "registry", pkg.path
    for pkg in pm.get_installed():
        meta = pkg.metadata
        if meta and meta.name == TOOLCHAIN and meta.spec and meta.spec.symlink:
            if os.access(os.path.join(pkg.path, "bin", PREFIX + "gcc"), os.X_OK):
                return "local", pkg.path
    return None, None


def find_system_bin():
    """Directory of the machine's arm-none-eabi-gcc (real path), or die."""
    wanted = os.environ.get("ARM_NONE_EABI_BIN", "").strip()
    gcc = os.path.join(wanted, PREFIX + "gcc") if wanted else shutil.which(PREFIX + "gcc")
    if not gcc or not os.access(gcc, os.X_OK):
        die("no %sgcc found%s. Install it: `%s` (or set ARM_NONE_EABI_BIN to its bin "
            "directory)." % (PREFIX, " in " + wanted if wanted else " on PATH", APT_HINT))
    return os.path.dirname(os.path.realpath(gcc))


def gcc_version(bin_dir):
    out = subprocess.run([os.path.join(bin_dir, PREFIX + "gcc"), "-dumpfullversion"],
                         capture_output=True, text=True, check=False).stdout.strip()
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", out)
    if not m:
        die("cannot read the version of %s/%sgcc (%r)" % (bin_dir, PREFIX, out))
    return tuple(int(x) for x in m.groups())


def check_toolchain(bin_dir, version):
    gcc = os.path.join(bin_dir, PREFIX + "gcc")
    if version[0] < MIN_GCC_MAJOR:
        die("%s is GCC %d.%d.%d; Cortex-M55 needs GCC %d or newer." % ((gcc,) + version + (MIN_GCC_MAJOR,)))
    probe = subprocess.run([gcc] + PROBE_FLAGS + ["-x", "c", "-E", "-dM", "-"], input="",
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0 or "__ARM_FEATURE_MVE" not in probe.stdout:
        die("%s cannot target Cortex-M55 with Helium: %s" % (gcc, probe.stderr.strip()))
    for lib in PROBE_LIBS:
        found = subprocess.run([gcc] + PROBE_FLAGS + ["-print-file-name=" + lib],
                               capture_output=True, text=True, check=False).stdout.strip()
        if not os.path.isabs(found):
            die("%s has no %s for the Cortex-M55 hard-float multilib (newlib missing). "
                "Install it: `%s`." % (gcc, lib, APT_HINT))


def build_package(pkg_dir, bin_dir, version):
    """package.json + bin/ links to every arm-none-eabi-* tool in bin_dir."""
    from platformio.util import get_systype

    os.makedirs(os.path.join(pkg_dir, "bin"), exist_ok=True)
    links = os.path.join(pkg_dir, "bin")
    for name in os.listdir(links):
        os.unlink(os.path.join(links, name))
    for name in sorted(os.listdir(bin_dir)):
        if name.startswith(PREFIX):
            os.symlink(os.path.join(bin_dir, name), os.path.join(links, name))
    manifest = {
        "name": TOOLCHAIN,
        # PlatformIO numbers GCC x.y.z as 1.xxyyzz.0 (12.3.1 -> 1.120301.0).
        "version": "1.%d%02d%02d.0" % version,
        "description": "The machine's own GNU Arm Embedded toolchain (GCC %d.%d.%d in %s), "
                       "registered by extra_scripts/setup/pio_offline_arm.py" % (version + (bin_dir,)),
        "keywords": ["toolchain", "build tools", "compiler", "assembler", "linker"],
        "license": "GPL-2.0-or-later",
        "system": [get_systype()],
    }
    with open(os.path.join(pkg_dir, "package.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def ensure_toolchain(online=None):
    """Make toolchain-gccarmnoneeabi resolvable. online: None = probe the registry."""
    kind, path = installed_toolchain()
    if kind:
        say("ready (%s toolchain at %s)" % (kind, path))
        return
    if online is None:
        forced = os.environ.get("LLM_PIO_OFFLINE", "")
        online = forced == "0" if forced in ("0", "1") else pio_offline.registry_reachable()
    if online:
        say("PlatformIO registry reachable: `pio run` installs %s@%s from it"
            % (TOOLCHAIN, platform_requirement()))
        return
    bin_dir = find_system_bin()
    version = gcc_version(bin_dir)
    check_toolchain(bin_dir, version)
    pkg_dir = local_package_dir()
    build_package(pkg_dir, bin_dir, version)
    say("registering GCC %d.%d.%d from %s as %s" % (version + (bin_dir, TOOLCHAIN)))
    if pio_offline.pio("pkg", "install", "-g", "-t", "%s=symlink://%s" % (TOOLCHAIN, pkg_dir)) != 0:
        die("`pio pkg install` could not register %s" % pkg_dir)
    kind, path = installed_toolchain()
    if kind != "local" or os.path.realpath(path) != os.path.realpath(pkg_dir):
        die("PlatformIO does not see the registered toolchain in %s" % pkg_dir)
    say("done: %s -> %s" % (TOOLCHAIN, pkg_dir))


def main():
    rc = pio_offline.main()
    if rc:
        return rc
    ensure_toolchain()
    return 0


if __name__ == "__main__":
    sys.exit(main())
