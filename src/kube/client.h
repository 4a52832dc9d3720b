/*
 * client.h - a Kubernetes REST API client on libcurl and jansson, shared
 * by every controller thread.
 *
 * Thread-safe: requests from any thread take a curl easy handle from a
 * pool and give it back, so each handle's connection stays open between
 * requests (HTTP/1.1 keep-alive; HTTP/2 when the server offers it through
 * ALPN). Every request first takes a token from the client's QPS/burst
 * bucket (client-go's --kube-api-qps/--kube-api-burst) and is bounded by
 * the per-request timeout. Watches (informer.h) run on their own handles
 * from kube_client_watch_handle, driven by curl's multi interface.
 *
 * Requests return the HTTP status (> 0), or a negative errno when no
 * response came (connection refused, timeout: -ETIMEDOUT, TLS failure),
 * and fill a kube_response with the parsed body and, for errors, the
 * Status message and reason the server gave.
 *
 * The bearer token and client key are never logged; the token is re-read
 * from its file (rotated service account tokens) at most once a minute.
 */
#ifndef DYNVOL_KUBE_CLIENT_H
#define DYNVOL_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kubeconfig.h"

typedef struct kube_client kube_client;

/* Called after every request (status 0: no response), from the thread
 * that made it: the metrics' rest_client_requests_total. */
typedef void (*kube_observe_fn)(const char *method, long status, int64_t duration_ns,
				void *payload);

typedef struct {
	double qps;		/* <= 0: client-go's default 5; < 0 is not allowed */
	int burst;		/* <= 0: 10 */
	bool unlimited;		/* no client-side rate limit at all */
	int timeout_ms;		/* per request; <= 0: 30 s */
	const char *user_agent; /* NULL: "dynvol/<version>" */
	size_t max_body;	/* response bodies past this fail; 0: 64 MiB */
	kube_observe_fn observe; /* may be NULL */
	void *observe_payload;
} kube_client_opts;

typedef struct {
	long status;	   /* HTTP status; 0 when no response came */
	json_t *body;	   /* the parsed JSON body, or NULL; owned */
	char reason[64];   /* a Status body's reason ("NotFound", "Conflict", ...) */
	char message[512]; /* a Status body's message, or the transport error */
} kube_response;

/* Frees the body and empties the response (safe on a zeroed one). */
void kube_response_clear(kube_response *resp);

/* The resource a path names: group "" is the core group (/api/v1). */
typedef struct {
	const char *group;
	const char *version;
	const char *plural;
	const char *kind;
	bool namespaced;
} kube_resource;

extern const kube_resource KUBE_NAMESPACES, KUBE_PVCS, KUBE_PVS, KUBE_PODS, KUBE_NODES,
	KUBE_SECRETS, KUBE_CONFIGMAPS, KUBE_EVENTS, KUBE_STORAGECLASSES, KUBE_CSIDRIVERS,
	KUBE_CSINODES, KUBE_VOLUMEATTACHMENTS, KUBE_CSISTORAGECAPACITIES, KUBE_LEASES,
	KUBE_VOLUMESNAPSHOTS, KUBE_VOLUMESNAPSHOTCONTENTS, KUBE_VOLUMESNAPSHOTCLASSES;

typedef enum {
	KUBE_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
	KUBE_PATCH_JSON,      /* application/json-patch+json (RFC 6902) */
	KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
} kube_patch_type;

/* Copies what it needs from cfg (which the caller may free after). */
int kube_client_new(const kube_config *cfg, const kube_client_opts *opts, kube_client **ret);
/* Frees the client; no request may be in flight. NULL-safe. */
void kube_client_free(kube_client *c);

/* "/api/v1/namespaces/ns/persistentvolumeclaims/name/status" and the like.
 * ns is ignored for cluster-scoped resources; name and sub may be NULL;
 * ns NULL on a namespaced resource lists across all namespaces. Returns 0
 * or -ENAMETOOLONG. Names are used as given: callers pass valid names. */
int kube_path(char *out, size_t len, const kube_resource *res, const char *ns, const char *name,
	      const char *sub);

/* One request to path (with its query). body may be NULL; content_type
 * NULL means application/json. */
int kube_request(kube_client *c, const char *method, const char *path, const char *content_type,
		 const json_t *body, kube_response *resp);

int kube_get(kube_client *c, const kube_resource *res, const char *ns, const char *name,
	     kube_response *resp);
/* query: "labelSelector=a%3Db&limit=500" or NULL, already URL-encoded. */
int kube_list(kube_client *c, const kube_resource *res, const char *ns, const char *query,
	      kube_response *resp);
int kube_create(kube_client *c, const kube_resource *res, const char *ns, const json_t *obj,
		kube_response *resp);
/* PUT of obj to its metadata.name (and namespace, when ns is NULL); with
 * metadata.resourceVersion set this is a compare-and-swap (409 if stale). */
int kube_update(kube_client *c, const kube_resource *res, const char *ns, const json_t *obj,
		kube_response *resp);
int kube_update_status(kube_client *c, const kube_resource *res, const char *ns,
		       const json_t *obj, kube_response *resp);
/* sub: NULL or "status". */
int kube_patch(kube_client *c, const kube_resource *res, const char *ns, const char *name,
	       const char *sub, kube_patch_type type, const json_t *patch, kube_response *resp);
/* opts: a DeleteOptions body (preconditions, propagationPolicy) or NULL. */
int kube_delete(kube_client *c, const kube_resource *res, const char *ns, const char *name,
		const json_t *opts, kube_response *resp);

/* Changes obj in place for kube_update_retry: 0 to write it, 1 when it
 * already is as wanted (nothing is written), < 0 to give up with that
 * error. Called again on a fresh copy after each conflict. */
typedef int (*kube_mutate_fn)(json_t *obj, void *payload);

/* Read-modify-write with optimistic concurrency: GET, mutate, PUT (or PUT
 * /status when status is true) with the read resourceVersion; on 409
 * pause (10 ms doubling, jittered, capped at 1 s), re-read and re-apply,
 * up to attempts times (<= 0: 5). Returns the last
 * HTTP status (200 on success, also when mutate returned 1), mutate's
 * negative error, or a negative errno; resp holds the final object. */
int kube_update_retry(kube_client *c, const kube_resource *res, const char *ns, const char *name,
		      bool status, int attempts, kube_mutate_fn mutate, void *payload,
		      kube_response *resp);

/* Bounds the requests the calling thread makes from now on to timeout_ms
 * (<= 0: back to the client's timeout), whichever client they use. The
 * lease elector bounds each attempt by its renew deadline this way, so a
 * hung server cannot keep a leader believing it leads past its lease. */
void kube_client_set_thread_timeout(int timeout_ms);

/* Counters since kube_client_new. */
typedef struct {
	uint64_t requests;	 /* completed or failed requests */
	uint64_t by_class[6];	 /* [0] no response, [1..5] 1xx..5xx */
	uint64_t connects;	 /* new connections opened (reuse keeps this low) */
	uint64_t throttled_ns;	 /* total time waited on the QPS bucket */
	uint64_t conflict_retries; /* re-reads made by kube_update_retry */
} kube_client_stats;

void kube_client_get_stats(kube_client *c, kube_client_stats *out);

/* The default namespace of the configuration ("default" when none). */
const char *kube_client_namespace(const kube_client *c);

/* For informers: a new easy handle set up for a GET of path with the
 * client's TLS, authentication and user agent, no overall timeout (the
 * stream is long) but an abort after low_speed_s seconds without a byte.
 * The caller sets the write callback, owns both the handle and *headers
 * (curl_slist_free_all after curl_easy_cleanup). Takes a QPS token. */
CURL *kube_client_watch_handle(kube_client *c, const char *path, int low_speed_s,
			       struct curl_slist **headers);
/* Records a finished watch's status and connection count in the stats. */
void kube_client_note_watch(kube_client *c, CURL *h, long status);

/* Fills resp->reason/message from a Status body, else from the text. */
void kube_response_set_error(kube_response *resp, const char *text, size_t len);

#endif
