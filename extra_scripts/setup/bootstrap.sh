# Shared install steps of setup.sh and test.sh; source it, then call
# llm_bootstrap. Needs bash with `set -euo pipefail` in the caller.
#
# llm_bootstrap [test], each step skipped when already done:
#   1. apt-get: a C compiler, Python's venv/pip, the Arm GCC and QEMU for the
#      emulated Cortex-M55, the AArch64 cross GCC and qemu-user, CMake and Ninja for ESP-IDF, the runtime libraries
#      of Espressif's QEMU; only what is missing
#   2. .venv with extra_scripts/setup/requirements.txt and llmtools (editable);
#      with `test` also requirements-test.txt (torch from PyTorch's CPU index,
#      transformers, sentencepiece: only the tests use them, about 900 MB)
#   3. PlatformIO's offline path (extra_scripts/setup/pio_offline_arm.py, which runs
#      pio_offline.py too): tool-scons, the native platform, the Arm toolchain
#   4. the ESP32-S3 tools (Xtensa GCC, ESP-IDF, ESP-DSP, Espressif's QEMU),
#      unpacked from $LLM_ESP32S3_TOOLS (default ../shared/esp32s3) into
#      ~/.cache/llm-mcu/esp32s3 when that folder exists
#      (extra_scripts/setup/esp32s3_tools.py); LLM_HAVE_ESP32S3=1 afterwards
#   5. the default model (python -m llmtools download; honours LLM_MODELS_DIR)
# Afterwards .venv/bin is first on PATH and LLM_MODEL / LLM_TOKENIZER name
# the model files.

LLM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LLM_VENV="$LLM_ROOT/.venv"

llm_say() {
    if [ -t 1 ]; then printf '\033[1m==> %s\033[0m\n' "$*"; else printf '==> %s\n' "$*"; fi
}

llm_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian/Ubuntu packages for whatever is missing; nothing when all is there.
llm_install_system_packages() {
    local pkgs=()
    command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || pkgs+=(build-essential)
    # gcc prints the bare name back when newlib's semihosting library is absent.
    if ! command -v arm-none-eabi-gcc >/dev/null 2>&1 ||
        [ "$(arm-none-eabi-gcc -print-file-name=librdimon.a)" = librdimon.a ]; then
        pkgs+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
    fi
    command -v qemu-system-arm >/dev/null 2>&1 || pkgs+=(qemu-system-arm)
    # The AArch64 (NEON) host build, cross-compiled and run under qemu-user
    # (env:native_test_aarch64); an AArch64 machine builds and runs it natively.
    if [ "$(uname -m)" != aarch64 ]; then
        command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || pkgs+=(gcc-aarch64-linux-gnu)
        [ -e /usr/aarch64-linux-gnu/lib/libc.a ] || pkgs+=(libc6-dev-arm64-cross)
        command -v qemu-aarch64 >/dev/null 2>&1 || pkgs+=(qemu-user)
    fi
    command -v cmake >/dev/null 2>&1 || pkgs+=(cmake)
    command -v ninja >/dev/null 2>&1 || pkgs+=(ninja-build)
    # Espressif's qemu-system-xtensa (../shared/esp32s3/README.md) links these.
    local lib
    for lib in libfdt1 libgcrypt20 libglib2.0-0 libgpg-error0 libpcre2-8-0 libpixman-1-0 libslirp0 zlib1g; do
        dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'install ok installed' || pkgs+=("$lib")
    done
    if ! command -v python3 >/dev/null 2>&1; then
        pkgs+=(python3 python3-venv python3-pip)
    else
        python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || pkgs+=(python3-venv)
        python3 -m pip --version >/dev/null 2>&1 || pkgs+=(python3-pip)
    fi
    [ ${#pkgs[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        llm_die "missing ${pkgs[*]} and no apt-get here: install a C compiler, arm-none-eabi GCC with newlib, qemu-system-arm, aarch64-linux-gnu GCC with its libc, qemu-user and Python 3 with venv and pip"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || llm_die "need root or sudo to install ${pkgs[*]}"
        sudo=(sudo)
    fi
    llm_say "apt-get install ${pkgs[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${pkgs[@]}"
}

# torch as requirements-test.txt pins it, from PyTorch's CPU-only index
# (PyPI's Linux wheels pull in gigabytes of CUDA libraries the tests never
# use). When that index does not answer, the requirements install afterwards
# takes torch from pip's configured index (a mirror, a wheel folder, or PyPI).
llm_install_cpu_torch() {
    local spec
    spec="$(grep -E '^torch==' "$LLM_ROOT/extra_scripts/setup/requirements-test.txt" | head -n1)"
    [ -n "$spec" ] || return 0
    "$LLM_VENV/bin/python" -m pip install -q --disable-pip-version-check --retries 0 --timeout 20 \
        --index-url https://download.pytorch.org/whl/cpu "$spec" 2>/dev/null ||
        llm_say "$spec: PyTorch's CPU index did not answer; taking it from pip's configured index"
}

# Installs requirements file $2 (and what $3 runs after it) unless stamp $1
# says these inputs were installed already.
llm_pip_once() {
    local stamp="$LLM_VENV/$1" file="$LLM_ROOT/extra_scripts/setup/$2" want
    want="$(cat "$file" "$LLM_ROOT/extra_scripts/llmtools/pyproject.toml" | sha256sum | cut -d' ' -f1) $LLM_ROOT"
    [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || return 0
    llm_say "pip install (extra_scripts/setup/$2${3:+, $3})"
    [ "$2" != requirements-test.txt ] || llm_install_cpu_torch
    "$LLM_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$file"
    [ -z "${3:-}" ] || "$LLM_VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$LLM_ROOT/extra_scripts/$3"
    printf '%s' "$want" >"$stamp"
}

# The virtual environment, reinstalled only when its inputs change; $1 = test
# adds the test-only packages.
llm_setup_venv() {
    if [ ! -x "$LLM_VENV/bin/python" ] || ! "$LLM_VENV/bin/python" -c '' >/dev/null 2>&1; then
        llm_say "creating $LLM_VENV"
        rm -rf "$LLM_VENV"
        python3 -m venv "$LLM_VENV"
    fi
    llm_pip_once .llm-bootstrap requirements.txt llmtools
    [ "${1:-}" != test ] || llm_pip_once .llm-bootstrap-test requirements-test.txt
    export VIRTUAL_ENV="$LLM_VENV"
    export PATH="$LLM_VENV/bin:$PATH"
    unset PYTHONHOME
}

# Sets LLM_MODEL and LLM_TOKENIZER from `python -m llmtools download`.
llm_fetch_model() {
    local out
    out="$(python -m llmtools download --no-progress)" || llm_die "could not get the default model"
    LLM_MODEL="$(printf '%s\n' "$out" | grep 'stories260K\.bin$' | head -n1 || true)"
    LLM_TOKENIZER="$(printf '%s\n' "$out" | grep 'tok512\.bin$' | head -n1 || true)"
    [ -f "$LLM_MODEL" ] && [ -f "$LLM_TOKENIZER" ] ||
        llm_die "llmtools download did not name stories260K.bin and tok512.bin: $out"
    export LLM_MODEL LLM_TOKENIZER
    # The tests and the Cortex-M55 story build read the models from here.
    if [ -z "${LLM_MODELS_DIR:-}" ]; then
        LLM_MODELS_DIR="$(dirname "$LLM_MODEL")"
        export LLM_MODELS_DIR
    fi
}

# Unpacks the offline ESP32-S3 tools when their tarballs are there; sets
# LLM_HAVE_ESP32S3=1 then, else 0.
llm_setup_esp32s3() {
    LLM_HAVE_ESP32S3=0
    if python extra_scripts/setup/esp32s3_tools.py --check >/dev/null 2>&1; then
        python extra_scripts/setup/esp32s3_tools.py >/dev/null
        LLM_HAVE_ESP32S3=1
    fi
    export LLM_HAVE_ESP32S3
}

llm_bootstrap() {
    cd "$LLM_ROOT"
    local t0=$SECONDS
    llm_install_system_packages
    llm_setup_venv "${1:-}"
    python extra_scripts/setup/pio_offline_arm.py
    llm_setup_esp32s3
    llm_fetch_model
    llm_say "ready in $((SECONDS - t0)) s: model $LLM_MODEL"
}
