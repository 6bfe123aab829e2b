# Build fixes for an ESP-IDF v5.5 tree assembled from upstream parts, as the
# offline copy is (upstream Mbed TLS 3.6.5 instead of Espressif's branch, an
# older heap/tlsf, newlib 4.3 of March 2024). Each fix is applied only when
# its cause is detected, so a complete ESP-IDF release is left as it is.
# Included by the top-level CMakeLists.txt after project().

# Upstream Mbed TLS compiles as -std=c99 with extensions off; ESP-IDF's port
# sources in the same targets use `asm` and static_assert (gnu17 in
# Espressif's branch).
foreach(t mbedcrypto mbedtls mbedx509)
    if(TARGET ${t})
        get_target_property(ext ${t} C_EXTENSIONS)
        if(NOT ext)
            set_target_properties(${t} PROPERTIES C_STANDARD 17 C_EXTENSIONS ON)
        endif()
    endif()
endforeach()

# multi_heap.c calls tlsf_find_containing_block, which older tlsf commits
# lack: esp32s3_idf_compat_tlsf.h gives it from tlsf_walk_pool.
idf_build_get_property(idf_path IDF_PATH)
file(STRINGS ${idf_path}/components/heap/tlsf/include/tlsf.h has_find REGEX "tlsf_find_containing_block")
if(NOT has_find)
    idf_component_get_property(heap_lib heap COMPONENT_LIB)
    target_compile_options(${heap_lib} PRIVATE
        -include ${CMAKE_CURRENT_LIST_DIR}/esp32s3_idf_compat_tlsf.h)
endif()

# newlib's limits.h gives PATH_MAX only to some compilers' include orders;
# ESP-IDF's sysconf.c expects it (newlib's own value).
idf_component_get_property(newlib_lib newlib COMPONENT_LIB)
target_compile_definitions(${newlib_lib} PRIVATE PATH_MAX=1024)
