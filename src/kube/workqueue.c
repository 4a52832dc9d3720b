/*
 * workqueue.c - rate-limited, de-duplicating work queue (see workqueue.h).
 *
 * State, under one mutex, as client-go's queue keeps it:
 *   fifo       keys ready to hand out, in order
 *   dirty      keys that need processing (in fifo, or added while being
 *              processed): the de-duplication set
 *   processing keys a worker holds
 *   waiting    key -> time it becomes ready, with a min-heap over the
 *              times (stale heap entries are skipped on pop)
 *   failures   key -> count, for the per-key backoff
 */
#include "workqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "map.h"
#include "ratelimit.h"
#include "strutil.h"

typedef struct fifo_node {
	struct fifo_node *next;
	char key[];
} fifo_node;

typedef struct {
	int64_t ready_ns;
	char *key;
} heap_item;

struct kube_workqueue {
	char *name;
	kube_workqueue_opts opts;
	kube_token_bucket bucket;
	bool has_bucket;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	fifo_node *head, *tail;
	size_t depth;
	kube_map dirty, processing, waiting, failures;
	heap_item *heap;
	size_t heap_len, heap_cap;
	bool shutting_down;
	uint64_t adds, retries;

	pthread_t *workers;
	int nworkers;
	kube_work_fn fn;
	void *fn_payload;
};

/* waiting's values are malloc'd int64_t ready times. */

static int64_t wq_now(kube_workqueue *q)
{
	return q->opts.clock ? q->opts.clock(q->opts.clock_payload) : dv_now_ns();
}

int kube_workqueue_new(const kube_workqueue_opts *opts, kube_workqueue **ret)
{
	kube_workqueue *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	if (opts)
		q->opts = *opts;
	q->name = strdup(q->opts.name ? q->opts.name : "queue");
	if (!q->name) {
		free(q);
		return -ENOMEM;
	}
	q->opts.name = q->name;
	if (q->opts.base_delay_ns <= 0)
		q->opts.base_delay_ns = 1000000000LL;
	if (q->opts.max_delay_ns <= 0)
		q->opts.max_delay_ns = 300LL * 1000000000LL;
	if (q->opts.qps == 0)
		q->opts.qps = 10;
	if (q->opts.burst <= 0)
		q->opts.burst = 100;
	q->has_bucket = q->opts.qps > 0;
	kube_token_bucket_init(&q->bucket, q->has_bucket ? q->opts.qps : 0, q->opts.burst,
			       wq_now(q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	kube_map_init(&q->dirty);
	kube_map_init(&q->processing);
	kube_map_init(&q->waiting);
	kube_map_init(&q->failures);
	*ret = q;
	return 0;
}

static int free_value(const char *key, void *value, void *payload)
{
	(void)key;
	(void)payload;
	free(value);
	return 0;
}

void kube_workqueue_free(kube_workqueue *q)
{
	if (!q)
		return;
	kube_workqueue_wait(q);
	while (q->head) {
		fifo_node *n = q->head;
		q->head = n->next;
		free(n);
	}
	for (size_t i = 0; i < q->heap_len; i++)
		free(q->heap[i].key);
	free(q->heap);
	kube_map_foreach(&q->waiting, free_value, NULL);
	kube_map_clear(&q->dirty);
	kube_map_clear(&q->processing);
	kube_map_clear(&q->waiting);
	kube_map_clear(&q->failures);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	kube_token_bucket_destroy(&q->bucket);
	free(q->name);
	free(q);
}

/* --- the ready queue (lock held) ---------------------------------- */

static int fifo_push(kube_workqueue *q, const char *key)
{
	size_t len = strlen(key);
	fifo_node *n = malloc(sizeof(*n) + len + 1);
	if (!n)
		return -ENOMEM;
	memcpy(n->key, key, len + 1);
	n->next = NULL;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	q->depth++;
	return 0;
}

static char *fifo_pop(kube_workqueue *q)
{
	fifo_node *n = q->head;
	if (!n)
		return NULL;
	q->head = n->next;
	if (!q->head)
		q->tail = NULL;
	q->depth--;
	char *key = strdup(n->key);
	free(n);
	return key;
}

static int add_locked(kube_workqueue *q, const char *key)
{
	if (q->shutting_down || kube_map_has(&q->dirty, key))
		return 0;
	int r = kube_map_put(&q->dirty, key, NULL, NULL);
	if (r < 0)
		return r;
	q->adds++;
	/* A key being processed goes back into the fifo on done. */
	if (kube_map_has(&q->processing, key))
		return 0;
	r = fifo_push(q, key);
	if (r < 0) {
		kube_map_remove(&q->dirty, key);
		return r;
	}
	pthread_cond_signal(&q->cond);
	return 0;
}

int kube_workqueue_add(kube_workqueue *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	int r = add_locked(q, key);
	pthread_mutex_unlock(&q->lock);
	return r;
}

/* --- the waiting heap (lock held) --------------------------------- */

static void heap_swap(heap_item *a, heap_item *b)
{
	heap_item t = *a;
	*a = *b;
	*b = t;
}

static int heap_push(kube_workqueue *q, int64_t ready, const char *key)
{
	if (q->heap_len == q->heap_cap) {
		size_t cap = q->heap_cap ? q->heap_cap * 2 : 16;
		heap_item *h = realloc(q->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		q->heap = h;
		q->heap_cap = cap;
	}
	char *k = strdup(key);
	if (!k)
		return -ENOMEM;
	size_t i = q->heap_len++;
	q->heap[i] = (heap_item){ ready, k };
	while (i > 0 && q->heap[(i - 1) / 2].ready_ns > q->heap[i].ready_ns) {
		heap_swap(&q->heap[(i - 1) / 2], &q->heap[i]);
		i = (i - 1) / 2;
	}
	return 0;
}

static heap_item heap_pop(kube_workqueue *q)
{
	heap_item top = q->heap[0];
	q->heap[0] = q->heap[--q->heap_len];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < q->heap_len && q->heap[l].ready_ns < q->heap[m].ready_ns)
			m = l;
		if (r < q->heap_len && q->heap[r].ready_ns < q->heap[m].ready_ns)
			m = r;
		if (m == i)
			break;
		heap_swap(&q->heap[i], &q->heap[m]);
		i = m;
	}
	return top;
}

/* Moves every key whose time has come into the fifo. */
static void promote_due(kube_workqueue *q, int64_t now)
{
	while (q->heap_len > 0 && q->heap[0].ready_ns <= now) {
		heap_item it = heap_pop(q);
		int64_t *t = kube_map_get(&q->waiting, it.key);
		/* A stale entry: the key's time was moved earlier since. */
		if (t && *t == it.ready_ns) {
			free(kube_map_remove(&q->waiting, it.key));
			if (add_locked(q, it.key) < 0)
				log_error("workqueue %s: out of memory queueing %s", q->name, it.key);
		}
		free(it.key);
	}
}

int kube_workqueue_add_after(kube_workqueue *q, const char *key, int64_t delay_ns)
{
	if (delay_ns <= 0)
		return kube_workqueue_add(q, key);
	pthread_mutex_lock(&q->lock);
	int r = 0;
	if (q->shutting_down)
		goto done;
	int64_t ready = wq_now(q) + delay_ns;
	int64_t *t = kube_map_get(&q->waiting, key);
	if (t && *t <= ready)
		goto done;
	if (!t) {
		t = malloc(sizeof(*t));
		if (!t || (r = kube_map_put(&q->waiting, key, t, NULL)) < 0) {
			free(t);
			r = -ENOMEM;
			goto done;
		}
	}
	*t = ready;
	r = heap_push(q, ready, key);
	/* A waiting get may now have to wake earlier. */
	pthread_cond_broadcast(&q->cond);
done:
	pthread_mutex_unlock(&q->lock);
	return r;
}

/* --- rate limiting ------------------------------------------------- */

int64_t kube_workqueue_when(kube_workqueue *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	uintptr_t failures = (uintptr_t)kube_map_get(&q->failures, key);
	if (kube_map_put(&q->failures, key, (void *)(failures + 1), NULL) < 0)
		log_error("workqueue %s: out of memory counting failures of %s", q->name, key);
	q->retries++;
	pthread_mutex_unlock(&q->lock);
	int64_t item = kube_backoff_delay(q->opts.base_delay_ns, q->opts.max_delay_ns,
					  (unsigned)(failures > 64 ? 64 : failures));
	int64_t overall = q->has_bucket ? kube_token_bucket_reserve(&q->bucket, wq_now(q)) : 0;
	return item > overall ? item : overall;
}

int kube_workqueue_add_rate_limited(kube_workqueue *q, const char *key)
{
	return kube_workqueue_add_after(q, key, kube_workqueue_when(q, key));
}

void kube_workqueue_forget(kube_workqueue *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	kube_map_remove(&q->failures, key);
	pthread_mutex_unlock(&q->lock);
}

unsigned kube_workqueue_num_requeues(kube_workqueue *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	uintptr_t n = (uintptr_t)kube_map_get(&q->failures, key);
	pthread_mutex_unlock(&q->lock);
	return (unsigned)n;
}

/* --- handing out --------------------------------------------------- */

static char *take_locked(kube_workqueue *q)
{
	char *key = fifo_pop(q);
	if (!key)
		return NULL;
	kube_map_remove(&q->dirty, key);
	if (kube_map_put(&q->processing, key, NULL, NULL) < 0)
		log_error("workqueue %s: out of memory marking %s", q->name, key);
	return key;
}

bool kube_workqueue_try_get(kube_workqueue *q, char **ret_key)
{
	pthread_mutex_lock(&q->lock);
	promote_due(q, wq_now(q));
	char *key = take_locked(q);
	pthread_mutex_unlock(&q->lock);
	if (!key)
		return false;
	*ret_key = key;
	return true;
}

static void deadline_in(struct timespec *ts, int64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	int64_t t = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + ns;
	ts->tv_sec = t / 1000000000LL;
	ts->tv_nsec = t % 1000000000LL;
}

bool kube_workqueue_get(kube_workqueue *q, char **ret_key)
{
	pthread_mutex_lock(&q->lock);
	char *key = NULL;
	for (;;) {
		int64_t now = wq_now(q);
		promote_due(q, now);
		key = take_locked(q);
		if (key || q->shutting_down)
			break;
		if (q->heap_len == 0 && !q->opts.clock) {
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		int64_t wait = q->heap_len ? q->heap[0].ready_ns - now : 10000000;
		if (q->opts.clock && wait > 10000000)
			wait = 10000000;
		struct timespec ts;
		deadline_in(&ts, wait);
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	}
	pthread_mutex_unlock(&q->lock);
	if (!key)
		return false;
	*ret_key = key;
	return true;
}

void kube_workqueue_done(kube_workqueue *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	kube_map_remove(&q->processing, key);
	/* Added while it was processed: its turn comes again now. */
	if (kube_map_has(&q->dirty, key)) {
		if (fifo_push(q, key) == 0)
			pthread_cond_signal(&q->cond);
		else
			log_error("workqueue %s: out of memory requeueing %s", q->name, key);
	}
	pthread_mutex_unlock(&q->lock);
}

void kube_workqueue_shutdown(kube_workqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->shutting_down = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

bool kube_workqueue_shutting_down(kube_workqueue *q)
{
	pthread_mutex_lock(&q->lock);
	bool s = q->shutting_down;
	pthread_mutex_unlock(&q->lock);
	return s;
}

void kube_workqueue_get_stats(kube_workqueue *q, kube_workqueue_stats *out)
{
	pthread_mutex_lock(&q->lock);
	out->depth = q->depth;
	out->waiting = q->waiting.count;
	out->processing = q->processing.count;
	out->adds = q->adds;
	out->retries = q->retries;
	pthread_mutex_unlock(&q->lock);
}

/* --- workers ------------------------------------------------------- */

static void *worker_main(void *arg)
{
	kube_workqueue *q = arg;
	char *key;
	while (kube_workqueue_get(q, &key)) {
		int64_t r = q->fn(key, q->fn_payload);
		if (r < 0) {
			kube_workqueue_add_rate_limited(q, key);
		} else {
			kube_workqueue_forget(q, key);
			if (r > 0)
				kube_workqueue_add_after(q, key, r);
		}
		kube_workqueue_done(q, key);
		free(key);
	}
	return NULL;
}

int kube_workqueue_run(kube_workqueue *q, int n, kube_work_fn fn, void *payload)
{
	if (q->workers || n <= 0)
		return -EINVAL;
	q->workers = calloc((size_t)n, sizeof(*q->workers));
	if (!q->workers)
		return -ENOMEM;
	q->fn = fn;
	q->fn_payload = payload;
	for (int i = 0; i < n; i++) {
		int r = pthread_create(&q->workers[i], NULL, worker_main, q);
		if (r != 0) {
			q->nworkers = i;
			kube_workqueue_wait(q);
			return -r;
		}
	}
	q->nworkers = n;
	return 0;
}

void kube_workqueue_wait(kube_workqueue *q)
{
	kube_workqueue_shutdown(q);
	for (int i = 0; i < q->nworkers; i++)
		pthread_join(q->workers[i], NULL);
	free(q->workers);
	q->workers = NULL;
	q->nworkers = 0;
}
