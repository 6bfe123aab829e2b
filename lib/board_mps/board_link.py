"""Link settings of the board_mps library, shared by its own extraScript
(board_script.py, when a project has board_mps in lib_deps) and by the
packaged library's (extra_scripts/build/library_extra_script.py, which compiles
these sources itself in a consumer project).

For one of BOARDS on the arm_baremetal platform the final link (the global
environment) gets:
  * the board's linker script ld/<board>.ld (its memory map), which INCLUDEs
    the sections shared by the family (ld/mps_sections.ld, found through
    -L ld), unless the project set board_build.ldscript;
  * a dependency of the firmware on those scripts, so that editing one
    relinks (SCons does not scan linker scripts);
  * newlib's semihosting libraries (--specs=rdimon.specs) without rdimon's
    own start-up files (-nostartfiles): src/startup.c replaces them.
Idempotent: applying twice adds nothing twice.
"""

import os

BOARDS = ("mps2_an386", "mps2_an500", "mps2_an505", "mps2_an521", "mps3_an547")
LD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ld")


def wanted(platform: str, board: str) -> bool:
    return platform == "arm_baremetal" and board in BOARDS


def apply(genv, board: str, project_ldscript: str) -> None:
    if not project_ldscript:
        genv.Replace(LDSCRIPT_PATH=os.path.join(LD_DIR, board + ".ld"))
    genv.Depends(os.path.join("$BUILD_DIR", "${PROGNAME}${PROGSUFFIX}"),
                 [os.path.join(LD_DIR, f) for f in sorted(os.listdir(LD_DIR)) if f.endswith(".ld")])
    flags = genv.get("LINKFLAGS", [])
    genv.Append(LINKFLAGS=[f for f in ("--specs=rdimon.specs", "-nostartfiles", "-L" + LD_DIR)
                           if f not in flags])
