"""SCons script of the local `native` platform.

Compiles the project with the host's C compiler (CC / CXX from the
environment, else gcc / g++, else cc / c++) and links `$BUILD_DIR/program`.
Flags, source filters and library dependencies are handled by PlatformIO's
core builder (env.BuildProgram), as on any other platform.
"""

import os
import sys

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()


def find_tool(var, candidates):
    """First usable compiler: $var if set (it may carry arguments), else the
    first of candidates on PATH; None when there is none."""
    wanted = os.environ.get(var, "").strip()
    if wanted:
        exe = wanted.split()[0]
        return wanted if (os.path.isabs(exe) and os.access(exe, os.X_OK)) or env.WhereIs(exe) else None
    for name in candidates:
        if env.WhereIs(name):
            return name
    return None


cc = find_tool("CC", ("gcc", "cc"))
if not cc:
    sys.stderr.write(
        "Error: no C compiler found (looked for %s). Install one, e.g. "
        "`sudo apt-get install build-essential`, or set CC.\n"
        % (os.environ.get("CC") or "gcc, cc")
    )
    env.Exit(1)
# C++ is optional: only a project with C++ sources needs it.
cxx = find_tool("CXX", ("g++", "c++")) or "g++"

env.Replace(CC=cc, CXX=cxx, AR=os.environ.get("AR", "ar"), RANLIB=os.environ.get("RANLIB", "ranlib"))

program = env.BuildProgram()
AlwaysBuild(env.Alias("nobuild", program))
Default([env.Alias("buildprog", program)])
