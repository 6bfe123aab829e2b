"""The Cortex-M4F/M7/M33 backend compiles at every optimisation level a user
might pick, for each of the three cores. Its q8 mat-vec is GCC inline
assembly that needs twelve core registers (-O0 keeps a frame pointer and
falls back to the reference) and its attention names FPU registers, so each
kernel file is compiled and assembled with -O0, -Og, -Os, -O1, -O2 and -O3,
warnings as errors. Needs arm-none-eabi-gcc, which the test command installs."""
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ["-O0", "-Og", "-Os", "-O1", "-O2", "-O3"]
CM4 = ROOT / "lib" / "llm" / "src" / "kernels" / "cm4"
CPUS = {"cortex-m4": "fpv4-sp-d16", "cortex-m7": "fpv5-sp-d16", "cortex-m33": "fpv5-sp-d16"}
FLAGS = ["-mthumb", "-mfloat-abi=hard", "-std=c99", "-g", "-ffunction-sections",
         "-fdata-sections", "-Wall", "-Wextra", "-Werror",
         # Chosen by llm_config.h from the compiler's macros, no -DLLM_BACKEND.
         # matvec.c's CMSIS-DSP call needs CMSIS-DSP's headers, which the
         # PlatformIO builds bring; here the file builds its fallback.
         "-DLLM_CM4_MATVEC_CMSIS=0",
         f"-I{ROOT / 'lib' / 'llm' / 'include'}", f"-I{ROOT / 'lib' / 'llm' / 'src'}"]


def arm_gcc() -> str:
    found = shutil.which("arm-none-eabi-gcc")
    if found:
        return found
    for pkg in sorted((Path.home() / ".platformio").glob("*packages/toolchain-gccarmnoneeabi*")):
        cand = pkg / "bin" / "arm-none-eabi-gcc"
        if cand.exists():
            return str(cand)
    pytest.fail("arm-none-eabi-gcc not found: apt-get install gcc-arm-none-eabi "
                "libnewlib-arm-none-eabi (./test.sh installs it)", pytrace=False)


@pytest.mark.parametrize("cpu", sorted(CPUS))
@pytest.mark.parametrize("level", LEVELS)
def test_cm4_kernels_compile(level, cpu, tmp_path):
    gcc = arm_gcc()
    sources = sorted(CM4.glob("*.c"))
    assert len(sources) >= 7, sources
    # The backend must be the one llm_config.h picks for this core.
    probe = subprocess.run([gcc, f"-mcpu={cpu}", f"-mfpu={CPUS[cpu]}", *FLAGS, "-dM", "-E",
                            "-include", "llm_config.h", "-x", "c", "/dev/null"],
                           capture_output=True, text=True)
    assert "#define LLM_BACKEND LLM_BACKEND_CM4" in probe.stdout, probe.stderr

    def build(src: Path):
        cmd = [gcc, level, f"-mcpu={cpu}", f"-mfpu={CPUS[cpu]}", *FLAGS, "-c", str(src),
               "-o", str(tmp_path / (src.stem + ".o"))]
        return src.name, subprocess.run(cmd, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(build, sources))
    failed = {name: r.stderr for name, r in results if r.returncode != 0}
    assert not failed, f"{cpu} {level}: " + "\n".join(f"{n}:\n{e}" for n, e in failed.items())
