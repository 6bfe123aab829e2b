"""The local `native` platform: host builds need no toolchain package."""

from platformio.public import PlatformBase


class NativePlatform(PlatformBase):
    """Everything comes from PlatformBase; builder/main.py does the work."""
