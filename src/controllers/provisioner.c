/*
 * provisioner.c - external-provisioner's job: a PVC that waits for our
 * driver becomes a CSI volume and a PersistentVolume pre-bound to it; a
 * released PV with reclaimPolicy Delete becomes a DeleteVolume and then
 * no PV.
 *
 * Two loops share one state: claims (PVC keys) and volumes (PV names).
 *
 * Claim pass, each step repeatable:
 *   1. the claim waits for us (annotation volume.kubernetes.io/
 *      storage-provisioner names our driver, set by the PV binder), its
 *      class is ours, and for WaitForFirstConsumer a node was selected;
 *   2. finalizer dynvol.io/provisioning on the claim, then CreateVolume
 *      named pvc-<uid> (idempotent: a retry after a crash or a timeout
 *      finds the same volume);
 *   3. the PV pvc-<uid> with claimRef to the claim's uid (a failed create
 *      is retried with the same volume: the finalizer keeps the claim, so
 *      the volume cannot be orphaned);
 *   4. the finalizer goes.
 * A claim deleted while it holds the finalizer and has no PV gets its
 * volume deleted (CreateVolume again to learn the id, then DeleteVolume)
 * before the finalizer goes: "deleting a PVC mid-provision deletes the
 * volume", also across a kill -9. Upstream keeps that state in memory
 * only; the extra two API writes per claim are the price of not leaking.
 *
 * Volume pass: a PV we provisioned, reclaimPolicy Delete, Released (or
 * deleted before it was ever bound): DeleteVolume, then the PV object is
 * deleted and our PV finalizer removed. Retain only drops the finalizer
 * when the PV is deleted.
 */
#include "ctrl.h"
#include "crashpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "provision_req.h"
#include "ratelimit.h"

#define PROV_FINALIZER "dynvol.io/provisioning"

typedef struct {
	ctrl_ctx *ctx;
	ctrl_loop claims;
	ctrl_loop volumes;
	char identity[320]; /* storage.kubernetes.io/csiProvisionerIdentity */
} prov;

/* --- small API helpers -------------------------------------------------------- */

typedef struct {
	const char *finalizer;
	bool add;
} fin_edit;

static int mutate_finalizer(json_t *obj, void *payload)
{
	const fin_edit *e = payload;

	if (e->add)
		return ctrl_add_finalizer(obj, e->finalizer) ? 0 : 1;
	return ctrl_remove_finalizer(obj, e->finalizer) ? 0 : 1;
}

/* Adds or removes a finalizer with the cached object's resourceVersion
 * first (one request); a stale cache falls back to read-modify-write. */
static int set_finalizer(prov *p, const kube_resource *res, const json_t *cached,
			 const char *finalizer, bool add)
{
	const char *ns = ctrl_str(cached, "metadata.namespace");
	const char *name = ctrl_str(cached, "metadata.name");
	fin_edit e = { finalizer, add };
	kube_response resp = { 0 };
	json_t *copy, *patch;
	int code;

	if (ctrl_has_finalizer(cached, finalizer) == add)
		return 0;
	copy = json_deep_copy(cached);
	mutate_finalizer(copy, &e);
	patch = json_pack("{s:{s:s, s:O}}", "metadata", "resourceVersion",
			  ctrl_str(cached, "metadata.resourceVersion"), "finalizers",
			  ctrl_get(copy, "metadata.finalizers"));
	json_decref(copy);
	if (!patch)
		return -ENOMEM;
	code = kube_patch(p->ctx->kube, res, ns, name, NULL, KUBE_PATCH_MERGE, patch, &resp);
	json_decref(patch);
	if (code == 409) {
		kube_response_clear(&resp);
		code = kube_update_retry(p->ctx->kube, res, ns, name, false, 5, mutate_finalizer,
					 &e, &resp);
	}
	if (code == 404 && !add)
		code = 200; /* gone: nothing holds it any more */
	if (code != 200)
		log_warn("provisioner: cannot %s finalizer %s on %s %s%s%s: %s",
			 add ? "add" : "remove", finalizer, res->kind, ns ? ns : "", ns ? "/" : "",
			 name, resp.message[0] ? resp.message : "no response");
	kube_response_clear(&resp);
	return code == 200 ? 0 : -EIO;
}

static json_t *cache_get(prov *p, ctrl_res res, const char *ns, const char *name)
{
	return kube_informer_get(ctrl_informer(p->ctx, res), ns, name);
}

static const char *annotation(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(ctrl_get(obj, "metadata.annotations"), key));
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static void claim_event(prov *p, const json_t *pvc, const char *type, const char *reason,
			const char *msg)
{
	kube_event_on(p->ctx->rec, pvc, "PersistentVolumeClaim", "v1", type, reason, "%s", msg);
}

/* The error text of a failed CSI call, as users of the upstream sidecar
 * know it from kubectl describe. */
static void rpc_error_text(char *out, size_t len, dv_code code, const dv_status *st)
{
	snprintf(out, len, "rpc error: code = %s desc = %s", dv_code_name(code),
		 st->message ? st->message : "");
}

/* --- CSI calls ------------------------------------------------------------------ */

static dv_code create_volume(prov *p, prov_req *r, Csi__V1__CreateVolumeResponse **ret,
			     dv_status *st)
{
	return ctrl_csi_call(p->ctx, "/csi.v1.Controller/CreateVolume", &r->req.base,
			     &csi__v1__create_volume_response__descriptor,
			     (ProtobufCMessage **)ret, p->ctx->opt.provision_timeout_ns, st);
}

static dv_code delete_volume(prov *p, const char *volume_id, const ctrl_secrets *secrets,
			     dv_status *st)
{
	Csi__V1__DeleteVolumeRequest req = CSI__V1__DELETE_VOLUME_REQUEST__INIT;
	Csi__V1__DeleteVolumeResponse *resp = NULL;
	dv_code code;

	req.volume_id = (char *)volume_id;
	if (secrets && secrets->n) {
		req.secrets = (Csi__V1__DeleteVolumeRequest__SecretsEntry **)ctrl_pb_map_from_kv(
			secrets->keys, secrets->values, secrets->n,
			&csi__v1__delete_volume_request__secrets_entry__descriptor);
		if (!req.secrets)
			return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
		req.n_secrets = secrets->n;
	}
	code = ctrl_csi_call(p->ctx, "/csi.v1.Controller/DeleteVolume", &req.base,
			     &csi__v1__delete_volume_response__descriptor,
			     (ProtobufCMessage **)&resp, p->ctx->opt.delete_timeout_ns, st);
	ctrl_pb_map_free((void **)req.secrets, req.n_secrets);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	/* The spec makes a missing volume an OK; some drivers say NOT_FOUND. */
	if (code == DV_NOT_FOUND) {
		dv_status_clear(st);
		code = DV_OK;
	}
	return code;
}

/* --- claims ------------------------------------------------------------------------ */

/* Whether the claim is ours to provision, and its class. */
static bool claim_wants_us(prov *p, const json_t *pvc, json_t **ret_sc)
{
	const char *want = annotation(pvc, PROV_ANN_STORAGE_PROVISIONER);
	const char *cls = ctrl_str(pvc, "spec.storageClassName");
	json_t *sc;

	*ret_sc = NULL;
	if (!want)
		want = annotation(pvc, PROV_ANN_BETA_STORAGE_PROVISIONER);
	if (!str_eq(want, p->ctx->driver.name) || !cls || !*cls)
		return false;
	sc = cache_get(p, CTRL_SC, NULL, cls);
	if (sc && !str_eq(ctrl_str(sc, "provisioner"), p->ctx->driver.name)) {
		json_decref(sc);
		return false;
	}
	*ret_sc = sc; /* NULL: the class is missing, which is an error to report */
	return true;
}

static bool pv_is_for(const json_t *pv, const json_t *pvc)
{
	return pv && str_eq(ctrl_str(pv, "spec.claimRef.uid"), ctrl_str(pvc, "metadata.uid"));
}

/* The claim's PV, from the cache or (when the cache may lag our own
 * create) the API. */
static json_t *claim_pv(prov *p, const char *pv_name, bool ask_api)
{
	json_t *pv = cache_get(p, CTRL_PV, NULL, pv_name);
	kube_response resp = { 0 };

	if (pv || !ask_api)
		return pv;
	if (kube_get(p->ctx->kube, &KUBE_PVS, NULL, pv_name, &resp) == 200)
		pv = json_incref(resp.body);
	kube_response_clear(&resp);
	return pv;
}

/* A claim being deleted that still holds our finalizer: the volume we may
 * have created has no PV, so it goes now. */
static int64_t claim_cleanup(prov *p, json_t *pvc)
{
	char pv_name[80], msg[KUBE_EVENT_MESSAGE_MAX];
	json_t *pv, *sc = NULL;
	Csi__V1__CreateVolumeResponse *resp = NULL;
	prov_req r;
	dv_status st = { 0 };
	dv_code code;
	int64_t ret = -1;

	snprintf(pv_name, sizeof(pv_name), "pvc-%s", ctrl_str(pvc, "metadata.uid"));
	pv = claim_pv(p, pv_name, true);
	if (pv_is_for(pv, pvc)) {
		/* The PV exists: reclaim is the volume pass's job. */
		json_decref(pv);
		return set_finalizer(p, &KUBE_PVCS, pvc, PROV_FINALIZER, false) < 0 ? -1 : 0;
	}
	json_decref(pv);
	sc = cache_get(p, CTRL_SC, NULL, ctrl_str(pvc, "spec.storageClassName"));
	if (!sc || prov_req_build(p->ctx, pvc, sc, &r, &st) < 0) {
		/* Without the class the request cannot be rebuilt, so the volume
		 * (if CreateVolume ever ran) cannot be found: say so loudly. */
		snprintf(msg, sizeof(msg),
			 "claim deleted during provisioning; cannot look up volume %s to delete it: "
			 "%s",
			 pv_name, sc ? (st.message ? st.message : "") : "storage class not found");
		claim_event(p, pvc, KUBE_EVENT_WARNING, "ProvisioningCleanupFailed", msg);
		log_error("provisioner: %s/%s: %s", ctrl_str(pvc, "metadata.namespace"),
			  ctrl_str(pvc, "metadata.name"), msg);
		if (sc)
			prov_req_free(&r);
		json_decref(sc);
		dv_status_clear(&st);
		return set_finalizer(p, &KUBE_PVCS, pvc, PROV_FINALIZER, false) < 0 ? -1 : 0;
	}
	/* CreateVolume is the only way to learn the id from the name; for a
	 * volume that never got created it creates one we delete at once. */
	code = create_volume(p, &r, &resp, &st);
	if (code == DV_OK && resp && resp->volume) {
		ctrl_secrets *sec = &r.prov_secrets;

		dv_status_clear(&st);
		code = delete_volume(p, resp->volume->volume_id, sec, &st);
	} else if (code == DV_INVALID_ARGUMENT || code == DV_ALREADY_EXISTS) {
		/* The request no longer describes a volume the driver would
		 * make (e.g. the class changed): nothing of ours exists under
		 * it that we could name. */
		code = DV_OK;
	}
	if (code == DV_OK) {
		log_info("provisioner: %s/%s deleted during provisioning: volume %s removed",
			 ctrl_str(pvc, "metadata.namespace"), ctrl_str(pvc, "metadata.name"),
			 pv_name);
		ret = set_finalizer(p, &KUBE_PVCS, pvc, PROV_FINALIZER, false) < 0 ? -1 : 0;
	} else {
		rpc_error_text(msg, sizeof(msg), code, &st);
		log_warn("provisioner: cleanup of %s: %s", pv_name, msg);
	}
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	prov_req_free(&r);
	json_decref(sc);
	dv_status_clear(&st);
	return ret;
}

static int mutate_drop_selected_node(json_t *obj, void *payload)
{
	json_t *ann = ctrl_get(obj, "metadata.annotations");

	(void)payload;
	if (!json_object_get(ann, PROV_ANN_SELECTED_NODE))
		return 1;
	json_object_del(ann, PROV_ANN_SELECTED_NODE);
	return 0;
}

/* A WaitForFirstConsumer claim the selected node cannot hold goes back
 * to the scheduler, as external-provisioner does on final errors there. */
static void reschedule(prov *p, const json_t *pvc)
{
	kube_response resp = { 0 };

	kube_update_retry(p->ctx->kube, &KUBE_PVCS, ctrl_str(pvc, "metadata.namespace"),
			  ctrl_str(pvc, "metadata.name"), false, 5, mutate_drop_selected_node,
			  NULL, &resp);
	kube_response_clear(&resp);
}

/* Creates the PV; an existing one for the same claim is success. */
static int create_pv(prov *p, const json_t *pv, const json_t *pvc, char *err, size_t errlen)
{
	int64_t pause = 100000000;

	for (int attempt = 0;; attempt++) {
		kube_response resp = { 0 };
		int code = kube_create(p->ctx->kube, &KUBE_PVS, NULL, pv, &resp);

		if (code == 201 || code == 200) {
			kube_response_clear(&resp);
			return 0;
		}
		if (code == 409) {
			json_t *cur = claim_pv(p, ctrl_str(pv, "metadata.name"), true);
			bool mine = pv_is_for(cur, pvc);

			json_decref(cur);
			kube_response_clear(&resp);
			if (mine)
				return 0;
			snprintf(err, errlen, "PV %s exists for another claim",
				 ctrl_str(pv, "metadata.name"));
			return -1;
		}
		snprintf(err, errlen, "cannot create PV %s: %s", ctrl_str(pv, "metadata.name"),
			 resp.message[0] ? resp.message : "no response");
		kube_response_clear(&resp);
		/* Invalid is final for this object; anything else may pass. */
		if (code == 422 || code == 400 || attempt >= 2 || atomic_load(&p->ctx->stopping))
			return -1;
		kube_sleep_ns(pause);
		pause *= 4;
	}
}

static int64_t claim_provision(prov *p, json_t *pvc, json_t *sc)
{
	const char *ns = ctrl_str(pvc, "metadata.namespace");
	const char *name = ctrl_str(pvc, "metadata.name");
	const char *cls = ctrl_str(sc, "metadata.name");
	char msg[KUBE_EVENT_MESSAGE_MAX];
	Csi__V1__CreateVolumeResponse *resp = NULL;
	json_t *pv = NULL;
	prov_req r;
	dv_status st = { 0 };
	dv_code code;
	int64_t t0 = ctrl_op_begin(), ret = -1;
	const char *reason = "api";

	if (prov_req_build(p->ctx, pvc, sc, &r, &st) < 0) {
		snprintf(msg, sizeof(msg), "failed to provision volume with StorageClass \"%s\": %s",
			 cls, st.message ? st.message : "invalid request");
		claim_event(p, pvc, KUBE_EVENT_WARNING, "ProvisioningFailed", msg);
		if (r.node_refused)
			reschedule(p, pvc);
		reason = dv_code_name(st.code);
		goto out;
	}
	if (set_finalizer(p, &KUBE_PVCS, pvc, PROV_FINALIZER, true) < 0)
		goto out;
	dv_crashpoint("provisioner.after_finalizer");
	if (r.clone_source[0]) {
		json_t *src = cache_get(p, CTRL_PVC, ns, r.clone_source);

		if (src && set_finalizer(p, &KUBE_PVCS, src, PROV_CLONE_FINALIZER, true) < 0) {
			json_decref(src);
			goto out;
		}
		json_decref(src);
	}
	snprintf(msg, sizeof(msg), "External provisioner is provisioning volume for claim \"%s/%s\"",
		 ns, name);
	claim_event(p, pvc, KUBE_EVENT_NORMAL, "Provisioning", msg);

	code = create_volume(p, &r, &resp, &st);
	if (code != DV_OK || !resp || !resp->volume || !resp->volume->volume_id ||
	    !*resp->volume->volume_id) {
		if (code == DV_OK)
			dv_status_set(&st, code = DV_INTERNAL, "the driver returned no volume id");
		rpc_error_text(msg + 0, sizeof(msg), code, &st);
		{
			char full[KUBE_EVENT_MESSAGE_MAX * 2];

			snprintf(full, sizeof(full),
				 "failed to provision volume with StorageClass \"%s\": %s", cls, msg);
			claim_event(p, pvc, KUBE_EVENT_WARNING, "ProvisioningFailed", full);
		}
		/* Out of space (or another final no) on the selected node: let
		 * the scheduler pick again. */
		if (annotation(pvc, PROV_ANN_SELECTED_NODE) &&
		    (code == DV_RESOURCE_EXHAUSTED || !ctrl_code_is_transient(code)))
			reschedule(p, pvc);
		reason = dv_code_name(code);
		goto out;
	}
	dv_crashpoint("provisioner.after_create_volume");
	{
		/* The claim may have gone while CreateVolume ran: then the volume
		 * must not get a PV; the cleanup pass deletes it. */
		json_t *now = cache_get(p, CTRL_PVC, ns, name);
		bool gone = !now || ctrl_being_deleted(now) ||
			    !str_eq(ctrl_str(now, "metadata.uid"), ctrl_str(pvc, "metadata.uid"));

		json_decref(now);
		if (gone) {
			ret = 1000000; /* re-check soon: the cleanup pass takes over */
			goto out;
		}
	}
	pv = prov_pv_build(p->ctx, pvc, sc, &r, resp->volume, p->identity);
	if (!pv)
		goto out;
	if (create_pv(p, pv, pvc, msg, sizeof(msg)) < 0) {
		char full[KUBE_EVENT_MESSAGE_MAX * 2];

		snprintf(full, sizeof(full), "failed to provision volume with StorageClass \"%s\": %s",
			 cls, msg);
		claim_event(p, pvc, KUBE_EVENT_WARNING, "ProvisioningFailed", full);
		goto out;
	}
	dv_crashpoint("provisioner.after_pv");
	snprintf(msg, sizeof(msg), "Successfully provisioned volume %s", r.pv_name);
	claim_event(p, pvc, KUBE_EVENT_NORMAL, "ProvisioningSucceeded", msg);
	log_info("provisioner: %s/%s: provisioned %s (volume %s)", ns, name, r.pv_name,
		 resp->volume->volume_id);
	ret = 0;
	if (r.clone_source[0]) {
		json_t *src = cache_get(p, CTRL_PVC, ns, r.clone_source);

		if (src && set_finalizer(p, &KUBE_PVCS, src, PROV_CLONE_FINALIZER, false) < 0)
			ret = -1;
		json_decref(src);
	}
	if (set_finalizer(p, &KUBE_PVCS, pvc, PROV_FINALIZER, false) < 0)
		ret = -1;
	reason = NULL;
out:
	ctrl_op_end(p->ctx, "provisioner", "provision", ret < 0 ? reason : NULL, t0);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	json_decref(pv);
	prov_req_free(&r);
	dv_status_clear(&st);
	return ret;
}

/* The finalizers a finished provision leaves to remove after a crash. */
static int64_t claim_settled(prov *p, json_t *pvc)
{
	int rc = set_finalizer(p, &KUBE_PVCS, pvc, PROV_FINALIZER, false);
	const json_t *ds = ctrl_get(pvc, "spec.dataSourceRef");

	if (!json_is_object(ds))
		ds = ctrl_get(pvc, "spec.dataSource");
	if (rc == 0 && str_eq(ctrl_str(ds, "kind"), "PersistentVolumeClaim")) {
		json_t *src = cache_get(p, CTRL_PVC, ctrl_str(pvc, "metadata.namespace"),
					ctrl_str(ds, "name"));

		if (src)
			rc = set_finalizer(p, &KUBE_PVCS, src, PROV_CLONE_FINALIZER, false);
		json_decref(src);
	}
	return rc < 0 ? -1 : 0;
}

static int64_t claim_work(const char *key, void *payload)
{
	prov *p = payload;
	char ns[256], name[256], pv_name[80];
	json_t *pvc, *sc = NULL, *pv;
	const char *mode;
	int64_t ret = 0;

	if (ctrl_split_key(key, ns, sizeof(ns), name, sizeof(name)) < 0)
		return 0;
	pvc = cache_get(p, CTRL_PVC, ns, name);
	if (!pvc)
		return 0;
	if (ctrl_being_deleted(pvc)) {
		if (ctrl_has_finalizer(pvc, PROV_FINALIZER))
			ret = claim_cleanup(p, pvc);
		goto out;
	}
	if (ctrl_str(pvc, "spec.volumeName") && *ctrl_str(pvc, "spec.volumeName")) {
		/* Bound, or pre-bound by the user: nothing to create. */
		if (ctrl_has_finalizer(pvc, PROV_FINALIZER))
			ret = claim_settled(p, pvc);
		goto out;
	}
	if (!claim_wants_us(p, pvc, &sc))
		goto out;
	if (!sc) {
		char msg[512];

		snprintf(msg, sizeof(msg), "storageclass.storage.k8s.io \"%s\" not found",
			 ctrl_str(pvc, "spec.storageClassName"));
		claim_event(p, pvc, KUBE_EVENT_WARNING, "ProvisioningFailed", msg);
		ret = -1;
		goto out;
	}
	mode = ctrl_str(sc, "volumeBindingMode");
	if (str_eq(mode, "WaitForFirstConsumer") && !annotation(pvc, PROV_ANN_SELECTED_NODE))
		goto out; /* the binder says "waiting for first consumer" */
	snprintf(pv_name, sizeof(pv_name), "pvc-%s", ctrl_str(pvc, "metadata.uid"));
	pv = claim_pv(p, pv_name, false);
	if (pv_is_for(pv, pvc)) {
		json_decref(pv);
		if (ctrl_has_finalizer(pvc, PROV_FINALIZER))
			ret = claim_settled(p, pvc);
		goto out;
	}
	json_decref(pv);
	ret = claim_provision(p, pvc, sc);
out:
	json_decref(sc);
	json_decref(pvc);
	return ret;
}

/* --- volumes ------------------------------------------------------------------------- */

static bool pv_is_ours(prov *p, const json_t *pv)
{
	return str_eq(annotation(pv, PROV_ANN_PROVISIONED_BY), p->ctx->driver.name) &&
	       str_eq(ctrl_str(pv, "spec.csi.driver"), p->ctx->driver.name);
}

/* The Secret DeleteVolume needs: the one recorded at provisioning time,
 * else what the class names now. */
static int delete_secrets(prov *p, const json_t *pv, ctrl_secrets *out, dv_status *st)
{
	const char *name = annotation(pv, PROV_ANN_DEL_SECRET_NAME);
	const char *ns = annotation(pv, PROV_ANN_DEL_SECRET_NS);

	memset(out, 0, sizeof(*out));
	if (!name || !ns)
		return 0;
	return ctrl_secrets_load(p->ctx, ns, name, out, st);
}

static int64_t volume_delete(prov *p, json_t *pv)
{
	const char *name = ctrl_str(pv, "metadata.name");
	char msg[KUBE_EVENT_MESSAGE_MAX];
	ctrl_secrets sec;
	dv_status st = { 0 };
	dv_code code = DV_INTERNAL;
	int64_t t0 = ctrl_op_begin(), ret = -1;
	const char *reason = "api";

	if (delete_secrets(p, pv, &sec, &st) < 0) {
		snprintf(msg, sizeof(msg), "cannot delete volume: %s",
			 st.message ? st.message : "secret unavailable");
		kube_event_on(p->ctx->rec, pv, "PersistentVolume", "v1", KUBE_EVENT_WARNING,
			      "VolumeFailedDelete", "%s", msg);
		goto out;
	}
	code = delete_volume(p, ctrl_str(pv, "spec.csi.volumeHandle"), &sec, &st);
	ctrl_secrets_free(&sec);
	if (code != DV_OK) {
		rpc_error_text(msg, sizeof(msg), code, &st);
		kube_event_on(p->ctx->rec, pv, "PersistentVolume", "v1", KUBE_EVENT_WARNING,
			      "VolumeFailedDelete", "%s", msg);
		log_warn("provisioner: DeleteVolume of %s: %s", name, msg);
		reason = dv_code_name(code);
		goto out;
	}
	dv_crashpoint("provisioner.delete.after_delete_volume");
	if (!ctrl_being_deleted(pv)) {
		kube_response resp = { 0 };
		json_t *opts = json_pack("{s:{s:s}}", "preconditions", "uid",
					 ctrl_str(pv, "metadata.uid"));
		int c = kube_delete(p->ctx->kube, &KUBE_PVS, NULL, name, opts, &resp);

		json_decref(opts);
		if (c != 200 && c != 202 && c != 404) {
			log_warn("provisioner: cannot delete PV %s: %s", name,
				 resp.message[0] ? resp.message : "no response");
			kube_response_clear(&resp);
			goto out;
		}
		kube_response_clear(&resp);
	}
	dv_crashpoint("provisioner.delete.after_pv_delete");
	if (set_finalizer(p, &KUBE_PVS, pv, PROV_PV_FINALIZER, false) < 0)
		goto out;
	log_info("provisioner: deleted volume %s", name);
	ret = 0;
	reason = NULL;
out:
	ctrl_op_end(p->ctx, "provisioner", "delete", ret < 0 ? reason : NULL, t0);
	dv_status_clear(&st);
	return ret;
}

static int64_t volume_work(const char *key, void *payload)
{
	prov *p = payload;
	json_t *pv = cache_get(p, CTRL_PV, NULL, key);
	const char *phase, *policy;
	int64_t ret = 0;

	if (!pv)
		return 0;
	if (!pv_is_ours(p, pv))
		goto out;
	phase = ctrl_str(pv, "status.phase");
	policy = ctrl_str(pv, "spec.persistentVolumeReclaimPolicy");
	if (str_eq(policy, "Delete")) {
		/* Released: its claim is gone. Deleted while never bound (or
		 * while the claim is already gone): nothing will use it. */
		if (str_eq(phase, "Released") ||
		    (ctrl_being_deleted(pv) && !str_eq(phase, "Bound")))
			ret = volume_delete(p, pv);
	} else if (ctrl_being_deleted(pv) && ctrl_has_finalizer(pv, PROV_PV_FINALIZER)) {
		/* Retain: the volume stays; the object may go. */
		ret = set_finalizer(p, &KUBE_PVS, pv, PROV_PV_FINALIZER, false) < 0 ? -1 : 0;
	}
out:
	json_decref(pv);
	return ret;
}

/* --- wiring ---------------------------------------------------------------------------- */

/* A class that appears or changes may unblock claims waiting on it. */
static void on_class(const json_t *sc, void *payload)
{
	prov *p = payload;
	json_t *claims = kube_informer_by_index(ctrl_informer(p->ctx, CTRL_PVC), "class",
						ctrl_str(sc, "metadata.name"));
	size_t i;
	json_t *c;

	json_array_foreach(claims, i, c)
		if (!ctrl_str(c, "spec.volumeName"))
			ctrl_loop_enqueue(&p->claims, c);
	json_decref(claims);
}

static void on_class_update(const json_t *old_obj, const json_t *new_obj, void *payload)
{
	(void)old_obj;
	on_class(new_obj, payload);
}

static int prov_setup(ctrl_ctx *ctx, void **ret_state)
{
	prov *p = calloc(1, sizeof(*p));
	kube_handlers hc, hv, hs = { on_class, on_class_update, NULL, NULL };
	struct timespec ts;

	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(p->identity, sizeof(p->identity), "%lld-%ld-%s",
		 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, (long)getpid() % 10000,
		 ctx->driver.name);
	if (ctrl_loop_init(&p->claims, ctx, "provisioner-claims", claim_work, p) < 0 ||
	    ctrl_loop_init(&p->volumes, ctx, "provisioner-volumes", volume_work, p) < 0)
		goto fail;
	hc = ctrl_loop_handlers(&p->claims);
	hv = ctrl_loop_handlers(&p->volumes);
	hs.payload = p;
	if (ctrl_watch(ctx, CTRL_PVC, &hc) < 0 || ctrl_watch(ctx, CTRL_PV, &hv) < 0 ||
	    ctrl_watch(ctx, CTRL_SC, &hs) < 0 || ctrl_watch(ctx, CTRL_NODE, NULL) < 0 ||
	    ctrl_watch(ctx, CTRL_CSINODE, NULL) < 0)
		goto fail;
	*ret_state = p;
	return 0;
fail:
	ctrl_loop_destroy(&p->claims);
	ctrl_loop_destroy(&p->volumes);
	free(p);
	return -ENOMEM;
}

static int prov_run(void *state)
{
	prov *p = state;

	if (!p->ctx->driver.create_delete) {
		log_warn("provisioner: driver %s has no CREATE_DELETE_VOLUME capability; "
			 "the provisioner stays idle",
			 p->ctx->driver.name);
		return 0;
	}
	if (ctrl_loop_run(&p->claims) < 0 || ctrl_loop_run(&p->volumes) < 0)
		return -1;
	return 0;
}

static void prov_stop(void *state)
{
	prov *p = state;

	ctrl_loop_stop(&p->claims);
	ctrl_loop_stop(&p->volumes);
}

static void prov_free(void *state)
{
	prov *p = state;

	ctrl_loop_destroy(&p->claims);
	ctrl_loop_destroy(&p->volumes);
	free(p);
}

const ctrl_def ctrl_provisioner = { "provisioner", prov_setup, prov_run, prov_stop, prov_free };
