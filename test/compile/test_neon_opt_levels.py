"""The AArch64 NEON backend compiles at every optimisation level, for the
Armv8.0 baseline (Raspberry Pi 4's Cortex-A72: no SDOT) and with the
dot-product extension (Cortex-A76, Pi 5), with and without fused fp32
multiply-adds: its helpers are always_inline intrinsics, which -O0 must
still inline. Each kernel file is compiled with -O0, -Og, -Os, -O1, -O2 and
-O3, warnings as errors, after checking that the build's macros are the
ones asked for. Needs aarch64-linux-gnu-gcc (Debian/Ubuntu:
gcc-aarch64-linux-gnu), which the test command installs; on an AArch64
machine its own gcc."""
import platform
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEON = ROOT / "lib" / "llm" / "src" / "kernels" / "neon"
LEVELS = ["-O0", "-Og", "-Os", "-O1", "-O2", "-O3"]
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-DLLM_BACKEND=LLM_BACKEND_NEON",
         f"-I{ROOT / 'lib' / 'llm' / 'include'}", f"-I{ROOT / 'lib' / 'llm' / 'src'}"]
# name -> (machine flags, the LLM_NEON_* values they must give)
VARIANTS = {
    "armv8-a": (["-march=armv8-a"], {"LLM_NEON_DOTPROD": "0", "LLM_NEON_FMA": "0"}),
    "dotprod": (["-march=armv8.2-a+dotprod"], {"LLM_NEON_DOTPROD": "1", "LLM_NEON_FMA": "0"}),
    "dotprod-fma": (["-march=armv8.2-a+dotprod", "-DLLM_NEON_FMA=1"],
                    {"LLM_NEON_DOTPROD": "1", "LLM_NEON_FMA": "1"}),
}


def aarch64_gcc() -> str:
    found = shutil.which("aarch64-linux-gnu-gcc")
    if found:
        return found
    if platform.machine().lower() in ("aarch64", "arm64") and shutil.which("gcc"):
        return shutil.which("gcc")
    pytest.fail("aarch64-linux-gnu-gcc not found: apt-get install gcc-aarch64-linux-gnu "
                "(./test.sh installs it)", pytrace=False)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("level", LEVELS)
def test_neon_kernels_compile(level, variant, tmp_path):
    gcc = aarch64_gcc()
    machine, want = VARIANTS[variant]
    sources = sorted(NEON.glob("*.c"))
    assert len(sources) >= 5, sources
    probe = subprocess.run([gcc, *machine, *FLAGS, "-dM", "-E", "-include", "kernels/kernels.h",
                            "-x", "c", "/dev/null"], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    for name, value in want.items():
        assert f"#define {name} {value}" in probe.stdout, f"{variant}: {name} is not {value}"

    def build(src: Path):
        cmd = [gcc, level, *machine, *FLAGS, "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))]
        return src.name, subprocess.run(cmd, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(build, sources))
    failed = {name: r.stderr for name, r in results if r.returncode != 0}
    assert not failed, f"{variant} {level}: " + "\n".join(f"{n}:\n{e}" for n, e in failed.items())
