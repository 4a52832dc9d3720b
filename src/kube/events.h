/*
 * events.h - recording core/v1 Events on objects (ProvisioningSucceeded,
 * ProvisioningFailed, ...) the way client-go's EventRecorder does:
 *
 * - asynchronous: kube_event copies its arguments into a bounded queue
 *   and returns at once; a recorder thread writes them. When the queue is
 *   full the event is dropped (and counted), never the caller blocked;
 * - aggregated: a repeat of the same (object, type, reason, message) from
 *   this recorder does not create a new Event but bumps count and
 *   lastTimestamp on the first one with a merge patch (a new one is
 *   created if it was deleted meanwhile);
 * - messages are cut to 1024 bytes and pass through kube_redact, so a
 *   registered secret never reaches the API.
 */
#ifndef DYNVOL_KUBE_EVENTS_H
#define DYNVOL_KUBE_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "client.h"

#define KUBE_EVENT_NORMAL "Normal"
#define KUBE_EVENT_WARNING "Warning"
#define KUBE_EVENT_MESSAGE_MAX 1024

typedef struct kube_recorder kube_recorder;

/* The involvedObject of an Event. kind and name are required. */
typedef struct {
	const char *kind;
	const char *api_version;
	const char *namespace; /* NULL/"" for cluster-scoped: the Event goes to "default" */
	const char *name;
	const char *uid;
	const char *resource_version;
} kube_object_ref;

/* component is source.component / reportingComponent ("dynvol-provisioner");
 * host is source.host (NULL: none). Starts the recorder thread. */
int kube_recorder_new(kube_client *c, const char *component, const char *host,
		      kube_recorder **ret);
/* Writes what is queued (up to 5 s), stops, frees. NULL-safe. */
void kube_recorder_free(kube_recorder *rec);

/* type: KUBE_EVENT_NORMAL or KUBE_EVENT_WARNING. Never blocks on I/O. */
void kube_event(kube_recorder *rec, const kube_object_ref *ref, const char *type,
		const char *reason, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same, for an object as read from the API (kind and apiVersion
 * from the object when present, else the ones given). */
void kube_event_on(kube_recorder *rec, const json_t *obj, const char *kind,
		   const char *api_version, const char *type, const char *reason,
		   const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Waits up to timeout_ms until everything queued was written. */
bool kube_recorder_flush(kube_recorder *rec, int timeout_ms);

typedef struct {
	uint64_t created;    /* Events created */
	uint64_t aggregated; /* repeats written as count++ patches */
	uint64_t dropped;    /* queue full */
	uint64_t failed;     /* the API refused or was unreachable */
} kube_recorder_stats;

void kube_recorder_get_stats(kube_recorder *rec, kube_recorder_stats *out);

#endif
