#!/usr/bin/env bash
# Install what is missing, build every environment and run all tests:
#   1. the whole suite against the host test firmware (tool tests, device
#      tests, the example programs: host and the Cortex-M55 story in QEMU),
#   2. the device tests again on the AddressSanitizer/UBSan host build,
#   3. the device tests again on the emulated Cortex-M55 (QEMU mps3-an547).
# Exits non-zero when any step fails.
set -euo pipefail
cd "$(dirname "$0")"
source extra_scripts/bootstrap.sh
llm_bootstrap

t0=$SECONDS
llm_say "pio run -e native -e native_test -e native_asan -e m55_test -e m55_story"
pio run -e native -e native_test -e native_asan -e m55_test -e m55_story
llm_say "built in $((SECONDS - t0)) s"

device_only=(--ignore=test/tools --ignore=test/examples)

llm_say "pytest: all tests, firmware .pio/build/native_test/program"
python -m pytest test -q

llm_say "pytest: device tests, firmware .pio/build/native_asan/program (ASan + UBSan)"
python -m pytest test -q "${device_only[@]}" --llm-firmware=.pio/build/native_asan/program

llm_say "pytest: device tests on the emulated Cortex-M55, firmware .pio/build/m55_test/firmware.elf"
python -m pytest test -q "${device_only[@]}" --llm-target=qemu --llm-firmware=.pio/build/m55_test/firmware.elf
llm_say "all tests passed in $((SECONDS - t0)) s"
