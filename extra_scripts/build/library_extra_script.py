"""build.extraScript of the packaged library (the root library.json).

A firmware project that has this library in lib_deps gets, from this script
alone, the port for its board and its model embedded:

    host (platform native)          the POSIX thread pool (lib/llm_port_posix)
    Arm MPS3 AN547 (Cortex-M55),    start-up, the board's linker script and
    MPS2 AN386 / AN500 / AN505 /    semihosting console (lib/board_mps; the
    AN521 (Cortex-M4F, M7, M33,     AN521's second core too), and CMSIS-DSP
    two M33)                        for the Helium or cm4 backend
    ESP32-S3 (espressif32)          second-core worker, partition mapping and
                                    arena placement (lib/llm_port_esp32s3)
    any other board                 the library with its reference kernels

    custom_llm_model = stories260K.bin      ; llm blob or llama2.c checkpoint
    custom_llm_tokenizer = tok512.bin       ; optional, embedded when converting
    custom_llm_convert_args = --weights q8  ; optional, more llm-convert options

The model is converted when needed and either embedded in the firmware
(extra_scripts/build/embed_model.py: header "llm_model_blob.h") or, on an ESP32-S3
whose partition table (board_build.partitions) has a data partition named
custom_llm_partition (default "model"), written into that partition by
`pio run -t upload` (extra_scripts/build/esp32s3_flash_model.py).

PlatformIO runs this script each time it creates the library's builder: once
per build, twice with ESP-IDF (its builder scans the libraries early for
their include paths), again after installing a dependency. What changes the
library's own environment happens every time (each builder has a fresh
clone); what changes the build as a whole happens once (LLM_LIBRARY_DONE).
"""

import os
import sys

from SCons.Script import DefaultEnvironment, Import

Import("env", "pio_lib_builder")  # noqa: F821

ROOT = pio_lib_builder.path  # noqa: F821 (the package root)
SCRIPTS = os.path.join(ROOT, "extra_scripts", "build")
LIB = os.path.join(ROOT, "lib")
for p in (SCRIPTS, os.path.join(LIB, "board_mps")):
    if p not in sys.path:
        sys.path.insert(0, p)

import board_link  # noqa: E402 (lib/board_mps: its boards and link settings)
import esp32s3_partitions  # noqa: E402

genv = DefaultEnvironment()
board = env.BoardConfig() if env.get("BOARD") else None  # noqa: F821


def fail(msg):
    sys.stderr.write("Error: llm-mcu: %s\n" % msg)
    env.Exit(1)  # noqa: F821


def board_get(key, default=""):
    return board.get(key, default) if board else default


def port():
    """The port library (a folder of lib/) for this build, or None."""
    platform = env.get("PIOPLATFORM", "")  # noqa: F821
    if platform == "native":
        return "llm_port_posix"
    if board_link.wanted(platform, env.get("BOARD", "")):  # noqa: F821
        return "board_mps"
    if platform == "espressif32" and board_get("build.mcu") == "esp32s3":
        return "llm_port_esp32s3"
    return None


# Cores whose backend (llm_config.h: cm55 with Helium, cm4 with the DSP
# extension and an FPU) calls CMSIS-DSP's fp32 mat-vec.
CMSIS_DSP_CPUS = ("cortex-m55", "cortex-m4", "cortex-m7", "cortex-m33")


def wants_cmsis_dsp():
    """The Helium and cm4 backends need CMSIS-DSP unless the reference is chosen."""
    flags = " ".join(env.GetProjectOption("build_flags", []))  # noqa: F821
    return board_get("build.cpu") in CMSIS_DSP_CPUS and "LLM_BACKEND_REF" not in flags


def model_partition_label():
    """The partition label when the ESP32-S3 model goes into a partition, else None."""
    label = env.GetProjectOption("custom_llm_partition", "").strip() or "model"  # noqa: F821
    csv = board_get("build.partitions")
    if not csv:
        return None
    try:
        parts = esp32s3_partitions.read_partitions(os.path.join(env.subst("$PROJECT_DIR"), csv))  # noqa: F821
        esp32s3_partitions.find(parts, label)
    except esp32s3_partitions.PartitionError:
        return None  # the builder reports a broken table; no such partition: embed
    return label


def check_esp_dsp():
    """ESP-IDF gets ESP-DSP from the component manager: the project must ask."""
    if "espidf" not in env.subst("$PIOFRAMEWORK"):  # noqa: F821
        return  # Arduino-ESP32 bundles ESP-DSP
    manifest = os.path.join(env.subst("$PROJECT_SRC_DIR"), "idf_component.yml")  # noqa: F821
    text = ""
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            text = f.read()
    if "esp-dsp" not in text:
        fail('the ESP32-S3 backend needs ESP-DSP: add `espressif/esp-dsp: "^1.8.2"` under '
             "dependencies: in %s" % manifest)


def library_env(name):
    """Sources, include paths and flags of this library's own build."""
    src_filter = ["-<*>", "+<llm/src/>"]
    if name:
        src_filter.append("+<%s/src/>" % name)
        env.Append(CPPPATH=[os.path.join(LIB, name, "include")])  # noqa: F821
    env.Replace(SRC_FILTER=src_filter)  # noqa: F821
    if name == "llm_port_posix":
        env.AppendUnique(CCFLAGS=["-pthread"])  # noqa: F821
    if genv.get("LLM_CMSIS_DSP_FLAGS"):
        env.Append(**genv["LLM_CMSIS_DSP_FLAGS"])  # noqa: F821
    if genv.get("LLM_MODEL_INCLUDE"):
        env.Append(CPPPATH=[genv["LLM_MODEL_INCLUDE"]])  # noqa: F821


def run_script(name):
    genv.SConscript(os.path.join(SCRIPTS, name), exports={"env": genv})


def whole_build(name):
    """Link settings, CMSIS-DSP and the model, once per build."""
    if name == "llm_port_posix" and "-pthread" not in genv.get("LINKFLAGS", []):
        genv.Append(LINKFLAGS=["-pthread"])
    if name == "board_mps":
        board_link.apply(genv, env["BOARD"], env.GetProjectOption("board_build.ldscript", ""))  # noqa: F821
    if wants_cmsis_dsp():
        run_script("cmsis_dsp.py")
    if name == "llm_port_esp32s3":
        check_esp_dsp()
    if env.IsCleanTarget() or not env.GetProjectOption("custom_llm_model", "").strip():  # noqa: F821
        return
    if name == "llm_port_esp32s3" and model_partition_label():
        run_script("esp32s3_flash_model.py")
    else:
        run_script("embed_model.py")
        genv.Replace(LLM_MODEL_INCLUDE=os.path.join(genv.subst("$BUILD_DIR"), "llm_model", "include"))


port_name = port()
if not genv.get("LLM_LIBRARY_DONE"):
    genv.Replace(LLM_LIBRARY_DONE=True)
    whole_build(port_name)
library_env(port_name)
