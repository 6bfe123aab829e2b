"""SCons script of the local `arm_baremetal` platform.

Compiles C/C++/assembly with arm-none-eabi-gcc for the board's CPU, links
`$BUILD_DIR/firmware.elf` with the linker script the board library provides
(LDSCRIPT_PATH, set by its extra script, or board_build.ldscript), prints the
memory use per region and the flash/RAM totals, and offers `-t qemu` to run
the ELF in QEMU when the board names a QEMU machine.

Machine flags (-mcpu, -mfpu, -mfloat-abi, -mthumb) come from the board
manifest (build.cpu, build.fpu, build.float_abi) and may be overridden in
build_flags; whatever the compiler finally gets, the link gets too, so the
right multilib (e.g. hard-float newlib) is always chosen.
"""

import os
import re
import shlex
import subprocess
import sys

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()

TOOLCHAIN = "toolchain-gccarmnoneeabi"
PREFIX = "arm-none-eabi-"

# ------------------------------------------------------------------ toolchain

toolchain_dir = platform.get_package_dir(TOOLCHAIN)
bin_dir = os.path.join(toolchain_dir, "bin") if toolchain_dir else None
if not bin_dir or not os.access(os.path.join(bin_dir, PREFIX + "gcc"), os.X_OK):
    where = bin_dir or "(not installed)"
    sys.stderr.write(
        "Error: no %sgcc in %s.\n"
        "The arm-none-eabi GCC toolchain is missing (GCC 10 or newer for Cortex-M55).\n"
        "Online, PlatformIO installs it from its registry; offline, install the system one\n"
        "  sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi\n"
        "and register it with\n"
        "  python extra_scripts/setup/pio_offline_arm.py\n" % (PREFIX, where)
    )
    env.Exit(1)

env.PrependENVPath("PATH", bin_dir)
env.Replace(
    AR=PREFIX + "gcc-ar",
    AS=PREFIX + "as",
    CC=PREFIX + "gcc",
    CXX=PREFIX + "g++",
    GDB=PREFIX + "gdb",
    OBJCOPY=PREFIX + "objcopy",
    OBJDUMP=PREFIX + "objdump",
    RANLIB=PREFIX + "gcc-ranlib",
    SIZETOOL=PREFIX + "size",
    ARFLAGS=["rc"],
    PROGSUFFIX=".elf",
)
if env.get("PROGNAME", "program") == "program":
    env.Replace(PROGNAME="firmware")

# ------------------------------------------------------------------ flags

MACHINE_PREFIXES = ("-mcpu=", "-march=", "-mtune=", "-mfpu=", "-mfloat-abi=")
MACHINE_FLAGS = ("-mthumb", "-marm")

machine = ["-mthumb"]
if board.get("build.cpu", ""):
    machine.append("-mcpu=%s" % board.get("build.cpu"))
if board.get("build.fpu", ""):
    machine.append("-mfpu=%s" % board.get("build.fpu"))
if board.get("build.float_abi", ""):
    machine.append("-mfloat-abi=%s" % board.get("build.float_abi"))


def link_machine_flags(target, source, env, for_signature):
    """The machine flags the compiler ended up with (board flags first, then
    build_flags, so the last one wins as it does for the compiler)."""
    return [
        f for f in env.Flatten(env.get("CCFLAGS", []))
        if isinstance(f, str) and (f.startswith(MACHINE_PREFIXES) or f in MACHINE_FLAGS)
    ]


env.Append(
    ASFLAGS=list(machine),
    ASPPFLAGS=["-x", "assembler-with-cpp"],
    CCFLAGS=machine + ["-O2", "-g", "-ffunction-sections", "-fdata-sections", "-Wall"],
    CXXFLAGS=["-fno-rtti", "-fno-exceptions"],
    LINKFLAGS=[
        "$_ARM_LINK_MACHINE_FLAGS",
        "-Wl,--gc-sections",
        "-Wl,--print-memory-usage",
        "-Wl,-Map,${BUILD_DIR}/${PROGNAME}.map",
    ],
    LIBS=["m"],
    _ARM_LINK_MACHINE_FLAGS=link_machine_flags,
)

# Assembly files get the C preprocessor and the machine flags of the compiler.
env.Replace(ASCOM="$ASPPCOM")

# ------------------------------------------------------------------ size report

# Loaded, read-only content (flash-like regions) and RAM that is zeroed or
# copied at start-up; the stack and heap are whole regions, not counted.
env.Replace(
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPROGREGEXP=(
        r"^(?:\.vectors|\.isr_vector|\.text|\.rodata|\.ARM\.extab|\.ARM\.exidx|"
        r"\.init_array|\.preinit_array|\.fini_array|\.data|\.llm_model)\s+(\d+).*"
    ),
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.isram_bss|\.big_bss|\.noinit)\s+(\d+).*",
    SIZEPRINTCMD="$SIZETOOL -A -d $SOURCES",
)

# ------------------------------------------------------------------ targets

program = env.BuildProgram()

if not env.get("LDSCRIPT_PATH") and not any(
    str(f).startswith("-Wl,-T") or str(f) == "-T" for f in env.Flatten(env["LINKFLAGS"])
):
    sys.stderr.write(
        "Error: no linker script for board %s. Add the board library that provides it "
        "(e.g. lib_deps = board_mps) or set board_build.ldscript.\n" % board.id
    )
    env.Exit(1)

AlwaysBuild(env.Alias("nobuild", program))
target_size = env.Alias("size", program, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)

qemu_machine = board.get("qemu.machine", "")
# Arguments the firmware needs beyond the machine name, kept in the ELF by the
# board library as "llm-qemu-args=<args>" (the MPS2 AN521's: core 0 with an
# FPU and the DSP extension, lib/board_mps/src/cores.c).
QEMU_ARGS_MARK = re.compile(rb"llm-qemu-args=([ -~]*)\x00")


def run_in_qemu(target, source, env):
    with open(str(source[0]), "rb") as f:
        mark = QEMU_ARGS_MARK.search(f.read())
    cmd = ["qemu-system-arm", "-M", qemu_machine]
    cmd += shlex.split(mark.group(1).decode()) if mark else []
    cmd += ["-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
            "-kernel", str(source[0])]
    print(" ".join(shlex.quote(c) for c in cmd))
    return subprocess.call(cmd)


if qemu_machine:
    env.AddPlatformTarget(
        "qemu",
        program,
        env.VerboseAction(run_in_qemu, "Running $SOURCE in QEMU (%s)" % qemu_machine),
        "Run in QEMU",
        "Run the firmware in qemu-system-arm -M %s with semihosting" % qemu_machine,
    )

Default([env.Alias("buildprog", program), target_size])
