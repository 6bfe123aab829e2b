/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib.crc32. */
#include "llm_internal.h"

/* CRC of each 4-bit value: 64 bytes instead of the usual 1 KB byte table,
 * which matters in flash; the blob is checked once, so speed is secondary. */
static const uint32_t crc_nibble[16] = {
    0x00000000U, 0x1DB71064U, 0x3B6E20C8U, 0x26D930ACU, 0x76DC4190U, 0x6B6B51F4U,
    0x4DB26158U, 0x5005713CU, 0xEDB88320U, 0xF00F9344U, 0xD6D6A3E8U, 0xCB61B38CU,
    0x9B64C2B0U, 0x86D3D2D4U, 0xA00AE278U, 0xBDBDF21CU,
};

/* crc: the value returned for the preceding bytes (0 to start); p may be NULL
 * when n is 0. */
uint32_t llm__crc32(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15U];
        crc = (crc >> 4) ^ crc_nibble[crc & 15U];
    }
    return ~crc;
}
