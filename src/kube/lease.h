/*
 * lease.h - leader election on a coordination.k8s.io/v1 Lease, as
 * client-go's leaderelection package does it:
 *
 * - try to acquire every retryPeriod: create the Lease, or take it over
 *   when its holder has not renewed it for leaseDuration (measured on our
 *   own clock from when we last saw the record change, never from the
 *   holder's timestamps, so clock skew between hosts does not matter);
 * - as leader, renew every retryPeriod; when no renewal succeeded for
 *   renewDeadline, leadership is lost (on_stopped_leading) and the
 *   elector goes back to trying; each attempt's requests are bounded by
 *   renewDeadline, so a hung API server cannot stretch it;
 * - every write is a PUT with the read resourceVersion: of two
 *   contenders only one wins, the other is answered 409;
 * - kube_leader_stop releases a held Lease (holderIdentity cleared,
 *   leaseDurationSeconds 1) so a successor need not wait.
 *
 * Callbacks run on the elector's thread.
 */
#ifndef DYNVOL_KUBE_LEASE_H
#define DYNVOL_KUBE_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"

typedef struct kube_leader kube_leader;

typedef struct {
	const char *namespace; /* the Lease's */
	const char *name;
	const char *identity;  /* holderIdentity: unique per process (host + pid) */
	int64_t lease_duration_ns; /* <= 0: 15 s */
	int64_t renew_deadline_ns; /* <= 0: 10 s */
	int64_t retry_period_ns;   /* <= 0: 2 s */
	void (*on_started_leading)(void *payload);
	void (*on_stopped_leading)(void *payload);
	void (*on_new_leader)(const char *identity, void *payload); /* may be NULL */
	void *payload;
} kube_leader_opts;

int kube_leader_start(kube_client *c, const kube_leader_opts *opts, kube_leader **ret);
bool kube_leader_is_leader(kube_leader *l);
/* Stops the elector, releasing the Lease when held (on_stopped_leading
 * is called), and frees. NULL-safe. */
void kube_leader_stop(kube_leader *l);

/* metav1.MicroTime of the realtime clock: "2026-01-02T15:04:05.123456Z". */
void kube_micro_time(char *out, size_t len);

#endif
