"""The local `arm_baremetal` platform: bare-metal Cortex-M with arm-none-eabi-gcc.

Its one package is the GCC toolchain `toolchain-gccarmnoneeabi`. Where the
PlatformIO registry is reachable, PlatformIO installs it from there as for any
platform. Where it is not, extra_scripts/setup/pio_offline_arm.py registers the
machine's own arm-none-eabi toolchain (e.g. Debian's gcc-arm-none-eabi) as a
local package (`toolchain-gccarmnoneeabi@symlink://<dir>`); this platform uses
that one whenever no registry version is installed.
"""

from platformio.exception import UserSideException
from platformio.public import PlatformBase

TOOLCHAIN = "toolchain-gccarmnoneeabi"

INSTALL_HINT = (
    "The arm-none-eabi GCC toolchain (PlatformIO package %s, GCC 10 or newer for "
    "Cortex-M55) is missing. Either let PlatformIO install it from its registry "
    "(needs a network connection), or install your system's toolchain and "
    "register it: `sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi` "
    "(Debian/Ubuntu), then `python extra_scripts/setup/pio_offline_arm.py`." % TOOLCHAIN
)


class Arm_baremetalPlatform(PlatformBase):
    def _custom_toolchain(self):
        """True when platform_packages in platformio.ini names the toolchain."""
        for item in self._custom_packages or []:
            name = item.split("@", 1)[0].strip()
            if name.split("/")[-1] == TOOLCHAIN:
                return True
        return False

    def _local_toolchain_uri(self):
        """`symlink://<dir>` of a locally registered toolchain, or None."""
        for pkg in self.pm.get_installed():
            meta = pkg.metadata
            if meta and meta.name == TOOLCHAIN and meta.spec and meta.spec.symlink:
                return meta.spec.uri
        return None

    def configure_default_packages(self, options, targets):
        if not self._custom_toolchain() and not self.get_package(TOOLCHAIN):
            local = self._local_toolchain_uri()
            if local:
                opts = self.packages[TOOLCHAIN]
                opts["version"] = local
                opts.pop("owner", None)
        return super().configure_default_packages(options, targets)

    def install_package(self, name, spec=None, force=False):
        try:
            return super().install_package(name, spec, force)
        except Exception as exc:  # registry unreachable, unknown version, ...
            if name != TOOLCHAIN:
                raise
            detail = str(exc).strip() or type(exc).__name__
            raise UserSideException("%s\n(PlatformIO: %s)" % (INSTALL_HINT, detail)) from exc
