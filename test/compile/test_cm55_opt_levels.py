"""The Cortex-M55 backend compiles at every optimisation level a user might
pick. Its q8/q4 mat-vecs are GCC inline assembly whose register needs and
literal-pool distances depend on the level (-O0 keeps a frame pointer, and
GCC does not count what .rept expands to), so each kernel file is compiled
and assembled with -O0, -Og, -Os, -O1, -O2 and -O3, warnings as errors.
Needs arm-none-eabi-gcc (Debian/Ubuntu: gcc-arm-none-eabi), which the test
command installs."""
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CM55 = ROOT / "lib" / "llm" / "src" / "kernels" / "cm55"
LEVELS = ["-O0", "-Og", "-Os", "-O1", "-O2", "-O3"]
FLAGS = ["-mthumb", "-mcpu=cortex-m55", "-mfloat-abi=hard", "-mfpu=auto", "-std=c99", "-g",
         "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror",
         "-DLLM_BACKEND=LLM_BACKEND_CM55",
         # matvec.c's CMSIS-DSP call needs CMSIS-DSP's headers; its own
         # Helium fallback is what this build checks.
         "-DLLM_CM55_MATVEC_CMSIS=0",
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


@pytest.mark.parametrize("level", LEVELS)
def test_cm55_kernels_compile(level, tmp_path):
    gcc = arm_gcc()
    sources = sorted(CM55.glob("*.c"))
    assert len(sources) >= 10, sources

    def build(src: Path):
        cmd = [gcc, level, *FLAGS, "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))]
        return src.name, subprocess.run(cmd, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(build, sources))
    failed = {name: r.stderr for name, r in results if r.returncode != 0}
    assert not failed, f"{level}: " + "\n".join(f"{n}:\n{e}" for n, e in failed.items())
