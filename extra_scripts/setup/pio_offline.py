#!/usr/bin/env python3
"""Make `pio run` work on a machine that cannot reach the PlatformIO registry.

PlatformIO needs two things from its registry before it can build anything:
its core package `tool-scons` (SCons 4.11.1 as version ~4.41101.0) and the
project's platform (`platform = native`). Where the registry answers, this
script only makes sure tool-scons is installed, the normal way, and leaves
everything else to PlatformIO. Where it does not:

  * tool-scons is built from PyPI's `scons==4.11.1` wheel (or sdist): the
    SCons package, a small `scons.py` launcher, a `package.json` and a
    `.piopm` whose spec owner is `platformio`, so PlatformIO takes it for its
    own core package;
  * our own minimal platform in extra_scripts/platforms/native (named
    "native") is installed globally as a symlink
    (`pio pkg install -g -p symlink://<dir>`), so `platform = native`
    resolves to it without asking the registry;
  * the telemetry and the weekly upgrade check, which would only time out,
    are switched off.

Idempotent: a second run finds everything in place and exits in about a
second. Run it with the Python that has PlatformIO installed (the venv's):

    python extra_scripts/setup/pio_offline.py            # detect the registry
    LLM_PIO_OFFLINE=1 python extra_scripts/setup/pio_offline.py   # force offline
    LLM_PIO_OFFLINE=0 ...                          # force the online path
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile

SCONS_PYPI_VERSION = "4.11.1"
SCONS_PIO_VERSION = "4.41101.0"  # PlatformIO's number for SCons 4.11.1
SCONS_PIO_SPEC = "platformio/tool-scons@~" + SCONS_PIO_VERSION
REGISTRY_PROBE_URL = "https://api.registry.platformio.org/v3/packages/platformio/tool/tool-scons"
PROBE_TIMEOUT_S = 5.0

HERE = os.path.dirname(os.path.abspath(__file__))
LOCAL_PLATFORM_DIR = os.path.join(os.path.dirname(HERE), "platforms", "native")

# Runs SCons from the package next to it; PlatformIO calls `python scons.py`.
SCONS_LAUNCHER = '''\
"""SCons entry point for PlatformIO: runs the SCons package next to this file."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from SCons.Script.Main import main  # noqa: E402

if __name__ == "__main__":
    main()
'''


def say(msg):
    print("pio_offline: " + msg, flush=True)


def registry_reachable(timeout=PROBE_TIMEOUT_S):
    """True when the registry answers at all (any HTTP status), within timeout.

    Name resolution ignores urllib's timeout, so the probe runs in a thread
    that is abandoned when it takes too long."""
    result = {"ok": False}

    def probe():
        try:
            urllib.request.urlopen(REGISTRY_PROBE_URL, timeout=timeout).close()
            result["ok"] = True
        except urllib.error.HTTPError:
            result["ok"] = True  # the server answered, just not with 200
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 1.0)
    return result["ok"]


def pio(*args):
    """Run the PlatformIO CLI of this Python; returns its exit code."""
    return subprocess.call([sys.executable, "-m", "platformio"] + list(args))


def scons_installed():
    from platformio.package.manager.core import get_core_package_dir

    return get_core_package_dir("tool-scons", auto_install=False)


def find_scons_package(root):
    """Directory named SCons with SCons/Script/Main.py under root, or None."""
    for dirpath, dirnames, _ in os.walk(root):
        if os.path.basename(dirpath) == "SCons" and os.path.isfile(
            os.path.join(dirpath, "Script", "Main.py")
        ):
            return dirpath
        dirnames.sort()
    return None


def download_scons(dest):
    """Fetch scons from PyPI into dest and return the unpacked SCons dir."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", "-d", dest, "scons==" + SCONS_PYPI_VERSION]
    if subprocess.call(pip[:4] + ["--only-binary", ":all:"] + pip[4:]) != 0:
        say("no scons wheel; trying the sdist")
        if subprocess.call(pip[:4] + ["--no-binary", ":all:", "--no-build-isolation"] + pip[4:]) != 0:
            raise SystemExit("pio_offline: error: pip could not download scons==" + SCONS_PYPI_VERSION)
    unpacked = os.path.join(dest, "unpacked")
    for name in sorted(os.listdir(dest)):
        path = os.path.join(dest, name)
        if name.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                zf.extractall(unpacked)
        elif name.endswith((".tar.gz", ".zip")):
            shutil.unpack_archive(path, unpacked)
    pkg = find_scons_package(unpacked)
    if not pkg:
        raise SystemExit("pio_offline: error: no SCons package inside the scons download")
    return pkg


def build_scons_package(packages_dir):
    """Install tool-scons into packages_dir from PyPI, atomically."""
    os.makedirs(packages_dir, exist_ok=True)
    final = os.path.join(packages_dir, "tool-scons")
    with tempfile.TemporaryDirectory(prefix="_tmp_llm_scons", dir=packages_dir) as tmp:
        scons_src = download_scons(os.path.join(tmp, "download"))
        pkg = os.path.join(tmp, "tool-scons")
        shutil.copytree(scons_src, os.path.join(pkg, "SCons"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        with open(os.path.join(pkg, "scons.py"), "w", encoding="utf-8") as f:
            f.write(SCONS_LAUNCHER)
        manifest = {
            "name": "tool-scons",
            "version": SCONS_PIO_VERSION,
            "description": "SCons %s, unpacked from PyPI's scons package" % SCONS_PYPI_VERSION,
            "keywords": ["build tools"],
            "homepage": "https://scons.org",
            "license": "MIT",
        }
        with open(os.path.join(pkg, "package.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
        # The spec owner must be "platformio": core packages are looked up
        # as platformio/tool-scons.
        meta = {
            "type": "tool",
            "name": "tool-scons",
            "version": SCONS_PIO_VERSION,
            "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                     "requirements": "~" + SCONS_PIO_VERSION, "uri": None},
        }
        with open(os.path.join(pkg, ".piopm"), "w", encoding="utf-8") as f:
            json.dump(meta, f)
        if os.path.isdir(final):
            shutil.rmtree(final)  # an incompatible leftover, e.g. another version
        os.rename(pkg, final)
    say("built tool-scons %s from PyPI scons==%s in %s" % (SCONS_PIO_VERSION, SCONS_PYPI_VERSION, final))


def ensure_scons(online):
    if scons_installed():
        return
    from platformio.package.manager.tool import ToolPackageManager

    if online:
        say("installing %s from the PlatformIO registry" % SCONS_PIO_SPEC)
        if pio("pkg", "install", "-g", "-t", SCONS_PIO_SPEC) == 0 and scons_installed():
            return
        say("registry install failed; building tool-scons from PyPI instead")
    build_scons_package(ToolPackageManager().package_dir)
    if not scons_installed():
        raise SystemExit("pio_offline: error: PlatformIO does not see the tool-scons just built")


def installed_native():
    """(path of the installed `native` platform, whether it is a symlink) or (None, False)."""
    from platformio.package.manager.platform import PlatformPackageManager

    pm = PlatformPackageManager()
    pkg = pm.get_package("native")
    if not pkg:
        return None, False
    linked = os.path.isfile(os.path.join(pm.package_dir, "native.pio-link"))
    return pkg.path, linked


def ensure_local_platform():
    """Point the global `native` platform at our local one (offline only)."""
    path, linked = installed_native()
    ours = os.path.realpath(LOCAL_PLATFORM_DIR)
    if path and os.path.realpath(path) == ours:
        return
    if path and not linked:
        # A real copy, e.g. the registry's platform-native from an earlier
        # online run: it works offline too, so leave it.
        say("using the installed native platform at %s" % path)
        return
    say("installing the local native platform from %s" % ours)
    if pio("pkg", "install", "-g", "-p", "symlink://" + ours) != 0:
        raise SystemExit("pio_offline: error: could not install the local native platform")
    path, _ = installed_native()
    if not path or os.path.realpath(path) != ours:
        raise SystemExit("pio_offline: error: `platform = native` does not resolve to %s" % ours)


def quiet_network_checks():
    """Settings that stop PlatformIO from calling home on every command."""
    from platformio import app

    wanted = {"enable_telemetry": False, "check_platformio_interval": 3650}
    for name, value in wanted.items():
        if app.get_setting(name) != value:
            app.set_setting(name, value)
            say("set PlatformIO setting %s = %s" % (name, value))


def main():
    try:
        import platformio  # noqa: F401
    except ImportError:
        raise SystemExit("pio_offline: error: PlatformIO is not installed for %s" % sys.executable)

    forced = os.environ.get("LLM_PIO_OFFLINE", "")
    path, linked = installed_native()
    ready = scons_installed() and path and (
        not linked or os.path.realpath(path) == os.path.realpath(LOCAL_PLATFORM_DIR))
    if ready and forced != "0":
        say("ready (tool-scons and the native platform are installed)")
        return 0

    if forced in ("0", "1"):
        online = forced == "0"
    else:
        online = registry_reachable()
    say("PlatformIO registry %s" % ("reachable: online path" if online else "unreachable: offline path"))
    ensure_scons(online)
    if not online:
        ensure_local_platform()
        quiet_network_checks()
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
