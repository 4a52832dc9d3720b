/*
 * arena.c - a handler's scratch memory, carved from a few blocks.
 *
 * A ListVolumes page of 500 entries is some 8,500 small objects (entries,
 * volumes, strings, context maps). With a calloc() each, a block header
 * and malloc's own header and rounding, they took about 540 KiB of heap
 * in 8,500 chunks; carved from blocks they take 310 KiB in 11 (mtrace of
 * bench list-page), and a call's memory goes back in large pieces the
 * idle trim can return whole.
 */
#include "arena.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First block, and the most any block grows to: small calls (Probe,
 * GetCapabilities) take one small block, lists grow to 32 KiB ones. */
#define ARENA_FIRST_BLOCK 1024
#define ARENA_MAX_BLOCK (32 * 1024)

struct arena_block {
	arena_block *next;
	size_t size; /* bytes in data */
	size_t used;
	max_align_t data[];
};

/* A new zeroed block for at least `need` bytes. A request larger than a
 * quarter of the next block gets a block of its own, linked behind the
 * current one so that one's free space stays in use. */
static void *block_alloc(arena *a, size_t need)
{
	arena_block *cur = a->blocks;
	size_t size = cur ? cur->size * 2 : ARENA_FIRST_BLOCK;
	bool own;
	arena_block *b;

	if (size > ARENA_MAX_BLOCK)
		size = ARENA_MAX_BLOCK;
	own = need > size / 4;
	if (own)
		size = need;
	if (size > SIZE_MAX - sizeof(*b) || !(b = calloc(1, sizeof(*b) + size))) {
		a->failed = 1;
		return NULL;
	}
	b->size = size;
	b->used = need;
	if (own && cur) {
		b->next = cur->next;
		cur->next = b;
	} else {
		b->next = cur;
		a->blocks = b;
	}
	return b->data;
}

static void *arena_alloc_aligned(arena *a, size_t size, size_t align)
{
	arena_block *b = a->blocks;

	if (size == 0)
		size = 1;
	if (b) {
		size_t off = (b->used + align - 1) & ~(align - 1);
		if (off <= b->size && size <= b->size - off) {
			b->used = off + size;
			return (char *)b->data + off;
		}
	}
	return block_alloc(a, size);
}

void *arena_alloc(arena *a, size_t size)
{
	return arena_alloc_aligned(a, size, alignof(max_align_t));
}

char *arena_strdup(arena *a, const char *s)
{
	size_t n;
	char *d;

	if (!s)
		return NULL;
	n = strlen(s);
	d = arena_alloc_aligned(a, n + 1, 1);
	if (d)
		memcpy(d, s, n + 1);
	return d;
}

char *arena_printf(arena *a, const char *fmt, ...)
{
	va_list ap;
	char *tmp = NULL, *d;

	va_start(ap, fmt);
	if (vasprintf(&tmp, fmt, ap) < 0)
		tmp = NULL;
	va_end(ap);
	if (!tmp) {
		a->failed = 1;
		return NULL;
	}
	d = arena_strdup(a, tmp);
	free(tmp);
	return d;
}

void arena_free(arena *a)
{
	while (a->blocks) {
		arena_block *b = a->blocks;
		a->blocks = b->next;
		free(b);
	}
	a->failed = 0;
}
