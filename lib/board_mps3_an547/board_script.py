"""Link settings of the board_mps3_an547 library (its library.json extraScript).

PlatformIO runs this for every library in the lib folders, before it knows
which ones the firmware uses, so it acts only when building for the
mps3_an547 board on the arm_baremetal platform. It gives the final link
(the global environment) what this library's start-up code needs:
  * its linker script, unless the project set board_build.ldscript;
  * newlib's semihosting libraries (--specs=rdimon.specs) without rdimon's
    own start-up files (-nostartfiles): src/startup.c replaces them.
Idempotent: running twice adds nothing twice.
"""

import os

from SCons.Script import DefaultEnvironment, Import

Import("env", "pio_lib_builder")

BOARD = "mps3_an547"
LINK_FLAGS = ["--specs=rdimon.specs", "-nostartfiles"]

if env.get("PIOPLATFORM") == "arm_baremetal" and env.get("BOARD") == BOARD:
    genv = DefaultEnvironment()
    if not env.GetProjectOption("board_build.ldscript", ""):
        genv.Replace(LDSCRIPT_PATH=os.path.join(pio_lib_builder.path, "ld", "mps3_an547.ld"))
    flags = genv.get("LINKFLAGS", [])
    genv.Append(LINKFLAGS=[f for f in LINK_FLAGS if f not in flags])
