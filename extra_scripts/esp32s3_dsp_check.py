"""PlatformIO extra script (pre:) for the ESP32-S3 environments: tell the
build whether the framework's ESP-DSP has dsps_dp_s8 (ESP-DSP 1.8.1+).

ESP-IDF environments get ESP-DSP 1.8.2+ from the component manager
(examples/idf_component.yml): dsps_dp_s8 is there. Arduino-ESP32 core 2.x
bundles an older ESP-DSP without it; then the int8 dot product of the
ESP32-S3 backend falls back to the C reference loop. The decision is made
here, once, from the framework's own dsps_dotprod.h, passed to the compiler
as LLM_S3_HAVE_DP_S8=0/1 and printed in the build log (the C source also
emits a #warning when it falls back).
"""

import os

Import("env")  # noqa: F821 (SCons)


def arduino_has_dp_s8():
    """True/False from the Arduino core's dsps_dotprod.h, None when not found."""
    fw_dir = env.PioPlatform().get_package_dir("framework-arduinoespressif32")
    if not fw_dir:
        return None
    for root, _dirs, files in os.walk(os.path.join(fw_dir, "tools", "sdk", "esp32s3")):
        if "dsps_dotprod.h" in files:
            with open(os.path.join(root, "dsps_dotprod.h"), encoding="utf-8", errors="replace") as f:
                return "dsps_dp_s8" in f.read()
    return None


if "arduino" in env.get("PIOFRAMEWORK", []) and "espidf" not in env.get("PIOFRAMEWORK", []):
    have = arduino_has_dp_s8()
    if have is None:
        print("llm: ESP-DSP headers not found in the Arduino core; the int8 dot product is "
              "decided by the compiler (see the #warning, if any)")
    elif have:
        env.Append(CPPDEFINES=[("LLM_S3_HAVE_DP_S8", 1)])
        print("llm: the Arduino core's ESP-DSP has dsps_dp_s8: int8 dot products use it")
    else:
        env.Append(CPPDEFINES=[("LLM_S3_HAVE_DP_S8", 0)])
        print("llm: the Arduino core's ESP-DSP has no dsps_dp_s8 (Arduino-ESP32 2.x bundles an "
              "ESP-DSP older than 1.8.1): int8 dot products fall back to the C reference kernel; "
              "float kernels still use dsps_dotprod_f32")
