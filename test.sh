#!/usr/bin/env bash
# Install what is missing, build every host environment and run all tests:
# the whole suite on the native_test firmware, then the device tests again
# on the AddressSanitizer/UBSan build. Exits non-zero when any step fails.
set -euo pipefail
cd "$(dirname "$0")"
source extra_scripts/bootstrap.sh
llm_bootstrap
# The tests read models from LLM_MODELS_DIR; default to the download's folder.
if [ -z "${LLM_MODELS_DIR:-}" ]; then
    LLM_MODELS_DIR="$(dirname "$LLM_MODEL")"
    export LLM_MODELS_DIR
fi

t0=$SECONDS
llm_say "pio run -e native -e native_test -e native_asan"
pio run -e native -e native_test -e native_asan
llm_say "built in $((SECONDS - t0)) s"

t0=$SECONDS
llm_say "pytest: all tests, firmware .pio/build/native_test/program"
python -m pytest test -q
llm_say "pytest done in $((SECONDS - t0)) s"

# The Python-only tool tests (test/tools) do not touch the firmware.
llm_say "pytest: device tests, firmware .pio/build/native_asan/program"
python -m pytest test -q --ignore=test/tools --llm-firmware .pio/build/native_asan/program
