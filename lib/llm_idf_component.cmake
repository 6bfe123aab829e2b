# The repository root as one ESP-IDF component (see the top-level
# CMakeLists.txt): the llm library and, on an ESP32-S3, its port. The
# backend follows the target (llm_config.h reads sdkconfig.h):
# LLM_BACKEND_ESP32S3 on an ESP32-S3, the reference elsewhere.
#
# ESP-DSP: idf_component.yml asks the component manager for it, which adds
# it to this component's requirements; with the manager off
# (IDF_COMPONENT_MANAGER=0) a component named esp-dsp must be in the build.
set(llm_root ${CMAKE_CURRENT_LIST_DIR}/..)
set(llm_glob_opts)
if(NOT CMAKE_SCRIPT_MODE_FILE)
    set(llm_glob_opts CONFIGURE_DEPENDS)  # CMake refuses it in script mode
endif()
file(GLOB_RECURSE llm_srcs ${llm_glob_opts} ${llm_root}/lib/llm/src/*.c ${llm_root}/lib/llm/src/*.S)
set(llm_includes ${llm_root}/lib/llm/include)
set(llm_requires)
set(llm_priv_requires)
if(IDF_TARGET STREQUAL "esp32s3")
    file(GLOB port_srcs ${llm_glob_opts} ${llm_root}/lib/llm_port_esp32s3/src/*.c)
    list(APPEND llm_srcs ${port_srcs})
    list(APPEND llm_includes ${llm_root}/lib/llm_port_esp32s3/include)
    set(llm_priv_requires esp_partition spi_flash esp_timer heap freertos log esp_psram
                          esp_driver_uart esp_driver_usb_serial_jtag vfs)
    if("$ENV{IDF_COMPONENT_MANAGER}" STREQUAL "0")
        list(APPEND llm_priv_requires esp-dsp)
    endif()
endif()
idf_component_register(SRCS ${llm_srcs}
                       INCLUDE_DIRS ${llm_includes}
                       PRIV_INCLUDE_DIRS ${llm_root}/lib/llm/src
                       REQUIRES ${llm_requires}
                       PRIV_REQUIRES ${llm_priv_requires})
# The quantized kernels' float steps must round as the reference does: no
# a * b + c fused into madd.s (ESP-IDF compiles gnu17, where GCC fuses).
target_compile_options(${COMPONENT_LIB} PRIVATE -Wall -Wextra -ffp-contract=off -O2)
include(${llm_root}/lib/llm/llm_embed_model.cmake)
