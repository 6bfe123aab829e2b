"""Build flags of the llm_port_posix library (its library.json extraScript).

PlatformIO runs this for every library in the lib folders, before it knows
which ones the firmware uses, so it acts only on the host (`native`)
platform, where the pool's threads need `-pthread` when compiling this
library and when linking the program (glibc before 2.34 keeps the threads in
libpthread). Cross toolchains such as arm-none-eabi-gcc reject the flag, and
there the library compiles to its single-threaded fallback. Idempotent.
"""

from SCons.Script import DefaultEnvironment, Import

Import("env")

if env.get("PIOPLATFORM") == "native":
    env.AppendUnique(CCFLAGS=["-pthread"])
    genv = DefaultEnvironment()
    if "-pthread" not in genv.get("LINKFLAGS", []):
        genv.Append(LINKFLAGS=["-pthread"])
