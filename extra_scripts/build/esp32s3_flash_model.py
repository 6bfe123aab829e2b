"""PlatformIO extra script (pre:) for the ESP32-S3 environments: the model
goes into its own flash partition, and `pio run -t upload` writes it too.

    extra_scripts = pre:extra_scripts/build/esp32s3_flash_model.py
    board_build.partitions = boards/esp32s3/partitions_llm_16mb.csv
    custom_llm_model = stories260K.bin   ; blob or llama2.c checkpoint (model_files.py finds it)
    custom_llm_tokenizer = tok512.bin    ; embedded when converting
    custom_llm_convert_args = --weights q8   ; optional, passed to llm-convert
    custom_llm_partition = model         ; optional, the default

A llama2.c checkpoint is converted once per change to an llm blob (with
`python -m llmtools convert`, tokenizer embedded; extra_scripts/build/model_convert.py)
in $BUILD_DIR/llm_model/.
The partition's offset comes from the CSV (extra_scripts/build/esp32s3_partitions.py)
and (offset, blob) is added to FLASH_EXTRA_IMAGES, which the espressif32
platform passes to esptool with the bootloader and partition table. The
build fails early when the blob does not fit the partition, and prints the
esptool command that rewrites the model alone. The firmware finds it with
esp_partition_find_first(..., "model") and maps it (lib/llm_port_esp32s3).
"""

import inspect
import os
import shlex
import sys

Import("env")  # noqa: F821 (SCons)

SCRIPTS_DIR = os.path.dirname(os.path.abspath(inspect.getframeinfo(inspect.currentframe()).filename))
if SCRIPTS_DIR not in sys.path:
    sys.path.insert(0, SCRIPTS_DIR)

import esp32s3_partitions as partitions  # noqa: E402
import model_convert  # noqa: E402
import model_files  # noqa: E402


def fail(msg):
    sys.stderr.write("Error: esp32s3_flash_model.py: %s\n" % msg)
    env.Exit(1)




def convert(model, tokenizer, out, extra_args):
    """model -> blob with llm-convert's extra_args, unless out is fresh
    (extra_scripts/build/model_convert.py); a rejected file stops the build."""
    try:
        model_convert.convert(env.subst("$PYTHONEXE"), model, tokenizer, out, extra_args)
    except model_convert.ConvertError as e:
        fail("%s = %s: %s" % (e.option, env.GetProjectOption(e.option, ""), e.message))


def flash_size_bytes():
    text = env.BoardConfig().get("upload.flash_size", "")
    return partitions.parse_size(text.replace("MB", "M").replace("KB", "K")) if text else None


def main():
    model = model_files.option(env, "custom_llm_model", True, fail)
    tokenizer = model_files.option(env, "custom_llm_tokenizer", False, fail)
    label = env.GetProjectOption("custom_llm_partition", "").strip() or "model"
    csv = env.BoardConfig().get("build.partitions", "")
    if not csv:
        fail("set board_build.partitions to a table with a %r data partition "
             "(boards/esp32s3/partitions_llm_*.csv)" % label)

    extra_args = shlex.split(env.GetProjectOption("custom_llm_convert_args", ""))
    with open(model, "rb") as f:
        is_blob = f.read(4) == b"LLMB"
    if is_blob and not extra_args:
        blob = model
    else:
        out_dir = env.subst(os.path.join("$BUILD_DIR", "llm_model"))
        os.makedirs(out_dir, exist_ok=True)
        blob = os.path.join(out_dir, os.path.splitext(os.path.basename(model))[0] + ".llmb")
        convert(model, tokenizer, blob, extra_args)

    try:
        parts = partitions.read_partitions(os.path.join(env.subst("$PROJECT_DIR"), csv))
        part = partitions.model_partition(parts, os.path.getsize(blob), label, flash_size_bytes())
    except partitions.PartitionError as e:
        fail(str(e))

    env.Append(FLASH_EXTRA_IMAGES=[("0x%x" % part.offset, blob)])
    print("Model %s -> partition %r at 0x%x (%d of %d bytes); flash it alone with:\n  %s"
          % (os.path.basename(blob), label, part.offset, os.path.getsize(blob), part.size,
             partitions.esptool_command(part.offset, blob)))


if not env.IsCleanTarget():
    main()
