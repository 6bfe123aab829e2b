#!/usr/bin/env bash
# Install what is missing, build every environment and run all tests:
#   1. the whole suite against the host test firmware (tool tests, device
#      tests, the example programs: host and the Cortex-M55 story in QEMU;
#      the Cortex-M55 backend compiled at every optimisation level),
#   2. the device tests again on the AddressSanitizer/UBSan host build,
#   3. the device tests again on the host build of the ESP32-S3 backend (its
#      row splitting and padding, with C stand-ins for ESP-DSP),
#   4. the device tests again on the emulated Cortex-M55 (QEMU mps3-an547),
#      with the CMSIS-DSP/Helium backend and with the reference kernels.
# Exits non-zero when any step fails.
set -euo pipefail
cd "$(dirname "$0")"
source extra_scripts/bootstrap.sh
llm_bootstrap

t0=$SECONDS
env_args=(-e native -e native_test -e native_asan -e esp32s3_emu_test
          -e m55_test -e m55_test_ref -e m55_story)
llm_say "pio run ${env_args[*]}"
pio run "${env_args[@]}"
llm_say "built in $((SECONDS - t0)) s"

device_only=(--ignore=test/tools --ignore=test/examples --ignore=test/compile)

llm_say "pytest: all tests, firmware .pio/build/native_test/program"
python -m pytest test -q

llm_say "pytest: device tests, firmware .pio/build/native_asan/program (ASan + UBSan)"
python -m pytest test -q "${device_only[@]}" --llm-firmware=.pio/build/native_asan/program

llm_say "pytest: device tests, firmware .pio/build/esp32s3_emu_test/program (ESP32-S3 backend, emulated DSP)"
python -m pytest test -q "${device_only[@]}" --llm-firmware=.pio/build/esp32s3_emu_test/program

for fw in m55_test m55_test_ref; do
    llm_say "pytest: device tests on the emulated Cortex-M55, firmware .pio/build/$fw/firmware.elf"
    python -m pytest test -q "${device_only[@]}" --llm-target=qemu --llm-firmware=.pio/build/$fw/firmware.elf
done
llm_say "all tests passed in $((SECONDS - t0)) s"
