/*
 * Line protocol helpers of the test firmware: reading words and numbers from
 * a command line, and writing one result line. A result line is
 * "<command> <llm_status_str> [key=value ...]"; firmware-side failures (bad
 * arguments, missing files) answer LLM_ERR_ARG with a fw_error=<reason> key.
 */
#ifndef FW_IO_H
#define FW_IO_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

/* One line from a byte source, for ports that read their console byte by
 * byte: next() returns a byte, or -1 at end of input. buf (cap >= 2 bytes)
 * gets the line without CR or LF. Returns its length, -1 at end of input
 * before any byte, or -2 when it did not fit (the rest is read and dropped;
 * buf holds its beginning). */
long fw_line_from(int (*next)(void), char *buf, size_t cap);

/* Next space-separated word of *cursor (NUL-terminated in place), or NULL. */
char *fw_word(char **cursor);

/* Parse a whole word as a number; 0 on success, -1 on a malformed word. */
int fw_parse_u32(const char *s, uint32_t *v);
int fw_parse_i32(const char *s, int32_t *v);
int fw_parse_u64(const char *s, uint64_t *v);
int fw_parse_f32(const char *s, float *v);   /* decimal, e.g. 0.9 or 1e-5 */

/* Decode hex in place (two digits per byte); "-" is the empty string.
 * Returns the byte count, or -1 on bad hex. */
long fw_hex_decode(char *s);

/* Decode base64 (RFC 4648, padded, at least one group) in place. Returns
 * the byte count, or -1 when malformed. Files sent over a serial line use
 * it: 4 characters per 3 bytes where hex takes 6. */
long fw_base64_decode(char *s);

/* Decode floats written as fw_out_f32_hex does (8 hex digits each) into
 * out (cap floats); returns the count, or -1 when malformed or too many. */
long fw_hex_decode_f32(const char *s, float *out, size_t cap);

/* Parse "-" or a comma-separated list of int32 into out (cap entries);
 * returns the count, or -1 when malformed or longer than cap. */
long fw_parse_i32_list(char *s, int32_t *out, size_t cap);

/* Start a result line: "<cmd> <status>". */
void fw_out_begin(const char *cmd, llm_status s);
void fw_out_str(const char *s);
void fw_out_n(const char *s, size_t n);
/* " key=", then the value. */
void fw_out_key(const char *key);
void fw_out_kv_u(const char *key, uint64_t v);
void fw_out_kv_i(const char *key, int64_t v);
void fw_out_kv_hex(const char *key, const void *p, size_t n);      /* as fw_out_hex */
void fw_out_kv_f32_hex(const char *key, const float *x, size_t n); /* as fw_out_f32_hex */
void fw_out_u(uint64_t v);
void fw_out_i(int64_t v);
/* Bytes as lowercase hex, "-" when n is 0. */
void fw_out_hex(const void *p, size_t n);
/* Floats as their IEEE-754 bits, 8 hex digits each, most significant first. */
void fw_out_f32_hex(const float *x, size_t n);
/* End the line and flush it. */
void fw_out_end(void);

/* A whole firmware-side error line: "<cmd> LLM_ERR_ARG fw_error=<why>". */
void fw_reply_error(const char *cmd, const char *why);

#endif /* FW_IO_H */
