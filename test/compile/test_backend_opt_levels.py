"""The Arm backends compile at every optimisation level a user might pick,
for each core they serve. Their kernels are partly GCC inline assembly whose
register needs and literal-pool distances depend on the level (-O0 keeps a
frame pointer, GCC does not count what .rept expands to, the cm4 q8 mat-vec
needs twelve core registers and falls back to the reference at -O0, the
attention kernels name FPU registers), so each kernel file of the backend is
compiled and assembled with -O0, -Og, -Os, -O1, -O2 and -O3, warnings as
errors, after checking that llm_config.h picks that backend from the
compiler's own macros. Needs arm-none-eabi-gcc (Debian/Ubuntu:
gcc-arm-none-eabi), which the test command installs."""
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "lib" / "llm" / "src" / "kernels"
LEVELS = ["-O0", "-Og", "-Os", "-O1", "-O2", "-O3"]
FLAGS = ["-mthumb", "-mfloat-abi=hard", "-std=c99", "-g", "-ffunction-sections",
         "-fdata-sections", "-Wall", "-Wextra", "-Werror",
         # matvec.c's CMSIS-DSP call needs CMSIS-DSP's headers, which the
         # PlatformIO builds bring; here each backend builds its own fallback.
         "-DLLM_CM55_MATVEC_CMSIS=0", "-DLLM_CM4_MATVEC_CMSIS=0",
         f"-I{ROOT / 'lib' / 'llm' / 'include'}", f"-I{ROOT / 'lib' / 'llm' / 'src'}"]


class Target:
    def __init__(self, cpu: str, fpu: str, backend: str, min_sources: int):
        self.cpu, self.fpu, self.backend, self.min_sources = cpu, fpu, backend, min_sources

    def flags(self) -> list:
        return [f"-mcpu={self.cpu}", f"-mfpu={self.fpu}", *FLAGS]


TARGETS = {t.cpu: t for t in [
    Target("cortex-m55", "auto", "cm55", 10),  # Helium
    Target("cortex-m4", "fpv4-sp-d16", "cm4", 8),
    Target("cortex-m7", "fpv5-sp-d16", "cm4", 8),
    Target("cortex-m33", "fpv5-sp-d16", "cm4", 8),
]}


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


@pytest.mark.parametrize("cpu", list(TARGETS))
@pytest.mark.parametrize("level", LEVELS)
def test_backend_kernels_compile(level, cpu, tmp_path):
    gcc, t = arm_gcc(), TARGETS[cpu]
    sources = sorted((KERNELS / t.backend).glob("*.c"))
    assert len(sources) >= t.min_sources, sources
    probe = subprocess.run([gcc, *t.flags(), "-dM", "-E", "-include", "llm_config.h", "-x", "c",
                            "/dev/null"], capture_output=True, text=True)
    want = f"#define LLM_BACKEND LLM_BACKEND_{t.backend.upper()}"
    assert want in probe.stdout, probe.stderr or f"{cpu}: llm_config.h does not pick {t.backend}"

    def build(src: Path):
        cmd = [gcc, level, *t.flags(), "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))]
        return src.name, subprocess.run(cmd, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(build, sources))
    failed = {name: r.stderr for name, r in results if r.returncode != 0}
    assert not failed, f"{cpu} {level}: " + "\n".join(f"{n}:\n{e}" for n, e in failed.items())
