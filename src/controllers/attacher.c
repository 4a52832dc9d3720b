/*
 * attacher.c - external-attacher's job: a VolumeAttachment whose
 * spec.attacher is our driver becomes a ControllerPublishVolume and
 * status.attached; a deleted one becomes a ControllerUnpublishVolume and
 * then no VolumeAttachment.
 *
 * Two loops share one state: attachments (VA names) and volumes (PV
 * names).
 *
 * Attach pass, each step repeatable:
 *   1. the volume (the PV the VA names, or its inline spec) and the
 *      node's CSI id (CSINode) are resolved, everything that could fail
 *      is checked before any write;
 *   2. finalizer external-attacher/<driver> on the PV (so the PV outlives
 *      the attachment), then on the VA together with the node id
 *      annotation (so a detach works even when the CSINode is gone);
 *   3. ControllerPublishVolume (idempotent in CSI: publishing again to
 *      the same node is OK with the same context);
 *   4. status: attached, attachmentMetadata = the publish context, no
 *      attachError.
 * A failure is written to status.attachError and retried with backoff.
 *
 * Detach pass: a VA being deleted that holds our finalizer gets
 * ControllerUnpublishVolume, then status.attached false, then the
 * finalizer goes (the API server then deletes it). A failure is
 * status.detachError and a retry.
 *
 * Volume pass: a PV being deleted that holds our finalizer and that no
 * VolumeAttachment names any more loses the finalizer.
 *
 * Reconcile pass (drivers with LIST_VOLUMES_PUBLISHED_NODES, at start and
 * every minute, as upstream's --reconcile-sync): an attached VA whose
 * volume the driver no longer lists as published to the node is attached
 * again (the driver lost it: a restore, a manual unpublish).
 *
 * Drivers without PUBLISH_UNPUBLISH_VOLUME need no attach step at all:
 * as upstream's trivial handler does, their VAs are marked attached
 * without a CSI call or finalizer.
 */
#include "ctrl.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "log.h"

/* Where upstream keeps the node id, for detaching after the CSINode went. */
#define ATT_ANN_NODE_ID "csi.alpha.kubernetes.io/node-id"
#define ATT_ERR_MAX 1024
#define ATT_RECONCILE_KEY "reconcile"
#define ATT_RECONCILE_NS (60 * 1000000000LL)
#define ATT_LIST_PAGE 500

typedef struct {
	ctrl_ctx *ctx;
	ctrl_loop vas;
	ctrl_loop pvs;
	ctrl_loop reconcile;
	char finalizer[320]; /* external-attacher/<sanitized driver name> */
	int list_published;  /* LIST_VOLUMES_PUBLISHED_NODES: -1 not asked yet */
	pthread_mutex_t mu;
	json_t *force; /* VA names to attach again although attached: a set */
} att;

/* What a VolumeAttachment points at. */
typedef struct {
	json_t *pv;	      /* the PV (owned), or NULL for an inline spec */
	const json_t *spec;   /* the PV's spec or the inline spec (borrowed) */
	const json_t *csi;    /* spec.csi */
	const char *handle;   /* csi.volumeHandle */
} att_source;

/* --- small helpers ------------------------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static json_t *cache_get(att *a, ctrl_res res, const char *ns, const char *name)
{
	return kube_informer_get(ctrl_informer(a->ctx, res), ns, name);
}

/* external-attacher's finalizer name: every character outside
 * [a-zA-Z0-9-] becomes '-', and a trailing '-' gets an 'X' (a finalizer
 * must not end with '-'). Upstream and we must agree on it, or a switch
 * between the two would leave attachments nobody can detach. */
static void finalizer_name(const char *driver, char *out, size_t len)
{
	size_t n = 0;
	int w = snprintf(out, len, "external-attacher/");

	if (w < 0 || (size_t)w >= len)
		return;
	n = (size_t)w;
	for (const char *p = driver; *p && n + 2 < len; p++)
		out[n++] = (isalnum((unsigned char)*p) || *p == '-') ? *p : '-';
	if (n > (size_t)w && out[n - 1] == '-')
		out[n++] = 'X';
	out[n] = '\0';
}

typedef struct {
	const char *finalizer;
	bool add;
	const char *ann_key; /* NULL: no annotation */
	const char *ann_value;
} meta_edit;

static int mutate_meta(json_t *obj, void *payload)
{
	const meta_edit *e = payload;
	bool changed = false;

	if (e->finalizer)
		changed = e->add ? ctrl_add_finalizer(obj, e->finalizer)
				 : ctrl_remove_finalizer(obj, e->finalizer);
	if (e->ann_key) {
		json_t *md = json_object_get(obj, "metadata");
		json_t *ann = json_object_get(md, "annotations");

		if (!str_eq(json_string_value(json_object_get(ann, e->ann_key)), e->ann_value)) {
			if (!json_is_object(ann)) {
				ann = json_object();
				json_object_set_new(md, "annotations", ann);
			}
			json_object_set_new(ann, e->ann_key, json_string(e->ann_value));
			changed = true;
		}
	}
	return changed ? 0 : 1;
}

/* Applies e to the object: one merge patch with the cached object's
 * resourceVersion (a compare-and-swap on the finalizer list); a stale
 * cache falls back to read-modify-write. */
static int edit_meta(att *a, const kube_resource *res, const json_t *cached, const meta_edit *e)
{
	const char *name = ctrl_str(cached, "metadata.name");
	kube_response resp = { 0 };
	json_t *copy, *patch, *md;
	int code;

	copy = json_deep_copy(cached);
	if (!copy)
		return -ENOMEM;
	if (mutate_meta(copy, (void *)e) == 1) {
		json_decref(copy);
		return 0;
	}
	patch = json_pack("{s:{s:s}}", "metadata", "resourceVersion",
			  ctrl_str(cached, "metadata.resourceVersion"));
	md = json_object_get(patch, "metadata");
	if (!md) {
		json_decref(copy);
		json_decref(patch);
		return -ENOMEM;
	}
	if (e->finalizer) {
		json_t *f = ctrl_get(copy, "metadata.finalizers");

		/* An empty list must be sent as one, not left out. */
		json_object_set_new(md, "finalizers", f ? json_incref(f) : json_array());
	}
	if (e->ann_key)
		json_object_set_new(md, "annotations",
				    json_pack("{s:s}", e->ann_key, e->ann_value));
	json_decref(copy);
	code = kube_patch(a->ctx->kube, res, NULL, name, NULL, KUBE_PATCH_MERGE, patch, &resp);
	json_decref(patch);
	if (code == 409) {
		kube_response_clear(&resp);
		code = kube_update_retry(a->ctx->kube, res, NULL, name, false, 5, mutate_meta,
					 (void *)e, &resp);
	}
	if (code == 404 && e->finalizer && !e->add)
		code = 200; /* gone: nothing holds it any more */
	if (code != 200)
		log_warn("attacher: cannot update %s %s: %s", res->kind, name,
			 resp.message[0] ? resp.message : "no response");
	kube_response_clear(&resp);
	return code == 200 ? 0 : -EIO;
}

static int set_finalizer(att *a, const kube_resource *res, const json_t *cached, bool add)
{
	meta_edit e = { a->finalizer, add, NULL, NULL };

	if (ctrl_has_finalizer(cached, a->finalizer) == add)
		return 0;
	return edit_meta(a, res, cached, &e);
}

/* A merge patch of the VA's status subresource. */
static int patch_status(att *a, const json_t *va, json_t *status)
{
	kube_response resp = { 0 };
	json_t *patch = json_pack("{s:o}", "status", status);
	int code;

	if (!patch)
		return -ENOMEM;
	code = kube_patch(a->ctx->kube, &KUBE_VOLUMEATTACHMENTS, NULL,
			  ctrl_str(va, "metadata.name"), "status", KUBE_PATCH_MERGE, patch, &resp);
	json_decref(patch);
	if (code != 200)
		log_warn("attacher: cannot update the status of VolumeAttachment %s: %s",
			 ctrl_str(va, "metadata.name"),
			 resp.message[0] ? resp.message : "no response");
	kube_response_clear(&resp);
	return code == 200 ? 0 : -EIO;
}

/* status.attachError or status.detachError, as kubectl describe shows it. */
static void save_error(att *a, const json_t *va, const char *field, const char *msg)
{
	char now[32];

	ctrl_time_now(now, sizeof(now));
	log_warn("attacher: %s: %s", ctrl_str(va, "metadata.name"), msg);
	patch_status(a, va, json_pack("{s:{s:s, s:s}}", field, "time", now, "message", msg));
}

static void rpc_error_text(char *out, size_t len, dv_code code, const dv_status *st)
{
	snprintf(out, len, "rpc error: code = %s desc = %s", dv_code_name(code),
		 st->message ? st->message : "");
}

/* --- what the attachment points at ------------------------------------------------------ */

static void source_clear(att_source *s)
{
	json_decref(s->pv);
	memset(s, 0, sizeof(*s));
}

/* Resolves the VA's volume: the PV from the cache, or the inline spec. */
static int va_source(att *a, const json_t *va, att_source *s, char *err, size_t errlen)
{
	const char *pv_name = ctrl_str(va, "spec.source.persistentVolumeName");
	const json_t *inl = ctrl_get(va, "spec.source.inlineVolumeSpec");
	const char *drv;

	memset(s, 0, sizeof(*s));
	if (pv_name && json_is_object(inl)) {
		snprintf(err, errlen, "both InlineCSIVolumeSource and PersistentVolumeName "
				      "specified in VA source");
		return -1;
	}
	if (pv_name) {
		s->pv = cache_get(a, CTRL_PV, NULL, pv_name);
		if (!s->pv) {
			snprintf(err, errlen, "persistentvolume \"%s\" not found", pv_name);
			return -1;
		}
		s->spec = json_object_get(s->pv, "spec");
	} else if (json_is_object(inl)) {
		s->spec = inl;
	} else {
		snprintf(err, errlen, "neither InlineCSIVolumeSource nor PersistentVolumeName "
				      "specified in VA source");
		return -1;
	}
	s->csi = json_object_get(s->spec, "csi");
	if (!json_is_object(s->csi)) {
		snprintf(err, errlen, "%s%s%s has no CSI volume source",
			 pv_name ? "PersistentVolume \"" : "the inline volume spec",
			 pv_name ? pv_name : "", pv_name ? "\"" : "");
		goto fail;
	}
	drv = ctrl_str(s->csi, "driver");
	if (!str_eq(drv, a->ctx->driver.name)) {
		snprintf(err, errlen, "the volume belongs to CSI driver \"%s\", not \"%s\"",
			 drv ? drv : "", a->ctx->driver.name);
		goto fail;
	}
	s->handle = ctrl_str(s->csi, "volumeHandle");
	if (!s->handle || !*s->handle) {
		snprintf(err, errlen, "the CSI volume source has no volumeHandle");
		goto fail;
	}
	return 0;
fail:
	source_clear(s);
	return -1;
}

/* The node's id for our driver: CSINode first; for a detach (allow_ann)
 * the id recorded on the VA at attach time when the CSINode lost it. */
static int node_id(att *a, const json_t *va, bool allow_ann, char *out, size_t len, char *err,
		   size_t errlen)
{
	const char *node = ctrl_str(va, "spec.nodeName");
	json_t *cn = node ? cache_get(a, CTRL_CSINODE, NULL, node) : NULL;
	const json_t *drivers = ctrl_get(cn, "spec.drivers");
	const char *ann;
	size_t i;
	json_t *d;

	if (!node || !*node) {
		snprintf(err, errlen, "the VolumeAttachment has no spec.nodeName");
		return -1;
	}
	json_array_foreach(drivers, i, d) {
		const char *id = ctrl_str(d, "nodeID");

		if (str_eq(ctrl_str(d, "name"), a->ctx->driver.name) && id && *id) {
			int w = snprintf(out, len, "%s", id);

			json_decref(cn);
			return w > 0 && (size_t)w < len ? 0 : -1;
		}
	}
	if (cn)
		snprintf(err, errlen, "CSINode %s does not contain driver %s", node,
			 a->ctx->driver.name);
	else
		snprintf(err, errlen, "csinode.storage.k8s.io \"%s\" not found", node);
	json_decref(cn);
	ann = json_string_value(json_object_get(ctrl_get(va, "metadata.annotations"),
						ATT_ANN_NODE_ID));
	if (allow_ann && ann && *ann && snprintf(out, len, "%s", ann) < (int)len)
		return 0;
	return -1;
}

/* The PV's controllerPublishSecretRef, loaded (none: empty). */
static int publish_secrets(att *a, const att_source *s, ctrl_secrets *out, char *err,
			   size_t errlen)
{
	const json_t *ref = json_object_get(s->csi, "controllerPublishSecretRef");
	const char *ns = ctrl_str(ref, "namespace"), *name = ctrl_str(ref, "name");
	dv_status st = { 0 };

	memset(out, 0, sizeof(*out));
	if (!json_is_object(ref))
		return 0;
	if (!ns || !*ns || !name || !*name) {
		snprintf(err, errlen, "controllerPublishSecretRef needs a name and a namespace");
		return -1;
	}
	if (ctrl_secrets_load(a->ctx, ns, name, out, &st) < 0) {
		snprintf(err, errlen, "failed to load secret \"%s/%s\": %s", ns, name,
			 st.message ? st.message : "unknown error");
		dv_status_clear(&st);
		return -1;
	}
	return 0;
}

/* --- the volume capability --------------------------------------------------------------- */

typedef struct {
	Csi__V1__VolumeCapability cap;
	Csi__V1__VolumeCapability__AccessMode mode;
	Csi__V1__VolumeCapability__MountVolume mount;
	Csi__V1__VolumeCapability__BlockVolume block;
	char **flags; /* borrowed strings, owned array */
} att_cap;

/* csi-lib-utils' ToCSIAccessMode: the PV's access modes as one CSI mode. */
static int access_mode(att *a, const json_t *modes, char *err, size_t errlen)
{
	static const char *const names[] = { "ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany",
					      "ReadWriteOncePod" };
	bool seen[4] = { false };
	bool multi = a->ctx->driver.single_node_multi_writer;
	const bool *rwo = &seen[0], *rox = &seen[1], *rwx = &seen[2], *rwop = &seen[3];
	size_t i, n = 0;
	json_t *m;

	json_array_foreach(modes, i, m) {
		const char *s = json_string_value(m);
		size_t k = 0;

		while (k < 4 && !str_eq(s, names[k]))
			k++;
		if (k == 4) {
			snprintf(err, errlen, "access mode %s is not supported", s ? s : "(not a string)");
			return -1;
		}
		n += !seen[k];
		seen[k] = true;
	}
	if (*rwop) {
		if (n > 1) {
			snprintf(err, errlen, "ReadWriteOncePod must not be combined with other "
					      "access modes");
			return -1;
		}
		return multi ? CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER
			     : CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
	}
	if (*rox && *rwo)
		return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_SINGLE_WRITER;
	if (*rwx)
		return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER;
	if (*rox)
		return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY;
	if (*rwo)
		return multi ? CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER
			     : CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
	snprintf(err, errlen, "the volume has no accessModes");
	return -1;
}

/* From the PV spec: Block or mount with csi.fsType and mountOptions. The
 * capability borrows strings from spec. */
static int build_cap(att *a, const json_t *spec, att_cap *c, char *err, size_t errlen)
{
	const json_t *opts = json_object_get(spec, "mountOptions");
	int mode = access_mode(a, json_object_get(spec, "accessModes"), err, errlen);

	memset(c, 0, sizeof(*c));
	if (mode < 0)
		return -1;
	csi__v1__volume_capability__init(&c->cap);
	csi__v1__volume_capability__access_mode__init(&c->mode);
	c->mode.mode = mode;
	c->cap.access_mode = &c->mode;
	if (str_eq(ctrl_str(spec, "volumeMode"), "Block")) {
		csi__v1__volume_capability__block_volume__init(&c->block);
		c->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
		c->cap.block = &c->block;
		return 0;
	}
	csi__v1__volume_capability__mount_volume__init(&c->mount);
	c->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	c->cap.mount = &c->mount;
	/* Upstream's --default-fstype is empty: the driver picks. */
	if (ctrl_str(spec, "csi.fsType"))
		c->mount.fs_type = (char *)ctrl_str(spec, "csi.fsType");
	if (json_array_size(opts)) {
		size_t i;
		json_t *o;

		c->flags = calloc(json_array_size(opts), sizeof(char *));
		if (!c->flags) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		json_array_foreach(opts, i, o) {
			if (!json_is_string(o)) {
				snprintf(err, errlen, "mountOptions must be strings");
				free(c->flags);
				c->flags = NULL;
				return -1;
			}
			c->flags[c->mount.n_mount_flags++] = (char *)json_string_value(o);
		}
		c->mount.mount_flags = c->flags;
	}
	return 0;
}

/* --- CSI calls --------------------------------------------------------------------------- */

static dv_code publish(att *a, const att_source *s, const char *node, att_cap *cap,
		       const ctrl_secrets *sec, json_t **ret_ctx, dv_status *st)
{
	Csi__V1__ControllerPublishVolumeRequest req = CSI__V1__CONTROLLER_PUBLISH_VOLUME_REQUEST__INIT;
	Csi__V1__ControllerPublishVolumeResponse *resp = NULL;
	const json_t *attrs = json_object_get(s->csi, "volumeAttributes");
	json_t *rv = ctrl_get(s->csi, "readOnly");
	dv_code code;

	*ret_ctx = NULL;
	req.volume_id = (char *)s->handle;
	req.node_id = (char *)node;
	req.volume_capability = &cap->cap;
	/* "The CO MUST set this field to false if the SP does not have the
	 * PUBLISH_READONLY controller capability." */
	req.readonly = a->ctx->driver.readonly_publish && json_is_true(rv);
	if (json_object_size(attrs)) {
		req.volume_context = (Csi__V1__ControllerPublishVolumeRequest__VolumeContextEntry **)
			ctrl_pb_map_from_json(
				attrs,
				&csi__v1__controller_publish_volume_request__volume_context_entry__descriptor,
				&req.n_volume_context);
		if (!req.volume_context)
			return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
	}
	if (sec->n) {
		req.secrets = (Csi__V1__ControllerPublishVolumeRequest__SecretsEntry **)
			ctrl_pb_map_from_kv(
				sec->keys, sec->values, sec->n,
				&csi__v1__controller_publish_volume_request__secrets_entry__descriptor);
		if (!req.secrets) {
			ctrl_pb_map_free((void **)req.volume_context, req.n_volume_context);
			return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
		}
		req.n_secrets = sec->n;
	}
	code = ctrl_csi_call(a->ctx, "/csi.v1.Controller/ControllerPublishVolume", &req.base,
			     &csi__v1__controller_publish_volume_response__descriptor,
			     (ProtobufCMessage **)&resp, a->ctx->opt.attach_timeout_ns, st);
	ctrl_pb_map_free((void **)req.volume_context, req.n_volume_context);
	ctrl_pb_map_free((void **)req.secrets, req.n_secrets);
	if (code == DV_OK && resp) {
		*ret_ctx = ctrl_pb_map_to_json((void *const *)resp->publish_context,
					       resp->n_publish_context);
		if (!*ret_ctx)
			code = dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
	}
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

static dv_code unpublish(att *a, const att_source *s, const char *node, const ctrl_secrets *sec,
			 dv_status *st)
{
	Csi__V1__ControllerUnpublishVolumeRequest req =
		CSI__V1__CONTROLLER_UNPUBLISH_VOLUME_REQUEST__INIT;
	Csi__V1__ControllerUnpublishVolumeResponse *resp = NULL;
	dv_code code;

	req.volume_id = (char *)s->handle;
	req.node_id = (char *)node;
	if (sec->n) {
		req.secrets = (Csi__V1__ControllerUnpublishVolumeRequest__SecretsEntry **)
			ctrl_pb_map_from_kv(
				sec->keys, sec->values, sec->n,
				&csi__v1__controller_unpublish_volume_request__secrets_entry__descriptor);
		if (!req.secrets)
			return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
		req.n_secrets = sec->n;
	}
	code = ctrl_csi_call(a->ctx, "/csi.v1.Controller/ControllerUnpublishVolume", &req.base,
			     &csi__v1__controller_unpublish_volume_response__descriptor,
			     (ProtobufCMessage **)&resp, a->ctx->opt.attach_timeout_ns, st);
	ctrl_pb_map_free((void **)req.secrets, req.n_secrets);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	/* A volume the driver no longer has is attached nowhere. */
	if (code == DV_NOT_FOUND) {
		dv_status_clear(st);
		code = DV_OK;
	}
	return code;
}

/* --- attach and detach ------------------------------------------------------------------- */

static int64_t va_attach(att *a, json_t *va)
{
	char err[ATT_ERR_MAX], node[256];
	att_source s = { 0 };
	att_cap cap = { 0 };
	ctrl_secrets sec = { 0 };
	json_t *pctx = NULL;
	dv_status st = { 0 };
	dv_code code;
	int64_t t0 = ctrl_op_begin(), ret = -1;
	const char *reason = "api";
	meta_edit e = { 0 };

	/* Everything that can be checked is, before any finalizer would keep
	 * a VA that can never attach from being deleted. */
	if (va_source(a, va, &s, err, sizeof(err)) < 0 ||
	    build_cap(a, s.spec, &cap, err, sizeof(err)) < 0 ||
	    node_id(a, va, false, node, sizeof(node), err, sizeof(err)) < 0 ||
	    publish_secrets(a, &s, &sec, err, sizeof(err)) < 0)
		goto failed;
	if (s.pv) {
		if (ctrl_being_deleted(s.pv)) {
			snprintf(err, sizeof(err), "PersistentVolume \"%s\" is marked for deletion",
				 ctrl_str(s.pv, "metadata.name"));
			goto failed;
		}
		if (set_finalizer(a, &KUBE_PVS, s.pv, true) < 0) {
			snprintf(err, sizeof(err), "could not add the PersistentVolume finalizer");
			goto failed;
		}
	}
	e = (meta_edit){ a->finalizer, true, ATT_ANN_NODE_ID, node };
	if (edit_meta(a, &KUBE_VOLUMEATTACHMENTS, va, &e) < 0)
		goto out; /* the API is the problem: no status write would pass either */
	code = publish(a, &s, node, &cap, &sec, &pctx, &st);
	if (code != DV_OK) {
		rpc_error_text(err, sizeof(err), code, &st);
		reason = dv_code_name(code);
		goto failed;
	}
	if (patch_status(a, va, json_pack("{s:b, s:O?, s:n}", "attached", 1,
					  "attachmentMetadata",
					  json_object_size(pctx) ? pctx : NULL, "attachError")) < 0)
		goto out;
	log_info("attacher: %s: volume %s attached to node %s", ctrl_str(va, "metadata.name"),
		 s.handle, node);
	ret = 0;
	reason = NULL;
	goto out;
failed:
	save_error(a, va, "attachError", err);
out:
	ctrl_op_end(a->ctx, "attacher", "attach", ret < 0 ? reason : NULL, t0);
	json_decref(pctx);
	ctrl_secrets_free(&sec);
	free(cap.flags);
	source_clear(&s);
	dv_status_clear(&st);
	return ret;
}

static int64_t va_detach(att *a, json_t *va)
{
	char err[ATT_ERR_MAX], node[256];
	att_source s = { 0 };
	ctrl_secrets sec = { 0 };
	dv_status st = { 0 };
	dv_code code;
	int64_t t0 = ctrl_op_begin(), ret = -1;
	const char *reason = "api";

	if (va_source(a, va, &s, err, sizeof(err)) < 0 ||
	    node_id(a, va, true, node, sizeof(node), err, sizeof(err)) < 0 ||
	    publish_secrets(a, &s, &sec, err, sizeof(err)) < 0)
		goto failed;
	code = unpublish(a, &s, node, &sec, &st);
	if (code != DV_OK) {
		rpc_error_text(err, sizeof(err), code, &st);
		reason = dv_code_name(code);
		goto failed;
	}
	/* Status first, then the finalizer: once the finalizer goes, the
	 * object does too, and nobody must see it attached meanwhile. */
	if (patch_status(a, va, json_pack("{s:b, s:n, s:n}", "attached", 0, "attachmentMetadata",
					  "detachError")) < 0 ||
	    set_finalizer(a, &KUBE_VOLUMEATTACHMENTS, va, false) < 0)
		goto out;
	log_info("attacher: %s: volume %s detached from node %s", ctrl_str(va, "metadata.name"),
		 s.handle, node);
	if (s.pv)
		ctrl_loop_enqueue(&a->pvs, s.pv);
	ret = 0;
	reason = NULL;
	goto out;
failed:
	save_error(a, va, "detachError", err);
out:
	ctrl_op_end(a->ctx, "attacher", "detach", ret < 0 ? reason : NULL, t0);
	ctrl_secrets_free(&sec);
	source_clear(&s);
	dv_status_clear(&st);
	return ret;
}

/* A driver without PUBLISH_UNPUBLISH_VOLUME: nothing to call. */
static int64_t va_trivial(att *a, json_t *va)
{
	if (ctrl_being_deleted(va))
		return set_finalizer(a, &KUBE_VOLUMEATTACHMENTS, va, false) < 0 ? -1 : 0;
	if (json_is_true(ctrl_get(va, "status.attached")))
		return 0;
	return patch_status(a, va, json_pack("{s:b, s:n}", "attached", 1, "attachError")) < 0 ? -1
											       : 0;
}

/* True once for a VA the reconcile pass found unpublished. */
static bool force_take(att *a, const char *name)
{
	bool hit;

	pthread_mutex_lock(&a->mu);
	hit = json_object_get(a->force, name) != NULL;
	if (hit)
		json_object_del(a->force, name);
	pthread_mutex_unlock(&a->mu);
	return hit;
}

static void force_put(att *a, const char *name)
{
	pthread_mutex_lock(&a->mu);
	json_object_set_new(a->force, name, json_true());
	pthread_mutex_unlock(&a->mu);
	kube_workqueue_add(a->vas.q, name);
}

static int64_t va_work(const char *key, void *payload)
{
	att *a = payload;
	json_t *va = cache_get(a, CTRL_VA, NULL, key);
	bool force = force_take(a, key); /* consumed whatever this pass does */
	int64_t ret = 0;

	if (!va)
		return 0;
	if (!str_eq(ctrl_str(va, "spec.attacher"), a->ctx->driver.name))
		goto out;
	if (!a->ctx->driver.publish)
		ret = va_trivial(a, va);
	else if (ctrl_being_deleted(va))
		ret = ctrl_has_finalizer(va, a->finalizer) ? va_detach(a, va) : 0;
	else if (!json_is_true(ctrl_get(va, "status.attached")) || force)
		ret = va_attach(a, va);
out:
	json_decref(va);
	return ret;
}

/* --- volumes ------------------------------------------------------------------------------- */

/* A PV being deleted keeps our finalizer while any VA names it. */
static int64_t pv_work(const char *key, void *payload)
{
	att *a = payload;
	json_t *pv = cache_get(a, CTRL_PV, NULL, key), *vas;
	int64_t ret = 0;

	if (!pv)
		return 0;
	if (!ctrl_being_deleted(pv) || !ctrl_has_finalizer(pv, a->finalizer))
		goto out;
	vas = kube_informer_by_index(ctrl_informer(a->ctx, CTRL_VA), "pv", key);
	if (json_array_size(vas) == 0)
		ret = set_finalizer(a, &KUBE_PVS, pv, false) < 0 ? -1 : 0;
	json_decref(vas);
out:
	json_decref(pv);
	return ret;
}

/* --- reconcile ------------------------------------------------------------------------------- */

/* Whether the driver reports published nodes in ListVolumes (asked once). */
static bool lists_published(att *a)
{
	Csi__V1__ControllerGetCapabilitiesRequest req =
		CSI__V1__CONTROLLER_GET_CAPABILITIES_REQUEST__INIT;
	Csi__V1__ControllerGetCapabilitiesResponse *resp = NULL;
	dv_status st = { 0 };
	bool list = false, published = false;

	if (a->list_published >= 0)
		return a->list_published;
	if (ctrl_csi_call(a->ctx, "/csi.v1.Controller/ControllerGetCapabilities", &req.base,
			  &csi__v1__controller_get_capabilities_response__descriptor,
			  (ProtobufCMessage **)&resp, a->ctx->opt.attach_timeout_ns, &st) != DV_OK) {
		dv_status_clear(&st);
		return false; /* ask again next time */
	}
	for (size_t i = 0; resp && i < resp->n_capabilities; i++) {
		const Csi__V1__ControllerServiceCapability *c = resp->capabilities[i];

		if (c->type_case != CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC || !c->rpc)
			continue;
		list = list || c->rpc->type == CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES;
		published = published ||
			    c->rpc->type ==
				    CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES_PUBLISHED_NODES;
	}
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	a->list_published = list && published;
	return a->list_published;
}

/* {volume id: [node ids]} of every volume the driver has, or NULL. */
static json_t *published_map(att *a)
{
	json_t *map = json_object();
	char *token = NULL;

	while (map) {
		Csi__V1__ListVolumesRequest req = CSI__V1__LIST_VOLUMES_REQUEST__INIT;
		Csi__V1__ListVolumesResponse *resp = NULL;
		dv_status st = { 0 };
		dv_code code;

		req.max_entries = ATT_LIST_PAGE;
		if (token)
			req.starting_token = token;
		code = ctrl_csi_call(a->ctx, "/csi.v1.Controller/ListVolumes", &req.base,
				     &csi__v1__list_volumes_response__descriptor,
				     (ProtobufCMessage **)&resp, a->ctx->opt.attach_timeout_ns, &st);
		free(token);
		token = NULL;
		if (code != DV_OK || !resp) {
			log_warn("attacher: ListVolumes: rpc error: code = %s desc = %s",
				 dv_code_name(code), st.message ? st.message : "");
			dv_status_clear(&st);
			json_decref(map);
			if (resp)
				protobuf_c_message_free_unpacked(&resp->base, NULL);
			return NULL;
		}
		for (size_t i = 0; i < resp->n_entries; i++) {
			const Csi__V1__ListVolumesResponse__Entry *e = resp->entries[i];
			json_t *nodes = json_array();

			if (!e->volume || !e->volume->volume_id || !nodes) {
				json_decref(nodes);
				continue;
			}
			for (size_t j = 0; e->status && j < e->status->n_published_node_ids; j++)
				json_array_append_new(nodes, json_string(e->status->published_node_ids[j]));
			json_object_set_new(map, e->volume->volume_id, nodes);
		}
		if (resp->next_token && *resp->next_token)
			token = strdup(resp->next_token);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (!token)
			break;
	}
	return map;
}

static bool published_to(const json_t *map, const char *handle, const char *node)
{
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(map, handle), i, n)
		if (str_eq(json_string_value(n), node))
			return true;
	return false;
}

static int64_t reconcile_work(const char *key, void *payload)
{
	att *a = payload;
	json_t *map, *vas;
	size_t i;
	json_t *va;

	(void)key;
	if (!a->ctx->driver.publish)
		return 0;
	if (!lists_published(a))
		return a->list_published == 0 ? 0 : ATT_RECONCILE_NS; /* no, or not asked yet */
	map = published_map(a);
	if (!map)
		return -1;
	vas = kube_informer_list(ctrl_informer(a->ctx, CTRL_VA));
	json_array_foreach(vas, i, va) {
		char node[256], err[ATT_ERR_MAX];
		att_source s;

		if (!str_eq(ctrl_str(va, "spec.attacher"), a->ctx->driver.name) ||
		    ctrl_being_deleted(va) || !json_is_true(ctrl_get(va, "status.attached")) ||
		    va_source(a, va, &s, err, sizeof(err)) < 0)
			continue;
		if (node_id(a, va, true, node, sizeof(node), err, sizeof(err)) == 0 &&
		    !published_to(map, s.handle, node)) {
			log_warn("attacher: %s: volume %s is not published to node %s any more; "
				 "attaching it again",
				 ctrl_str(va, "metadata.name"), s.handle, node);
			force_put(a, ctrl_str(va, "metadata.name"));
		}
		source_clear(&s);
	}
	json_decref(vas);
	json_decref(map);
	return ATT_RECONCILE_NS;
}

/* --- wiring ---------------------------------------------------------------------------------- */

static void on_va(const json_t *va, void *payload)
{
	att *a = payload;

	if (str_eq(ctrl_str(va, "spec.attacher"), a->ctx->driver.name))
		ctrl_loop_enqueue(&a->vas, va);
}

/* A copy without what our own error writes change. */
static json_t *without_errors(const json_t *va)
{
	json_t *c = json_deep_copy(va);

	json_object_del(json_object_get(c, "metadata"), "resourceVersion");
	json_object_del(json_object_get(c, "status"), "attachError");
	json_object_del(json_object_get(c, "status"), "detachError");
	return c;
}

/* As upstream: a change of attachError/detachError alone (our own write
 * after a failure) is no reason for another pass; the backoff decides
 * when the next one runs. */
static void on_va_update(const json_t *old_obj, const json_t *new_obj, void *payload)
{
	json_t *o = without_errors(old_obj), *n = without_errors(new_obj);
	bool same = o && n && json_equal(o, n);

	json_decref(o);
	json_decref(n);
	if (!same)
		on_va(new_obj, payload);
}

/* A VA gone may free its PV of our finalizer. */
static void on_va_delete(const json_t *va, void *payload)
{
	att *a = payload;
	const char *pv = ctrl_str(va, "spec.source.persistentVolumeName");

	if (pv && *pv)
		kube_workqueue_add(a->pvs.q, pv);
}

/* A node that registers (or re-registers) our driver unblocks the
 * attachments waiting for its node id, without waiting out their backoff. */
static void on_csinode(const json_t *cn, void *payload)
{
	att *a = payload;
	json_t *vas = kube_informer_list(ctrl_informer(a->ctx, CTRL_VA));
	const char *node = ctrl_str(cn, "metadata.name");
	size_t i;
	json_t *v;

	json_array_foreach(vas, i, v)
		if (str_eq(ctrl_str(v, "spec.nodeName"), node) &&
		    !json_is_true(ctrl_get(v, "status.attached")))
			on_va(v, a);
	json_decref(vas);
}

static void on_csinode_update(const json_t *old_obj, const json_t *new_obj, void *payload)
{
	if (!json_equal(ctrl_get(old_obj, "spec"), ctrl_get(new_obj, "spec")))
		on_csinode(new_obj, payload);
}

static int att_setup(ctrl_ctx *ctx, void **ret_state)
{
	att *a = calloc(1, sizeof(*a));
	kube_handlers hva = { on_va, on_va_update, on_va_delete, NULL }, hpv;
	kube_handlers hcn = { on_csinode, on_csinode_update, NULL, NULL };

	if (!a)
		return -ENOMEM;
	a->ctx = ctx;
	a->list_published = -1;
	a->force = json_object();
	pthread_mutex_init(&a->mu, NULL);
	finalizer_name(ctx->driver.name, a->finalizer, sizeof(a->finalizer));
	if (!a->force ||
	    ctrl_loop_init(&a->vas, ctx, "attacher-attachments", va_work, a) < 0 ||
	    ctrl_loop_init(&a->pvs, ctx, "attacher-volumes", pv_work, a) < 0 ||
	    ctrl_loop_init(&a->reconcile, ctx, "attacher-reconcile", reconcile_work, a) < 0)
		goto fail;
	hva.payload = a;
	hcn.payload = a;
	hpv = ctrl_loop_handlers(&a->pvs);
	if (ctrl_watch(ctx, CTRL_VA, &hva) < 0 || ctrl_watch(ctx, CTRL_PV, &hpv) < 0 ||
	    ctrl_watch(ctx, CTRL_CSINODE, &hcn) < 0)
		goto fail;
	*ret_state = a;
	return 0;
fail:
	ctrl_loop_destroy(&a->vas);
	ctrl_loop_destroy(&a->pvs);
	ctrl_loop_destroy(&a->reconcile);
	json_decref(a->force);
	pthread_mutex_destroy(&a->mu);
	free(a);
	return -ENOMEM;
}

static int att_run(void *state)
{
	att *a = state;

	if (!a->ctx->driver.publish)
		log_info("attacher: driver %s has no PUBLISH_UNPUBLISH_VOLUME capability; "
			 "VolumeAttachments are marked attached without a CSI call",
			 a->ctx->driver.name);
	if (ctrl_loop_run(&a->vas) < 0 || ctrl_loop_run(&a->pvs) < 0 ||
	    ctrl_loop_run(&a->reconcile) < 0)
		return -1;
	kube_workqueue_add(a->reconcile.q, ATT_RECONCILE_KEY);
	return 0;
}

static void att_stop(void *state)
{
	att *a = state;

	ctrl_loop_stop(&a->reconcile);
	ctrl_loop_stop(&a->vas);
	ctrl_loop_stop(&a->pvs);
}

static void att_free(void *state)
{
	att *a = state;

	ctrl_loop_destroy(&a->reconcile);
	ctrl_loop_destroy(&a->vas);
	ctrl_loop_destroy(&a->pvs);
	json_decref(a->force);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

const ctrl_def ctrl_attacher = { "attacher", att_setup, att_run, att_stop, att_free };
