/* Bit copies between floats and integers of the same size, for the
 * kernels' hot paths. ESP-IDF compiles with -fno-builtin-memcpy, which
 * would make every such memcpy a library call (several per expf); the
 * builtin is the same copy, inlined. */
#ifndef LLM_BITCAST_H
#define LLM_BITCAST_H

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define LLM_BITCOPY(dst, src, n) __builtin_memcpy((dst), (src), (n))
#else
#define LLM_BITCOPY(dst, src, n) memcpy((dst), (src), (n))
#endif

#endif /* LLM_BITCAST_H */
