/*
 * map.h - a string-keyed hash map (chained, FNV-1a, grows by doubling),
 * the one container the kube modules share: the informer's cache and
 * indexes, the work queue's dirty/processing/failure sets, the event
 * recorder's aggregation table.
 *
 * Keys are copied; values are the caller's (the map never frees them).
 * Not thread-safe: every user holds its own lock around it.
 */
#ifndef DYNVOL_KUBE_MAP_H
#define DYNVOL_KUBE_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kube_map_entry {
	struct kube_map_entry *next;
	void *value;
	size_t hash;
	char key[]; /* NUL-terminated copy */
} kube_map_entry;

typedef struct {
	kube_map_entry **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
} kube_map;

void kube_map_init(kube_map *m);
/* Frees the entries (not the values). */
void kube_map_clear(kube_map *m);

void *kube_map_get(const kube_map *m, const char *key);
bool kube_map_has(const kube_map *m, const char *key);
/* Inserts or replaces. Returns 0 or -ENOMEM; *ret_old (may be NULL) receives
 * the replaced value, or NULL when the key was new. */
int kube_map_put(kube_map *m, const char *key, void *value, void **ret_old);
/* Removes key; returns its value, or NULL when absent. */
void *kube_map_remove(kube_map *m, const char *key);

/* Calls fn for each entry until it returns nonzero (which is returned).
 * fn must not change the map. */
int kube_map_foreach(const kube_map *m, int (*fn)(const char *key, void *value, void *payload),
		     void *payload);

#endif
