/*
 * A parallel_for hook for llm_port on POSIX hosts: a fixed pool of threads
 * started once; the calling thread is worker 0 and takes part in every job.
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
 * threads the functions exist but the pool never starts: parallel_for then
 * runs every job on the caller.
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

/* llm_port.parallel_for: fn over 0..n-1, worker w taking
 * llm_parallel_range(n, workers, w); returns when every range is done.
 * user is ignored. */
void llm_posix_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user);

#ifdef __cplusplus
}
#endif

#endif /* LLM_PORT_POSIX_H */
