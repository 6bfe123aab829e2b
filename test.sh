#!/usr/bin/env bash
# Install what is missing, build every environment and run all tests, in
# passes that run two at a time:
#   1. the whole suite against the host test firmware (tool tests, device
#      tests, the example programs and stories, in QEMU for the boards; the
#      consumer projects: PlatformIO on the packed library, ESP-IDF with this
#      checkout as a component; the backends compiled at every optimisation
#      level),
#   2. the device tests again on the AddressSanitizer/UBSan host build
#      (reference kernels), and the kernel, forward, generation and thread
#      tests on the x86-64 backend's host build (x86-64 machines; its kernel
#      tests also with the reference fallback forced),
#   3. the device tests again on the emulated ESP32-S3 (Espressif's QEMU,
#      -M esp32s3): the board's own test firmware, built by ESP-IDF's CMake
#      with the Xtensa toolchain, ESP-DSP and our PIE kernels, its files sent
#      over the emulated UART as to a board (the ESP32-S3 story images,
#      built here too, run in pass 1 with the other examples),
#   4. the device tests again on the emulated Cortex-M55 (QEMU mps3-an547),
#      with the CMSIS-DSP/Helium backend and with the reference kernels,
#   5. and on the emulated MPS2 boards (QEMU mps2-an386 Cortex-M4F, -an500
#      Cortex-M7, -an505 Cortex-M33, -an521 two Cortex-M33, both used) with
#      the cm4 backend (their story images run in pass 1 with the other
#      examples),
#   6. and on the AArch64 (Raspberry Pi class) host build with the NEON
#      backend, cross-compiled and run under qemu-user (qemu-aarch64), and
#      the kernel and greedy-text tests on its variant with SDOT and fused
#      fp32 multiply-adds.
# The ESP32-S3 tools come from $LLM_ESP32S3_TOOLS (default ../shared/esp32s3;
# extra_scripts/setup/esp32s3_tools.py): without them the run fails, unless
# LLM_SKIP_ESP32S3=1 says to leave the ESP32-S3 out.
# Exits non-zero when any step fails.
set -euo pipefail
cd "$(dirname "$0")"
source extra_scripts/setup/bootstrap.sh
llm_bootstrap test

t0=$SECONDS
mps2_tests=(m4_test m7_test m33_test m33x2_test m4_test_ref)
env_args=(-e native -e native_ref -e native_test -e native_asan -e native_tsan -e m55_test -e m55_test_ref
    -e m55_story -e m4_story -e m7_story -e m33_story -e m33x2_story
    -e native_aarch64 -e native_test_aarch64 -e native_test_aarch64_dotprod)
for e in "${mps2_tests[@]}"; do env_args+=(-e "$e"); done
if [ "$(uname -m)" = x86_64 ]; then env_args+=(-e native_test_x86); fi
llm_say "pio run ${env_args[*]}"
pio run "${env_args[@]}"

esp_envs=(esp32s3_test_qemu esp32s3_story_qemu esp32s3_story_q8_qemu esp32s3_story_n4r2_qemu esp32s3_chat
    esp32s3_chat_qemu)
if [ "$LLM_HAVE_ESP32S3" = 1 ]; then
    llm_say "ESP-IDF builds (extra_scripts/build/esp32s3_idf.py): ${esp_envs[*]}"
    python extra_scripts/build/esp32s3_idf.py build "${esp_envs[@]}" >.pio/idf-build.log 2>&1 ||
        { tail -n 60 .pio/idf-build.log; llm_die "ESP-IDF build failed (log: .pio/idf-build.log)"; }
elif [ "${LLM_SKIP_ESP32S3:-0}" != 1 ]; then
    llm_die "the ESP32-S3 tools are missing: $(python extra_scripts/setup/esp32s3_tools.py --check 2>&1 | tail -n1) (or LLM_SKIP_ESP32S3=1 to leave the ESP32-S3 out)"
fi
llm_say "built in $((SECONDS - t0)) s"

device_only="--ignore=test/tools --ignore=test/examples --ignore=test/compile"

skip_esp=""
[ "$LLM_HAVE_ESP32S3" = 1 ] || skip_esp="--ignore=test/examples/test_esp32s3_story.py --ignore=test/examples/test_esp32s3_chat.py --ignore=test/examples/test_idf_component.py"

# Every pass is independent: two at a time on this 2-core budget (each is
# mostly one process: pytest's firmware, a QEMU or qemu-user; the next
# starts as soon as one ends), each into its own log, printed when it ends.
# Longest first: the ESP32-S3's (files over the emulated UART), then the
# whole suite. "title|pytest arguments" (no spaces inside an argument).
passes=()
if [ "$LLM_HAVE_ESP32S3" = 1 ]; then
    passes+=("device tests on the emulated ESP32-S3, firmware .pio/idf/esp32s3_test_qemu/flash.bin|test $device_only --llm-target=esp32s3-qemu --llm-firmware=.pio/idf/esp32s3_test_qemu/flash.bin")
fi
passes+=("all tests, firmware .pio/build/native_test/program|test $skip_esp")
passes+=("device tests, firmware .pio/build/native_asan/program (ASan + UBSan)|test $device_only --llm-firmware=.pio/build/native_asan/program")
# The thread pool's lock-free hand-out under ThreadSanitizer: the first
# data race ends the firmware, so the test in progress fails.
export TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}"
passes+=("thread tests, firmware .pio/build/native_tsan/program (ThreadSanitizer)|test/test_parallel.py --llm-firmware=.pio/build/native_tsan/program")
# The x86-64 backend (AVX2 + FMA where the CPU has them) differs from the
# reference build only in its kernels: the tests that run them (kernels,
# forward passes, generation, threads, the KV shift), then the kernel tests
# again with its fallback forced (the reference path a CPU without AVX2 takes).
if [ "$(uname -m)" = x86_64 ]; then
    passes+=("kernel, forward, generation and thread tests, firmware .pio/build/native_test_x86/program (x86-64 backend)|test/test_kernels.py test/test_quant_kernels.py test/test_forward.py test/test_quant_forward.py test/test_generate.py test/test_parallel.py test/test_context_shift.py --llm-firmware=.pio/build/native_test_x86/program")
    passes+=("kernel tests, x86-64 backend with its reference fallback forced (--llm-simd=off)|test/test_kernels.py test/test_quant_kernels.py --llm-simd=off --llm-firmware=.pio/build/native_test_x86/program")
fi
# The reference kernels run on the host, under ASan, and on the M55 in
# m55_test_ref; m4_test_ref (the same C for the Cortex-M4F) is built, not run.
for fw in m55_test m55_test_ref m4_test m7_test m33_test m33x2_test; do
    passes+=("device tests on the emulated board, firmware .pio/build/$fw/firmware.elf|test $device_only --llm-target=qemu --llm-firmware=.pio/build/$fw/firmware.elf")
done
# The host target runs an AArch64 firmware under qemu-aarch64 (helpers/targets.py).
# The SDOT + fused build differs from the default one only in its kernels:
# it runs the kernel tests and the greedy-text tests, not the whole suite.
passes+=("device tests on the AArch64 NEON build under qemu-user, firmware .pio/build/native_test_aarch64/program|test $device_only --llm-firmware=.pio/build/native_test_aarch64/program")
passes+=("kernel and greedy-text tests on the AArch64 NEON build with SDOT and fused fp32 under qemu-user, firmware .pio/build/native_test_aarch64_dotprod/program|test/test_kernels.py test/test_quant_kernels.py test/test_generate.py test/test_quant_forward.py --llm-firmware=.pio/build/native_test_aarch64_dotprod/program")
run_pass() {  # "title|pytest arguments" log
    local title args
    IFS='|' read -r title args <<<"$1"
    read -r -a args <<<"$args"
    { echo "==> pytest: $title"; python -m pytest -q "${args[@]}"; } >"$2" 2>&1
}
failed=0
declare -A running=()  # pid -> pass index
finish_one() {
    local pid
    wait -n -p pid "${!running[@]}" || failed=1
    cat ".pio/test-pass-${running[$pid]}.log"
    unset "running[$pid]"
}
for ((i = 0; i < ${#passes[@]}; i++)); do
    [ "${#running[@]}" -lt 2 ] || finish_one
    run_pass "${passes[$i]}" ".pio/test-pass-$i.log" &
    running[$!]=$i
done
while [ "${#running[@]}" -gt 0 ]; do finish_one; done
[ "$failed" = 0 ] || llm_die "a device-test pass failed (see above)"
llm_say "all tests passed in $((SECONDS - t0)) s"
