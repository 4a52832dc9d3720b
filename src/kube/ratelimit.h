/*
 * ratelimit.h - the two rate limiters client-go's controllers use, as pure
 * arithmetic on a clock the caller passes in (so tests need no sleeping):
 *
 * - a token bucket (qps tokens per second, at most burst saved up), used
 *   for the API client's --kube-api-qps/--kube-api-burst and the work
 *   queue's overall limit; a reservation returns how long to wait, so
 *   callers block without holding the bucket's lock;
 * - per-item exponential backoff: base * 2^failures, capped.
 *
 * The bucket is thread-safe (its own mutex); the backoff is a function.
 */
#ifndef DYNVOL_KUBE_RATELIMIT_H
#define DYNVOL_KUBE_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>

typedef struct {
	pthread_mutex_t lock;
	double qps;	/* <= 0: unlimited */
	double burst;	/* >= 1 */
	double tokens;	/* may go negative: reservations in the future */
	int64_t last_ns; /* clock of the last refill */
} kube_token_bucket;

/* A full bucket. qps <= 0 disables limiting; burst < 1 is taken as 1. */
void kube_token_bucket_init(kube_token_bucket *tb, double qps, int burst, int64_t now_ns);
void kube_token_bucket_destroy(kube_token_bucket *tb);

/* Takes one token at now_ns and returns how many nanoseconds the caller
 * must wait before using it (0 when one was available). */
int64_t kube_token_bucket_reserve(kube_token_bucket *tb, int64_t now_ns);

/* Reserves a token on the monotonic clock and sleeps until it is due. */
void kube_token_bucket_wait(kube_token_bucket *tb);

/* base_ns * 2^failures, capped at max_ns (no overflow for any failures). */
int64_t kube_backoff_delay(int64_t base_ns, int64_t max_ns, unsigned failures);

/* delay scaled by a random factor in [1 - jitter, 1 + jitter] (jitter in
 * [0, 1]), so that many clients that failed together do not retry together. */
int64_t kube_jitter(int64_t delay_ns, double jitter);

/* Sleeps for ns nanoseconds (restarting on EINTR). */
void kube_sleep_ns(int64_t ns);

#endif
