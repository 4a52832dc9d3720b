/*
 * ctrl.c - the controllers' shared context: options, shared informers
 * with a handler fan-out, and the queue-plus-workers loop every
 * controller runs.
 */
#include "ctrl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define MAX_FANOUT 8
#define SEC 1000000000LL

/* One resource's informer and the handlers of every controller on it. */
struct ctrl_shared {
	kube_informer *inf;
	kube_handlers h[MAX_FANOUT];
	int nh;
	bool started;
};

/* --- indexes ----------------------------------------------------------------- */

static int index_str(const json_t *obj, const char *path, char *out, size_t len)
{
	const char *v = ctrl_str(obj, path);

	if (!v || !*v)
		return 0;
	return snprintf(out, len, "%s", v) < (int)len;
}

static int index_ref(const json_t *obj, const char *path, char *out, size_t len)
{
	const json_t *ref = ctrl_get(obj, path);
	const char *ns = ctrl_str(ref, "namespace"), *name = ctrl_str(ref, "name");

	if (!name || !*name)
		return 0;
	return snprintf(out, len, "%s/%s", ns ? ns : "", name) < (int)len;
}

static int ix_pvc_class(const json_t *o, char *out, size_t len, void *p)
{
	return index_str(o, "spec.storageClassName", out, len);
}

static int ix_pvc_volume(const json_t *o, char *out, size_t len, void *p)
{
	return index_str(o, "spec.volumeName", out, len);
}

static int ix_pv_claim(const json_t *o, char *out, size_t len, void *p)
{
	return index_ref(o, "spec.claimRef", out, len);
}

static int ix_pv_class(const json_t *o, char *out, size_t len, void *p)
{
	return index_str(o, "spec.storageClassName", out, len);
}

static int ix_va_pv(const json_t *o, char *out, size_t len, void *p)
{
	return index_str(o, "spec.source.persistentVolumeName", out, len);
}

static int ix_vs_content(const json_t *o, char *out, size_t len, void *p)
{
	return index_str(o, "status.boundVolumeSnapshotContentName", out, len);
}

static int ix_vsc_snapshot(const json_t *o, char *out, size_t len, void *p)
{
	return index_ref(o, "spec.volumeSnapshotRef", out, len);
}

static int ix_pod_node(const json_t *o, char *out, size_t len, void *p)
{
	return index_str(o, "spec.nodeName", out, len);
}

typedef struct {
	const char *name;
	kube_index_fn fn;
} index_def;

static const struct {
	const kube_resource *res;
	index_def ix[3];
} res_table[CTRL_NRES] = {
	[CTRL_PVC] = { &KUBE_PVCS, { { "class", ix_pvc_class }, { "volume", ix_pvc_volume } } },
	[CTRL_PV] = { &KUBE_PVS, { { "claim", ix_pv_claim }, { "class", ix_pv_class } } },
	[CTRL_SC] = { &KUBE_STORAGECLASSES, { { 0 } } },
	[CTRL_VA] = { &KUBE_VOLUMEATTACHMENTS, { { "pv", ix_va_pv } } },
	[CTRL_VS] = { &KUBE_VOLUMESNAPSHOTS, { { "content", ix_vs_content } } },
	[CTRL_VSC] = { &KUBE_VOLUMESNAPSHOTCONTENTS, { { "snapshot", ix_vsc_snapshot } } },
	[CTRL_VSCLASS] = { &KUBE_VOLUMESNAPSHOTCLASSES, { { 0 } } },
	[CTRL_NODE] = { &KUBE_NODES, { { 0 } } },
	[CTRL_CSINODE] = { &KUBE_CSINODES, { { 0 } } },
	[CTRL_CAPACITY] = { &KUBE_CSISTORAGECAPACITIES, { { 0 } } },
	[CTRL_POD] = { &KUBE_PODS, { { "node", ix_pod_node } } },
};

const kube_resource *ctrl_resource(ctrl_res res)
{
	return res < CTRL_NRES ? res_table[res].res : NULL;
}

/* --- fan-out ------------------------------------------------------------------ */

static void fan_add(const json_t *obj, void *payload)
{
	struct ctrl_shared *s = payload;

	for (int i = 0; i < s->nh; i++)
		if (s->h[i].on_add)
			s->h[i].on_add(obj, s->h[i].payload);
}

static void fan_update(const json_t *old_obj, const json_t *new_obj, void *payload)
{
	struct ctrl_shared *s = payload;

	for (int i = 0; i < s->nh; i++)
		if (s->h[i].on_update)
			s->h[i].on_update(old_obj, new_obj, s->h[i].payload);
}

static void fan_delete(const json_t *obj, void *payload)
{
	struct ctrl_shared *s = payload;

	for (int i = 0; i < s->nh; i++)
		if (s->h[i].on_delete)
			s->h[i].on_delete(obj, s->h[i].payload);
}

/* managedFields are for server-side apply; no controller reads them, and
 * they are most of an object's bytes. */
static json_t *trim_managed(json_t *obj, void *payload)
{
	json_t *md = json_object_get(obj, "metadata");

	if (md) {
		json_object_del(md, "managedFields");
		json_object_del(md, "selfLink");
	}
	/* last-applied-configuration repeats the object: drop it too. */
	json_object_del(json_object_get(md, "annotations"),
			"kubectl.kubernetes.io/last-applied-configuration");
	return json_incref(obj);
}

/* --- the context ---------------------------------------------------------------- */

void ctrl_opts_default(ctrl_opts *o)
{
	*o = (ctrl_opts){
		.workers = 16,
		.provision_timeout_ns = 300 * SEC,
		.delete_timeout_ns = 120 * SEC,
		.expand_timeout_ns = 180 * SEC,
		.attach_timeout_ns = 120 * SEC,
		.snapshot_timeout_ns = 300 * SEC,
		.capacity_poll_ns = 60 * SEC,
		.retry_base_ns = 1 * SEC,
		.retry_max_ns = 300 * SEC,
		.extra_create_metadata = true,
		.capacity_namespace = NULL,
	};
}

int ctrl_ctx_init(ctrl_ctx *ctx, kube_client *kube, kube_recorder *rec, ctrl_csi *csi,
		  dv_metrics *metrics, const ctrl_opts *opt)
{
	char host[64] = "";

	memset(ctx, 0, sizeof(*ctx));
	ctx->kube = kube;
	ctx->rec = rec;
	ctx->csi = csi;
	ctx->metrics = metrics;
	if (opt)
		ctx->opt = *opt;
	else
		ctrl_opts_default(&ctx->opt);
	if (ctx->opt.workers <= 0)
		ctx->opt.workers = 16;
	gethostname(host, sizeof(host) - 1);
	snprintf(ctx->identity, sizeof(ctx->identity), "%s_%ld", host[0] ? host : "dynvol",
		 (long)getpid());
	atomic_init(&ctx->stopping, false);
	pthread_mutex_init(&ctx->loops_lock, NULL);
	return ctx->metrics ? ctrl_metrics_attach(ctx) : 0;
}

void ctrl_ctx_stop_informers(ctrl_ctx *ctx)
{
	for (int r = 0; r < CTRL_NRES; r++)
		if (ctx->shared[r] && ctx->shared[r]->started) {
			kube_informer_stop(ctx->shared[r]->inf);
			ctx->shared[r]->started = false;
		}
}

void ctrl_ctx_destroy(ctrl_ctx *ctx)
{
	if (ctx->metrics)
		ctrl_metrics_detach(ctx);
	ctrl_ctx_stop_informers(ctx);
	for (int r = 0; r < CTRL_NRES; r++) {
		if (!ctx->shared[r])
			continue;
		kube_informer_free(ctx->shared[r]->inf);
		free(ctx->shared[r]);
		ctx->shared[r] = NULL;
	}
	pthread_mutex_destroy(&ctx->loops_lock);
}

int ctrl_watch(ctrl_ctx *ctx, ctrl_res res, const kube_handlers *h)
{
	struct ctrl_shared *s;

	if (res >= CTRL_NRES)
		return -EINVAL;
	s = ctx->shared[res];
	if (!s) {
		kube_informer_opts o = {
			.resource = res_table[res].res,
			.trim = trim_managed,
			.handlers = { fan_add, fan_update, fan_delete, NULL },
		};
		int r;

		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		o.handlers.payload = s;
		r = kube_informer_new(ctx->kube, &o, &s->inf);
		for (int i = 0; r == 0 && i < 3 && res_table[res].ix[i].name; i++)
			r = kube_informer_add_index(s->inf, res_table[res].ix[i].name,
						    res_table[res].ix[i].fn, NULL);
		if (r < 0) {
			kube_informer_free(s->inf);
			free(s);
			return r;
		}
		ctx->shared[res] = s;
	}
	if (!h)
		return 0;
	if (s->started || s->nh >= MAX_FANOUT)
		return -EBUSY;
	s->h[s->nh++] = *h;
	return 0;
}

kube_informer *ctrl_informer(ctrl_ctx *ctx, ctrl_res res)
{
	return res < CTRL_NRES && ctx->shared[res] ? ctx->shared[res]->inf : NULL;
}

int ctrl_ctx_start_informers(ctrl_ctx *ctx, int timeout_ms)
{
	for (int r = 0; r < CTRL_NRES; r++) {
		struct ctrl_shared *s = ctx->shared[r];
		int rc;

		if (!s || s->started)
			continue;
		rc = kube_informer_start(s->inf);
		if (rc < 0)
			return rc;
		s->started = true;
	}
	for (int r = 0; r < CTRL_NRES; r++) {
		struct ctrl_shared *s = ctx->shared[r];

		if (s && !kube_informer_wait_synced(s->inf, timeout_ms)) {
			log_error("controller: the %s informer did not sync in %d ms",
				  res_table[r].res->plural, timeout_ms);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* --- loops ------------------------------------------------------------------------ */

int ctrl_loop_init(ctrl_loop *l, ctrl_ctx *ctx, const char *name, kube_work_fn fn,
		   void *payload)
{
	kube_workqueue_opts o = {
		.name = name,
		.base_delay_ns = ctx->opt.retry_base_ns,
		.max_delay_ns = ctx->opt.retry_max_ns,
		/* The overall bucket of client-go's default controller limiter
		 * throttles bursts of failures, not the first attempts: a
		 * 500-PVC burst must not wait on 10 qps. */
		.qps = 100,
		.burst = 1000,
	};

	*l = (ctrl_loop){ .ctx = ctx, .name = name, .fn = fn, .payload = payload };
	int r = kube_workqueue_new(&o, &l->q);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctx->loops_lock);
	l->next = ctx->loops;
	ctx->loops = l;
	pthread_mutex_unlock(&ctx->loops_lock);
	return 0;
}

int ctrl_loop_run(ctrl_loop *l)
{
	return kube_workqueue_run(l->q, l->ctx->opt.workers, l->fn, l->payload);
}

void ctrl_loop_stop(ctrl_loop *l)
{
	if (l->q)
		kube_workqueue_wait(l->q);
}

void ctrl_loop_destroy(ctrl_loop *l)
{
	if (l->ctx) {
		pthread_mutex_lock(&l->ctx->loops_lock);
		for (ctrl_loop **pp = &l->ctx->loops; *pp; pp = &(*pp)->next)
			if (*pp == l) {
				*pp = l->next;
				break;
			}
		pthread_mutex_unlock(&l->ctx->loops_lock);
	}
	kube_workqueue_free(l->q);
	l->q = NULL;
}

void ctrl_loop_enqueue(ctrl_loop *l, const json_t *obj)
{
	char key[512];

	if (kube_object_key(obj, key, sizeof(key)) == 0)
		kube_workqueue_add(l->q, key);
}

static void loop_on_add(const json_t *obj, void *payload)
{
	ctrl_loop_enqueue(payload, obj);
}

static void loop_on_update(const json_t *old_obj, const json_t *new_obj, void *payload)
{
	ctrl_loop_enqueue(payload, new_obj);
}

kube_handlers ctrl_loop_handlers(ctrl_loop *l)
{
	return (kube_handlers){ loop_on_add, loop_on_update, loop_on_add, l };
}

int ctrl_split_key(const char *key, char *ns, size_t nslen, char *name, size_t namelen)
{
	const char *slash = strchr(key, '/');

	if (!slash) {
		if (nslen)
			ns[0] = '\0';
		return snprintf(name, namelen, "%s", key) < (int)namelen ? 0 : -ENAMETOOLONG;
	}
	if ((size_t)(slash - key) >= nslen)
		return -ENAMETOOLONG;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	return snprintf(name, namelen, "%s", slash + 1) < (int)namelen ? 0 : -ENAMETOOLONG;
}

/* --- metrics ---------------------------------------------------------------------- */

int64_t ctrl_op_begin(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}
