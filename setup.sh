#!/usr/bin/env bash
# Install what is missing, build the host example and tell a story.
# Safe to re-run; a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")"
source extra_scripts/bootstrap.sh
llm_bootstrap

llm_say "building the example (pio run -e native)"
pio run -e native

llm_say "a story from stories260K"
.pio/build/native/program "$LLM_MODEL" -z "$LLM_TOKENIZER" -n 256 -i "Once upon a time"
