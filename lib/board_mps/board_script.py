"""The board_mps library's extraScript (library.json): its link settings
(board_link.py) for the final link.

PlatformIO runs this for every library in the lib folders, before it knows
which ones the firmware uses, so it acts only when building for one of the
boards board_link.BOARDS names on the arm_baremetal platform.
"""

import os
import sys

from SCons.Script import DefaultEnvironment, Import

Import("env", "pio_lib_builder")

if pio_lib_builder.path not in sys.path:
    sys.path.insert(0, pio_lib_builder.path)

import board_link  # noqa: E402

if board_link.wanted(env.get("PIOPLATFORM", ""), env.get("BOARD", "")):
    board_link.apply(DefaultEnvironment(), env["BOARD"],
                     env.GetProjectOption("board_build.ldscript", ""))
