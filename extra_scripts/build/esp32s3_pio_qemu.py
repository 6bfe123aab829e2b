"""PlatformIO extra script (post:) of the ESP32-S3 *_qemu environments: the
target `qemu` merges the bootloader, partition table, app and model into one
flash image and boots it in Espressif's QEMU (`-M esp32s3`), as
extra_scripts/build/esp32s3_idf.py does without PlatformIO:

    pio run -e esp32s3_story_qemu -t qemu

The emulator is LLM_ESP_QEMU, else qemu-system-xtensa on PATH (ESP-IDF's
`idf_tools.py install qemu-xtensa` provides it), else the offline tools of
extra_scripts/setup/esp32s3_tools.py. Story apps end QEMU after "story: done".
"""
import inspect
import os
import shutil
import sys

Import("env")  # noqa: F821 (SCons)

SCRIPTS_DIR = os.path.dirname(os.path.abspath(inspect.getframeinfo(inspect.currentframe()).filename))
if SCRIPTS_DIR not in sys.path:
    sys.path.insert(0, SCRIPTS_DIR)

import esp32s3_idf  # noqa: E402


def find_qemu():
    q = os.environ.get("LLM_ESP_QEMU") or shutil.which("qemu-system-xtensa")
    if q:
        return q
    import esp32s3_tools
    return str(esp32s3_tools.qemu_binary())


def run_qemu(target, source, env):  # noqa: ARG001 (SCons action signature)
    build = env.subst("$BUILD_DIR")
    flash = os.path.join(build, "qemu_flash.bin")
    # The espidf builder lists the bootloader and the partition table in
    # FLASH_EXTRA_IMAGES, and esp32s3_flash_model.py the model.
    images = [(off, env.subst(img)) for off, img in env.get("FLASH_EXTRA_IMAGES", [])]
    images.append((env.subst("$ESP32_APP_OFFSET") or "0x10000", env.subst("$BUILD_DIR/${PROGNAME}.bin")))
    size = env.BoardConfig().get("upload.flash_size", "4MB")
    cmd = [env.subst("$PYTHONEXE"), "-m", "esptool", "--chip", "esp32s3", "merge-bin",
           "--fill-flash-size", size, "-o", flash]
    for off, img in images:
        cmd += [off, img]
    if env.Execute(" ".join('"%s"' % c for c in cmd)):
        return 1
    board = esp32s3_idf.board_json(env.subst("$BOARD"))
    qemu = [find_qemu(), *esp32s3_idf.qemu_args(esp32s3_idf.Path(flash),
                                                  esp32s3_idf.Path(build) / "qemu_efuse.bin", board),
            "-icount", "shift=0", "-serial", "mon:stdio"]
    print(" ".join(qemu))
    return esp32s3_idf.run_until_done(qemu)


env.AddCustomTarget("qemu", "$BUILD_DIR/${PROGNAME}.bin", run_qemu,
                    title="QEMU", description="Boot the firmware and model in Espressif's QEMU")
