/*
 * map.c - string-keyed chained hash map (see map.h).
 */
#include "map.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t map_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

void kube_map_init(kube_map *m)
{
	memset(m, 0, sizeof(*m));
}

void kube_map_clear(kube_map *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		kube_map_entry *e = m->buckets[i];
		while (e) {
			kube_map_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	kube_map_init(m);
}

static kube_map_entry **map_slot(const kube_map *m, const char *key, size_t hash)
{
	if (m->nbuckets == 0)
		return NULL;
	kube_map_entry **p = &m->buckets[hash & (m->nbuckets - 1)];
	while (*p && ((*p)->hash != hash || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

void *kube_map_get(const kube_map *m, const char *key)
{
	kube_map_entry **p = map_slot(m, key, map_hash(key));
	return p && *p ? (*p)->value : NULL;
}

bool kube_map_has(const kube_map *m, const char *key)
{
	kube_map_entry **p = map_slot(m, key, map_hash(key));
	return p && *p;
}

/* Doubles the table when the load passes 1, so chains stay short. */
static int map_grow(kube_map *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
	kube_map_entry **b = calloc(n, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nbuckets; i++) {
		kube_map_entry *e = m->buckets[i];
		while (e) {
			kube_map_entry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
	return 0;
}

int kube_map_put(kube_map *m, const char *key, void *value, void **ret_old)
{
	size_t hash = map_hash(key);
	kube_map_entry **p = map_slot(m, key, hash);
	if (p && *p) {
		if (ret_old)
			*ret_old = (*p)->value;
		(*p)->value = value;
		return 0;
	}
	if (m->count + 1 > m->nbuckets) {
		if (map_grow(m) < 0)
			return -ENOMEM;
	}
	size_t klen = strlen(key);
	kube_map_entry *e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return -ENOMEM;
	memcpy(e->key, key, klen + 1);
	e->hash = hash;
	e->value = value;
	size_t i = hash & (m->nbuckets - 1);
	e->next = m->buckets[i];
	m->buckets[i] = e;
	m->count++;
	if (ret_old)
		*ret_old = NULL;
	return 0;
}

void *kube_map_remove(kube_map *m, const char *key)
{
	kube_map_entry **p = map_slot(m, key, map_hash(key));
	if (!p || !*p)
		return NULL;
	kube_map_entry *e = *p;
	void *v = e->value;
	*p = e->next;
	free(e);
	m->count--;
	return v;
}

int kube_map_foreach(const kube_map *m, int (*fn)(const char *key, void *value, void *payload),
		     void *payload)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		for (kube_map_entry *e = m->buckets[i]; e; e = e->next) {
			int r = fn(e->key, e->value, payload);
			if (r)
				return r;
		}
	}
	return 0;
}
