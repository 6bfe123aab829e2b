#!/usr/bin/env bash
# Install what is missing, build the story firmware for the default embedded
# target (Cortex-M55, Arm MPS3 AN547, emulated by QEMU) and tell a story.
# Safe to re-run; a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")"
source extra_scripts/setup/bootstrap.sh
llm_bootstrap

llm_say "building the host program and the Cortex-M55 story firmware (pio run -e native -e m55_story)"
pio run -e native -e m55_story

llm_say "a story from stories260K on the emulated Cortex-M55 (QEMU mps3-an547)"
qemu-system-arm -M mps3-an547 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 \
    -kernel .pio/build/m55_story/firmware.elf
