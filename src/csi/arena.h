/*
 * arena.h - a handler's scratch memory: responses are trees of small
 * protobuf-c structs; they are allocated here and released in one call
 * after rpc_call_reply() has packed them.
 */
#ifndef DYNVOL_CSI_ARENA_H
#define DYNVOL_CSI_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct {
	arena_block *blocks;
	int failed; /* an allocation failed: answer RESOURCE_EXHAUSTED */
} arena;

/* Zeroed memory, or NULL (and a->failed set). */
void *arena_alloc(arena *a, size_t size);
/* Copies of strings; NULL in, NULL out. */
char *arena_strdup(arena *a, const char *s);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(arena *a);

#define ARENA_NEW(a, type) ((type *)arena_alloc((a), sizeof(type)))
#define ARENA_ARRAY(a, type, n) ((type *)arena_alloc((a), sizeof(type) * ((n) ? (n) : 1)))

#endif
