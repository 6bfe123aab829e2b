/*
 * A parallel_for hook for llm_port on POSIX hosts: a fixed pool of threads
 * started once; the calling thread takes part in every job. Each job is cut
 * into blocks that the caller and the threads claim one by one, so a thread
 * the scheduler has descheduled delays at most the block it holds; idle
 * threads spin a few microseconds (LLM_POSIX_SPIN_US), then sleep.
 *
 *   llm_posix_pool_start(4);
 *   llm_port port = {0};
 *   port.parallel_for = llm_posix_parallel_for;
 *   llm_port_set(&port);
 *   ...
 *   llm_posix_pool_stop();
 *
 * One pool per process; jobs come from one thread at a time (the one running
 * llm_forward). Nothing is allocated per job. On targets without POSIX
 * threads (or without GCC/Clang __atomic builtins) the functions exist but
 * the pool never starts: parallel_for then runs every job on the caller.
 */
#ifndef LLM_PORT_POSIX_H
#define LLM_PORT_POSIX_H

#include <stdint.h>

#include "llm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most workers a pool may have, the caller included. */
#define LLM_POSIX_MAX_WORKERS 64

/* Start n_workers - 1 threads (n_workers in 1..LLM_POSIX_MAX_WORKERS; a
 * running pool is stopped first). Returns the workers now in use: n_workers,
 * or 1 when threads are unavailable or could not be created. */
uint32_t llm_posix_pool_start(uint32_t n_workers);

/* Join the threads; later jobs run on the caller. Safe to call twice. */
void llm_posix_pool_stop(void);

/* Workers in use (1 when the pool is stopped). */
uint32_t llm_posix_pool_workers(void);

/* Adaptive mode (off by default, and after every pool start): each kind of
 * job (same fn and n) is first run on the caller alone, twice. A kind whose
 * faster run took 8 us or more always uses the pool; a shorter one stays
 * on the caller alone unless the pool proves a quarter faster (jobs of a
 * few microseconds, other cores busy), is tried on the pool again from time
 * to time, and on the pool never wakes a sleeping worker (that costs about
 * as much as the job). Results are the same bits either way. Call after
 * llm_posix_pool_start, from the thread that posts jobs. */
void llm_posix_pool_adapt(int on);

/* Processors online (1..LLM_POSIX_MAX_WORKERS); 1 without POSIX threads.
 * The pool does not cap itself to it: a program decides. */
uint32_t llm_posix_cores(void);

/* llm_port.parallel_for, with the guarantees llm.h asks: fn over 0..n-1 in
 * contiguous blocks, each run by whichever thread claims it, the caller
 * included; returns when every block is done. Blocks shrink as the job runs
 * (guided), from about n / (2 * workers) items to n / (16 * workers),
 * multiples of 4 when more than 4. A job posted while every worker sleeps
 * and that may not wake them (adaptive mode) runs on the caller as one
 * block. user is ignored. */
void llm_posix_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user);

#ifdef __cplusplus
}
#endif

#endif /* LLM_PORT_POSIX_H */
