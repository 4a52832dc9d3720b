/*
 * ratelimit.c - token bucket and exponential backoff (see ratelimit.h).
 */
#include "ratelimit.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "strutil.h"

void kube_token_bucket_init(kube_token_bucket *tb, double qps, int burst, int64_t now_ns)
{
	pthread_mutex_init(&tb->lock, NULL);
	tb->qps = qps;
	tb->burst = burst < 1 ? 1 : burst;
	tb->tokens = tb->burst;
	tb->last_ns = now_ns;
}

void kube_token_bucket_destroy(kube_token_bucket *tb)
{
	pthread_mutex_destroy(&tb->lock);
}

int64_t kube_token_bucket_reserve(kube_token_bucket *tb, int64_t now_ns)
{
	if (tb->qps <= 0)
		return 0;
	pthread_mutex_lock(&tb->lock);
	/* A clock that goes back (another thread reserved with a later
	 * reading) refills nothing rather than draining. */
	if (now_ns > tb->last_ns) {
		tb->tokens += (double)(now_ns - tb->last_ns) / 1e9 * tb->qps;
		if (tb->tokens > tb->burst)
			tb->tokens = tb->burst;
		tb->last_ns = now_ns;
	}
	tb->tokens -= 1;
	int64_t wait = 0;
	if (tb->tokens < 0) {
		double t = -tb->tokens / tb->qps * 1e9;
		wait = (int64_t)t + (now_ns < tb->last_ns ? tb->last_ns - now_ns : 0);
	}
	pthread_mutex_unlock(&tb->lock);
	return wait;
}

void kube_token_bucket_wait(kube_token_bucket *tb)
{
	int64_t wait = kube_token_bucket_reserve(tb, dv_now_ns());
	if (wait > 0)
		kube_sleep_ns(wait);
}

int64_t kube_backoff_delay(int64_t base_ns, int64_t max_ns, unsigned failures)
{
	int64_t d = base_ns;
	for (unsigned i = 0; i < failures && d < max_ns; i++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	return d > max_ns ? max_ns : d;
}

int64_t kube_jitter(int64_t delay_ns, double jitter)
{
	if (jitter <= 0)
		return delay_ns;
	if (jitter > 1)
		jitter = 1;
	/* random() is thread-safe in glibc; quality does not matter here. */
	double f = 1.0 - jitter + 2.0 * jitter * ((double)random() / (double)RAND_MAX);
	return (int64_t)((double)delay_ns * f);
}

void kube_sleep_ns(int64_t ns)
{
	if (ns <= 0)
		return;
	struct timespec ts = { .tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}
