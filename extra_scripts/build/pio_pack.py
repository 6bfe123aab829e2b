#!/usr/bin/env python3
"""`pio pkg pack` of this library, also where the SPDX licence list cannot
be downloaded:

    python extra_scripts/build/pio_pack.py [-o DIR_OR_FILE]     # llm-mcu-<version>.tar.gz

Why `pio pkg pack` needs the network: it validates library.json with
PlatformIO's ManifestSchema, whose `license` validator checks the value
against the SPDX licence list, which it downloads from GitHub
(license-list-data, licenses.json) every time a manifest with a licence is
validated (its cache lives in memory only). Offline that download fails and
so does the pack: "Could not load SPDX licenses for validation".

This runs PlatformIO's own pack command with one change: when that download
fails, the list comes from the SPDX licence keys that the PyPI package
license-expression ships (its ScanCode LicenseDB index). The licence field
stays, and is still checked against the SPDX identifiers.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def say(msg):
    print("pio_pack: " + msg, flush=True)


def local_spdx_licenses():
    """{"licenses": [{"licenseId": id}, ...]} in the shape of SPDX's licenses.json."""
    try:
        import license_expression
    except ImportError:
        raise SystemExit("pio_pack: error: the SPDX licence list could not be downloaded and the "
                         "offline one needs license-expression (pip install license-expression)")
    index = os.path.join(os.path.dirname(license_expression.__file__), "data",
                         "scancode-licensedb-index.json")
    with open(index, encoding="utf-8") as f:
        entries = json.load(f)
    ids = set()
    for e in entries:
        if e.get("is_exception"):
            continue
        for key in [e.get("spdx_license_key")] + list(e.get("other_spdx_license_keys") or []):
            if key and not key.startswith("LicenseRef-"):
                ids.add(key)
    return {"licenses": [{"licenseId": i} for i in sorted(ids)]}


def use_local_list_when_offline():
    import requests
    from platformio.package.manifest.schema import ManifestSchema

    download = ManifestSchema.load_spdx_licenses
    cached = {}

    def load_spdx_licenses():
        if "list" not in cached:
            try:
                cached["list"] = download()
            except requests.exceptions.RequestException:
                say("SPDX licence list not reachable: using license-expression's")
                cached["list"] = local_spdx_licenses()
        return cached["list"]

    ManifestSchema.load_spdx_licenses = staticmethod(load_spdx_licenses)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", default=os.getcwd(), help="folder or file name of the tarball")
    a = p.parse_args(argv)
    use_local_list_when_offline()
    from platformio.package.commands.pack import package_pack_cmd

    return package_pack_cmd.main(args=[ROOT, "-o", a.output], prog_name="pio pkg pack",
                                 standalone_mode=False) or 0


if __name__ == "__main__":
    sys.exit(main())
