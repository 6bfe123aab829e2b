/*
 * Build-time configuration of the llm library. Every option can be set with a
 * -D build flag (PlatformIO: build_flags = -DLLM_MAX_LAYERS=16).
 */
#ifndef LLM_CONFIG_H
#define LLM_CONFIG_H

/* Backend identifiers for LLM_BACKEND. */
#define LLM_BACKEND_REF 0     /* portable scalar C reference */
#define LLM_BACKEND_CM55 1    /* Cortex-M55: CMSIS-DSP + Helium (MVE) */
#define LLM_BACKEND_ESP32S3 2 /* ESP32-S3: ESP-DSP */
#define LLM_BACKEND_CM4 3     /* Cortex-M4F/M7/M33: CMSIS-DSP + DSP extension (SMLAD) */
#define LLM_BACKEND_X86 4     /* x86-64 hosts: AVX2 + FMA, chosen at run time, else the reference */
#define LLM_BACKEND_NEON 5    /* AArch64 hosts (Raspberry Pi 4/5, ...): NEON intrinsics */

/* Armv7E-M or Armv8-M Mainline with the DSP extension and a single-precision
 * FPU (Cortex-M4F, M7, M33, M35P, M55 without Helium, ...). */
#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M' && defined(__ARM_FEATURE_DSP) && \
    defined(__ARM_FP) && (__ARM_FP & 4)
#define LLM__ARM_DSP_FPU 1
#else
#define LLM__ARM_DSP_FPU 0
#endif

/* ESP-IDF keeps CONFIG_IDF_TARGET_* in sdkconfig.h, not in compiler flags. */
#if !defined(LLM_BACKEND) && defined(ESP_PLATFORM) && !defined(CONFIG_IDF_TARGET) && \
    defined(__has_include)
#if __has_include("sdkconfig.h")
#include "sdkconfig.h"
#endif
#endif

/* Which kernels the dispatch header picks; the reference is always compiled.
 * LLM_HOST_SIMD=1 asks for the host's SIMD backend where there is one (x86-64
 * with GCC or Clang: LLM_BACKEND_X86; AArch64: LLM_BACKEND_NEON), the
 * reference elsewhere. */
#ifndef LLM_BACKEND
#if defined(LLM_HOST_SIMD) && LLM_HOST_SIMD && defined(__x86_64__) && defined(__GNUC__)
#define LLM_BACKEND LLM_BACKEND_X86
#elif defined(LLM_HOST_SIMD) && LLM_HOST_SIMD && defined(__aarch64__) && defined(__ARM_NEON)
#define LLM_BACKEND LLM_BACKEND_NEON
#elif defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
#define LLM_BACKEND LLM_BACKEND_CM55
#elif defined(CONFIG_IDF_TARGET_ESP32S3)
#define LLM_BACKEND LLM_BACKEND_ESP32S3
#elif LLM__ARM_DSP_FPU
#define LLM_BACKEND LLM_BACKEND_CM4
#else
#define LLM_BACKEND LLM_BACKEND_REF
#endif
#endif

/* Most transformer layers a model may have; sets sizeof(llm_model). */
#ifndef LLM_MAX_LAYERS
#define LLM_MAX_LAYERS 32
#endif

/* Verify the blob's CRC-32 when opening it (1) or trust it (0). */
#ifndef LLM_VERIFY_CHECKSUM
#define LLM_VERIFY_CHECKSUM 1
#endif

/* Largest accepted dim / hidden_dim; larger headers are rejected as absurd. */
#ifndef LLM_MAX_DIM
#define LLM_MAX_DIM 65536
#endif

/* Largest accepted vocabulary (token ids are stored as uint16 in the arena). */
#ifndef LLM_MAX_VOCAB
#define LLM_MAX_VOCAB 65535
#endif

/* Largest accepted context length. */
#ifndef LLM_MAX_SEQ_LEN
#define LLM_MAX_SEQ_LEN 65536
#endif

/* Longest stop string llm_generate accepts, in bytes. */
#ifndef LLM_MAX_STOP_LEN
#define LLM_MAX_STOP_LEN 32
#endif

/* Most stop strings llm_generate accepts. */
#ifndef LLM_MAX_STOPS
#define LLM_MAX_STOPS 4
#endif

/* Least severe log level passed to the port's log hook (LLM_LOG_*). */
#ifndef LLM_LOG_LEVEL
#define LLM_LOG_LEVEL 2
#endif

/* Alignment of every arena buffer, in bytes (SIMD loads want 16). */
#ifndef LLM_ARENA_ALIGN
#define LLM_ARENA_ALIGN 16
#endif

#if LLM_BACKEND != LLM_BACKEND_REF && LLM_BACKEND != LLM_BACKEND_CM55 && \
    LLM_BACKEND != LLM_BACKEND_ESP32S3 && LLM_BACKEND != LLM_BACKEND_CM4 && \
    LLM_BACKEND != LLM_BACKEND_X86 && LLM_BACKEND != LLM_BACKEND_NEON
#error "LLM_BACKEND must be LLM_BACKEND_REF, LLM_BACKEND_CM55, LLM_BACKEND_ESP32S3, LLM_BACKEND_CM4, LLM_BACKEND_X86 or LLM_BACKEND_NEON"
#endif
#if LLM_BACKEND == LLM_BACKEND_CM55 && !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2))
#error "LLM_BACKEND_CM55 needs Helium with floating point (-mcpu=cortex-m55 -mfloat-abi=hard)"
#endif
#if LLM_BACKEND == LLM_BACKEND_CM4 && !LLM__ARM_DSP_FPU
#error "LLM_BACKEND_CM4 needs an M-profile core with the DSP extension and a single-precision FPU (e.g. -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard)"
#endif
#if LLM_BACKEND == LLM_BACKEND_X86 && !(defined(__x86_64__) && defined(__GNUC__))
#error "LLM_BACKEND_X86 needs x86-64 and GCC or Clang (target attributes, __builtin_cpu_supports)"
#endif
#if LLM_BACKEND == LLM_BACKEND_NEON && !(defined(__aarch64__) && defined(__ARM_NEON))
#error "LLM_BACKEND_NEON needs an AArch64 compiler (e.g. aarch64-linux-gnu-gcc)"
#endif
#if LLM_MAX_LAYERS < 1 || LLM_MAX_LAYERS > 256
#error "LLM_MAX_LAYERS must be in 1..256"
#endif
#if LLM_MAX_VOCAB > 65535
#error "LLM_MAX_VOCAB must fit uint16 token ids (<= 65535)"
#endif
#if (LLM_ARENA_ALIGN & (LLM_ARENA_ALIGN - 1)) != 0 || LLM_ARENA_ALIGN < 8
#error "LLM_ARENA_ALIGN must be a power of two, at least 8"
#endif
#if LLM_MAX_STOP_LEN < 1 || LLM_MAX_STOPS < 1
#error "LLM_MAX_STOP_LEN and LLM_MAX_STOPS must be at least 1"
#endif

#endif /* LLM_CONFIG_H */
