"""Link settings of the board_mps2 library (its library.json extraScript).

PlatformIO runs this for every library in the lib folders, before it knows
which ones the firmware uses, so it acts only when building for one of the
MPS2 boards below on the arm_baremetal platform. It gives the final link
(the global environment) what this library's start-up code needs:
  * the board's linker script ld/<board>.ld (its memory map), which INCLUDEs
    the sections shared by the family (ld/mps2_sections.ld, found through
    -L ld), unless the project set board_build.ldscript;
  * a dependency of the firmware on those scripts, so that editing one
    relinks (SCons does not scan linker scripts);
  * newlib's semihosting libraries (--specs=rdimon.specs) without rdimon's
    own start-up files (-nostartfiles): src/startup.c replaces them.
Idempotent: running twice adds nothing twice.
"""

import os

from SCons.Script import DefaultEnvironment, Import

Import("env", "pio_lib_builder")

BOARDS = ("mps2_an386", "mps2_an500", "mps2_an505", "mps2_an521")

if env.get("PIOPLATFORM") == "arm_baremetal" and env.get("BOARD") in BOARDS:
    genv = DefaultEnvironment()
    ld_dir = os.path.join(pio_lib_builder.path, "ld")
    if not env.GetProjectOption("board_build.ldscript", ""):
        genv.Replace(LDSCRIPT_PATH=os.path.join(ld_dir, env["BOARD"] + ".ld"))
    genv.Depends(os.path.join("$BUILD_DIR", "${PROGNAME}${PROGSUFFIX}"),
                 [os.path.join(ld_dir, f) for f in sorted(os.listdir(ld_dir)) if f.endswith(".ld")])
    flags = genv.get("LINKFLAGS", [])
    wanted = ["--specs=rdimon.specs", "-nostartfiles", "-L" + ld_dir]
    genv.Append(LINKFLAGS=[f for f in wanted if f not in flags])
