/*
 * workqueue.h - a controller's rate-limited queue of string keys
 * ("namespace/name"), with client-go's workqueue semantics:
 *
 * - de-duplication: a key added while it is already queued is queued once;
 * - one worker per key: a key added while a worker processes it is not
 *   handed to another worker; it is queued again when the first calls
 *   kube_workqueue_done, so the newest state is always processed after;
 * - delays: add_after puts a key aside until its time (an earlier time
 *   wins over a later one for a key already waiting);
 * - rate limiting (add_rate_limited): the longer of a per-key exponential
 *   backoff (base doubling to max: 1 s to 5 min by default, as
 *   external-provisioner's) and a token bucket shared by all keys (10 qps,
 *   burst 100: client-go's default controller rate limiter). forget resets
 *   a key's backoff after success.
 *
 * Thread-safe. The clock may be replaced (tests); with a replaced clock a
 * waiting get re-checks it every 10 ms of real time.
 */
#ifndef DYNVOL_KUBE_WORKQUEUE_H
#define DYNVOL_KUBE_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kube_workqueue kube_workqueue;

typedef int64_t (*kube_clock_fn)(void *payload);

typedef struct {
	const char *name;	/* for logs; copied */
	int64_t base_delay_ns;	/* <= 0: 1 s */
	int64_t max_delay_ns;	/* <= 0: 5 min */
	double qps;		/* overall bucket; 0: 10; < 0: none */
	int burst;		/* <= 0: 100 */
	kube_clock_fn clock;	/* NULL: the monotonic clock */
	void *clock_payload;
} kube_workqueue_opts;

typedef struct {
	size_t depth;	     /* keys ready now */
	size_t waiting;	     /* keys put aside for later */
	size_t processing;   /* keys a worker holds */
	uint64_t adds;	     /* add calls that queued a key */
	uint64_t retries;    /* add_rate_limited calls */
} kube_workqueue_stats;

int kube_workqueue_new(const kube_workqueue_opts *opts, kube_workqueue **ret);
/* Shuts down, waits for kube_workqueue_run's workers, frees. NULL-safe. */
void kube_workqueue_free(kube_workqueue *q);

/* Queues key now. Ignored after shutdown. 0 or -ENOMEM. */
int kube_workqueue_add(kube_workqueue *q, const char *key);
int kube_workqueue_add_after(kube_workqueue *q, const char *key, int64_t delay_ns);
/* Queues key after its rate-limited delay (and counts a failure). */
int kube_workqueue_add_rate_limited(kube_workqueue *q, const char *key);
/* The delay add_rate_limited would use now; counts a failure, like it. */
int64_t kube_workqueue_when(kube_workqueue *q, const char *key);
/* Clears key's failures (after it was processed successfully). */
void kube_workqueue_forget(kube_workqueue *q, const char *key);
/* Failures counted for key since its last forget. */
unsigned kube_workqueue_num_requeues(kube_workqueue *q, const char *key);

/* Blocks for the next key (the caller frees it and must call done).
 * Returns false once shut down and no key is left ready. */
bool kube_workqueue_get(kube_workqueue *q, char **ret_key);
/* Like get without waiting: false when no key is ready. */
bool kube_workqueue_try_get(kube_workqueue *q, char **ret_key);
/* The worker finished key; re-queues it when it was added meanwhile. */
void kube_workqueue_done(kube_workqueue *q, const char *key);

/* Stops accepting keys; get returns what is ready, then false. */
void kube_workqueue_shutdown(kube_workqueue *q);
bool kube_workqueue_shutting_down(kube_workqueue *q);
void kube_workqueue_get_stats(kube_workqueue *q, kube_workqueue_stats *out);

/* What a worker function returns: 0 = success (forget), < 0 = failure
 * (re-queue rate-limited), > 0 = success, process again after that many
 * nanoseconds (periodic re-checks). */
typedef int64_t (*kube_work_fn)(const char *key, void *payload);

/* Starts n worker threads running fn over the queue until shutdown.
 * Once per queue. kube_workqueue_free (or _wait) joins them. */
int kube_workqueue_run(kube_workqueue *q, int n, kube_work_fn fn, void *payload);
/* Shuts down and waits for the workers to finish their current keys. */
void kube_workqueue_wait(kube_workqueue *q);

#endif
