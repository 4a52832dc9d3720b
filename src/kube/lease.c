/*
 * lease.c - Lease-based leader election (see lease.h).
 */
#include "lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ratelimit.h"
#include "strutil.h"

struct kube_leader {
	kube_client *client;
	kube_leader_opts opts;
	char *namespace, *name, *identity;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; stop */
	bool stopping, leading;
	/* Elector thread only: what we last saw. */
	char observed_holder[256];
	char observed_rv[32];
	int64_t observed_ns;
};

void kube_micro_time(char *out, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%06ldZ", base, ts.tv_nsec / 1000);
}

static bool wait_or_stop(kube_leader *l, int64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + ns;
	ts.tv_sec = t / 1000000000LL;
	ts.tv_nsec = t % 1000000000LL;
	pthread_mutex_lock(&l->lock);
	while (!l->stopping) {
		if (pthread_cond_timedwait(&l->cond, &l->lock, &ts) == ETIMEDOUT)
			break;
	}
	bool s = l->stopping;
	pthread_mutex_unlock(&l->lock);
	return s;
}

static json_t *lease_spec(kube_leader *l, const char *holder, const char *acquire,
			  long transitions, int duration_s)
{
	char now[40];
	kube_micro_time(now, sizeof(now));
	return json_pack("{s:s, s:i, s:s, s:s, s:i}", "holderIdentity", holder,
			 "leaseDurationSeconds", duration_s, "acquireTime", acquire ? acquire : now,
			 "renewTime", now, "leaseTransitions", (int)transitions);
}

static int lease_seconds(const kube_leader *l)
{
	int64_t s = l->opts.lease_duration_ns / 1000000000LL;
	return s < 1 ? 1 : (int)s;
}

static void observe(kube_leader *l, const char *holder, const char *rv)
{
	if (strcmp(l->observed_holder, holder) != 0 || strcmp(l->observed_rv, rv) != 0) {
		bool new_holder = strcmp(l->observed_holder, holder) != 0;
		snprintf(l->observed_holder, sizeof(l->observed_holder), "%s", holder);
		snprintf(l->observed_rv, sizeof(l->observed_rv), "%s", rv);
		l->observed_ns = dv_now_ns();
		if (new_holder && *holder && l->opts.on_new_leader)
			l->opts.on_new_leader(holder, l->opts.payload);
	}
}

/* One attempt: true when we hold the Lease afterwards. */
static bool try_acquire_or_renew(kube_leader *l)
{
	kube_response resp = { 0 };
	bool ok = false;
	int r = kube_get(l->client, &KUBE_LEASES, l->namespace, l->name, &resp);
	if (r == 404) {
		json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion",
					"coordination.k8s.io/v1", "kind", "Lease", "metadata",
					"name", l->name, "namespace", l->namespace, "spec",
					lease_spec(l, l->identity, NULL, 0, lease_seconds(l)));
		r = obj ? kube_create(l->client, &KUBE_LEASES, l->namespace, obj, &resp) : -ENOMEM;
		json_decref(obj);
		ok = r == 201 || r == 200;
		if (ok) {
			const char *rv = json_string_value(json_object_get(
				json_object_get(resp.body, "metadata"), "resourceVersion"));
			observe(l, l->identity, rv ? rv : "");
		}
		goto done;
	}
	if (r != 200)
		goto done;
	json_t *obj = resp.body;
	json_t *spec = json_object_get(obj, "spec");
	const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	observe(l, holder ? holder : "", rv ? rv : "");
	bool mine = holder && strcmp(holder, l->identity) == 0;
	int64_t dur_ns = (int64_t)json_integer_value(json_object_get(spec, "leaseDurationSeconds")) *
			 1000000000LL;
	if (dur_ns <= 0)
		dur_ns = l->opts.lease_duration_ns;
	if (!mine && holder && *holder && dv_now_ns() < l->observed_ns + dur_ns)
		goto done; /* held by someone else and not expired */
	const char *acquire = json_string_value(json_object_get(spec, "acquireTime"));
	long transitions = (long)json_integer_value(json_object_get(spec, "leaseTransitions"));
	json_t *nspec = lease_spec(l, l->identity, mine ? acquire : NULL,
				   mine ? transitions : transitions + 1, lease_seconds(l));
	json_t *upd = json_deep_copy(obj);
	if (!nspec || !upd) {
		json_decref(nspec);
		json_decref(upd);
		goto done;
	}
	json_object_set_new(upd, "spec", nspec);
	r = kube_update(l->client, &KUBE_LEASES, l->namespace, upd, &resp);
	json_decref(upd);
	ok = r == 200;
	if (ok) {
		rv = json_string_value(json_object_get(json_object_get(resp.body, "metadata"),
						       "resourceVersion"));
		observe(l, l->identity, rv ? rv : "");
	}
done:
	kube_response_clear(&resp);
	return ok;
}

static void set_leading(kube_leader *l, bool leading)
{
	pthread_mutex_lock(&l->lock);
	l->leading = leading;
	pthread_mutex_unlock(&l->lock);
	if (leading && l->opts.on_started_leading)
		l->opts.on_started_leading(l->opts.payload);
	if (!leading && l->opts.on_stopped_leading)
		l->opts.on_stopped_leading(l->opts.payload);
}

/* Gives the Lease up on stop, so a successor takes over at once. */
static void release(kube_leader *l)
{
	kube_response resp = { 0 };
	if (kube_get(l->client, &KUBE_LEASES, l->namespace, l->name, &resp) == 200) {
		json_t *spec = json_object_get(resp.body, "spec");
		const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
		if (holder && strcmp(holder, l->identity) == 0) {
			json_t *upd = json_deep_copy(resp.body);
			json_t *ns = json_object_get(upd, "spec");
			json_object_set_new(ns, "holderIdentity", json_string(""));
			json_object_set_new(ns, "leaseDurationSeconds", json_integer(1));
			kube_update(l->client, &KUBE_LEASES, l->namespace, upd, &resp);
			json_decref(upd);
		}
	}
	kube_response_clear(&resp);
}

static void *elector_main(void *arg)
{
	kube_leader *l = arg;
	int64_t retry = l->opts.retry_period_ns;
	/* No attempt may outlast the renew deadline (client-go's rule). */
	kube_client_set_thread_timeout((int)(l->opts.renew_deadline_ns / 1000000));
	while (!wait_or_stop(l, 0)) {
		if (!try_acquire_or_renew(l)) {
			if (wait_or_stop(l, kube_jitter(retry, 0.2) + retry / 5))
				break;
			continue;
		}
		log_info("kube lease %s/%s: %s became leader", l->namespace, l->name, l->identity);
		set_leading(l, true);
		int64_t last_renew = dv_now_ns();
		bool stop = false;
		while (!(stop = wait_or_stop(l, retry))) {
			if (try_acquire_or_renew(l)) {
				last_renew = dv_now_ns();
				continue;
			}
			if (dv_now_ns() - last_renew > l->opts.renew_deadline_ns)
				break;
		}
		if (stop) {
			release(l);
			set_leading(l, false);
			break;
		}
		log_warn("kube lease %s/%s: %s lost leadership (no renewal within the deadline)",
			 l->namespace, l->name, l->identity);
		set_leading(l, false);
	}
	return NULL;
}

int kube_leader_start(kube_client *c, const kube_leader_opts *opts, kube_leader **ret)
{
	kube_leader *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->client = c;
	l->opts = *opts;
	if (l->opts.lease_duration_ns <= 0)
		l->opts.lease_duration_ns = 15LL * 1000000000LL;
	if (l->opts.renew_deadline_ns <= 0)
		l->opts.renew_deadline_ns = 10LL * 1000000000LL;
	if (l->opts.retry_period_ns <= 0)
		l->opts.retry_period_ns = 2LL * 1000000000LL;
	l->namespace = strdup(opts->namespace);
	l->name = strdup(opts->name);
	l->identity = strdup(opts->identity);
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);
	int r = (!l->namespace || !l->name || !l->identity) ? -ENOMEM : 0;
	if (r == 0)
		r = -pthread_create(&l->thread, NULL, elector_main, l);
	if (r < 0) {
		free(l->namespace);
		free(l->name);
		free(l->identity);
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->cond);
		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

bool kube_leader_is_leader(kube_leader *l)
{
	pthread_mutex_lock(&l->lock);
	bool b = l->leading;
	pthread_mutex_unlock(&l->lock);
	return b;
}

void kube_leader_stop(kube_leader *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l->namespace);
	free(l->name);
	free(l->identity);
	free(l);
}
