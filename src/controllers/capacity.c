/*
 * capacity.c - external-provisioner's storage capacity feature: for each
 * StorageClass of our driver and each topology segment the driver serves,
 * GetCapacity becomes a CSIStorageCapacity object the scheduler reads.
 *
 * One pass does everything, on one work queue key, so passes never run
 * concurrently: it lists our objects from the API (not the cache: an
 * object this process created a moment ago must be seen, or a restart or
 * a fast second pass would create it twice), works out the wanted
 * (class, segment) pairs, asks the driver for each, creates what is
 * missing, updates what changed and deletes what no pair wants any more.
 * The pass runs every --capacity-poll-interval and whenever a class, a
 * node's labels, a CSINode or one of our objects changes.
 *
 * Our objects are found by two labels, as upstream marks its own:
 * csi.storage.k8s.io/drivername = the driver and
 * csi.storage.k8s.io/managed-by = dynvol-controller. Names are generated
 * by the API server ("csisc-" + random). Objects have no owner: they live
 * until a pass removes them.
 */
#include "ctrl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "log.h"
#include "quantity.h"

#define CAP_KEY "capacity"
#define CAP_LABEL_DRIVER "csi.storage.k8s.io/drivername"
#define CAP_LABEL_MANAGED "csi.storage.k8s.io/managed-by"
#define CAP_MANAGED_BY "dynvol-controller"
/* GetCapacity should be quick; a hung driver must not stall the pass. */
#define CAP_TIMEOUT_NS (60 * 1000000000LL)

typedef struct {
	ctrl_ctx *ctx;
	ctrl_loop loop;
	const char *ns; /* where the objects go */
} cap;

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* --- what is wanted ---------------------------------------------------------------- */

/* The segment of one node for our driver: {key: node label} for every
 * topology key its CSINode lists, or NULL when a label is missing (the
 * node is not fully set up: no capacity can be placed there yet). */
static json_t *node_segment(cap *c, const json_t *csinode)
{
	const json_t *drivers = ctrl_get(csinode, "spec.drivers"), *keys = NULL;
	json_t *node, *labels, *seg;
	size_t i;
	json_t *d, *k;

	json_array_foreach(drivers, i, d)
		if (str_eq(ctrl_str(d, "name"), c->ctx->driver.name))
			keys = json_object_get(d, "topologyKeys");
	if (json_array_size(keys) == 0)
		return NULL;
	node = kube_informer_get(ctrl_informer(c->ctx, CTRL_NODE), NULL,
				 ctrl_str(csinode, "metadata.name"));
	labels = ctrl_get(node, "metadata.labels");
	seg = json_object();
	json_array_foreach(keys, i, k) {
		const char *v = json_string_value(json_object_get(labels, json_string_value(k)));

		if (!seg || !json_is_string(k) || !v) {
			json_decref(seg);
			seg = NULL;
			break;
		}
		json_object_set_new(seg, json_string_value(k), json_string(v));
	}
	json_decref(node);
	return seg;
}

/* The distinct segments of the nodes that run our driver: a JSON array
 * of {key: value} objects; [null] for a driver without topology (one
 * object per class, without nodeTopology). */
static json_t *segments(cap *c)
{
	json_t *out = json_array(), *csinodes;
	size_t i, j;
	json_t *cn, *have;

	if (!out || !c->ctx->driver.topology) {
		if (out)
			json_array_append_new(out, json_null());
		return out;
	}
	csinodes = kube_informer_list(ctrl_informer(c->ctx, CTRL_CSINODE));
	json_array_foreach(csinodes, i, cn) {
		json_t *seg = node_segment(c, cn);
		bool dup = false;

		if (!seg)
			continue;
		json_array_foreach(out, j, have)
			dup = dup || json_equal(have, seg);
		if (dup)
			json_decref(seg);
		else
			json_array_append_new(out, seg);
	}
	json_decref(csinodes);
	return out;
}

/* Our classes, from the cache. */
static json_t *classes(cap *c)
{
	json_t *all = kube_informer_list(ctrl_informer(c->ctx, CTRL_SC)), *out = json_array();
	size_t i;
	json_t *sc;

	json_array_foreach(all, i, sc)
		if (out && str_eq(ctrl_str(sc, "provisioner"), c->ctx->driver.name) &&
		    !ctrl_being_deleted(sc))
			json_array_append(out, sc);
	json_decref(all);
	return out;
}

/* --- the driver -------------------------------------------------------------------------- */

/* GetCapacity for a class's parameters in one segment (NULL: anywhere). */
static dv_code get_capacity(cap *c, const json_t *sc, const json_t *seg, int64_t *avail,
			    int64_t *max_size, bool *has_max, dv_status *st)
{
	Csi__V1__GetCapacityRequest req = CSI__V1__GET_CAPACITY_REQUEST__INIT;
	Csi__V1__GetCapacityResponse *resp = NULL;
	Csi__V1__Topology topo = CSI__V1__TOPOLOGY__INIT;
	const json_t *params = json_object_get(sc, "parameters");
	dv_code code;

	/* The class's parameters as they are, as upstream sends them: the
	 * reserved csi.storage.k8s.io/ keys are the driver's to ignore. */
	if (json_object_size(params)) {
		req.parameters = (Csi__V1__GetCapacityRequest__ParametersEntry **)ctrl_pb_map_from_json(
			params, &csi__v1__get_capacity_request__parameters_entry__descriptor,
			&req.n_parameters);
		if (!req.parameters)
			return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
	}
	if (json_is_object(seg)) {
		topo.segments = (Csi__V1__Topology__SegmentsEntry **)ctrl_pb_map_from_json(
			seg, &csi__v1__topology__segments_entry__descriptor, &topo.n_segments);
		if (!topo.segments) {
			ctrl_pb_map_free((void **)req.parameters, req.n_parameters);
			return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
		}
		req.accessible_topology = &topo;
	}
	code = ctrl_csi_call(c->ctx, "/csi.v1.Controller/GetCapacity", &req.base,
			     &csi__v1__get_capacity_response__descriptor, (ProtobufCMessage **)&resp,
			     CAP_TIMEOUT_NS, st);
	ctrl_pb_map_free((void **)req.parameters, req.n_parameters);
	ctrl_pb_map_free((void **)topo.segments, topo.n_segments);
	if (code == DV_OK && resp) {
		*avail = resp->available_capacity < 0 ? 0 : resp->available_capacity;
		*has_max = resp->maximum_volume_size != NULL;
		*max_size = *has_max ? resp->maximum_volume_size->value : 0;
	} else if (code == DV_OK) {
		code = dv_status_set(st, DV_INTERNAL, "no response");
	}
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* --- the objects ---------------------------------------------------------------------------- */

/* Ours in the namespace, from the API: [] when none, NULL on error. */
static json_t *list_ours(cap *c)
{
	char query[512];
	kube_response resp = { 0 };
	json_t *items = NULL;
	int code;

	/* Driver names are DNS-like ([a-z0-9.-]): nothing to escape. */
	snprintf(query, sizeof(query), "labelSelector=%s%%3D%s%%2C%s%%3D%s",
		 CAP_LABEL_DRIVER, c->ctx->driver.name, CAP_LABEL_MANAGED, CAP_MANAGED_BY);
	code = kube_list(c->ctx->kube, &KUBE_CSISTORAGECAPACITIES, c->ns, query, &resp);
	if (code == 200 && json_is_array(json_object_get(resp.body, "items")))
		items = json_incref(json_object_get(resp.body, "items"));
	else
		log_warn("capacity: cannot list CSIStorageCapacity objects in %s: %s", c->ns,
			 resp.message[0] ? resp.message : "no response");
	kube_response_clear(&resp);
	return items;
}

static bool obj_matches(const json_t *obj, const char *cls, const json_t *seg)
{
	const json_t *ml = ctrl_get(obj, "nodeTopology.matchLabels");

	if (!str_eq(ctrl_str(obj, "storageClassName"), cls))
		return false;
	if (!json_is_object(seg))
		return !json_is_object(ctrl_get(obj, "nodeTopology"));
	return json_is_object(ml) && json_equal(ml, seg);
}

/* Writes capacity and maximumVolumeSize into obj; true when they changed. */
static bool set_values(json_t *obj, int64_t avail, int64_t max_size, bool has_max)
{
	char q[64], m[64];
	bool changed;

	dv_quantity_from_bytes((uint64_t)avail, q, sizeof(q));
	changed = !str_eq(ctrl_str(obj, "capacity"), q);
	json_object_set_new(obj, "capacity", json_string(q));
	if (has_max) {
		dv_quantity_from_bytes(max_size < 0 ? 0 : (uint64_t)max_size, m, sizeof(m));
		changed = changed || !str_eq(ctrl_str(obj, "maximumVolumeSize"), m);
		json_object_set_new(obj, "maximumVolumeSize", json_string(m));
	} else if (json_object_get(obj, "maximumVolumeSize")) {
		json_object_del(obj, "maximumVolumeSize");
		changed = true;
	}
	return changed;
}

static int create_obj(cap *c, const char *cls, const json_t *seg, int64_t avail,
		      int64_t max_size, bool has_max)
{
	kube_response resp = { 0 };
	json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:s}", "apiVersion",
				"storage.k8s.io/v1", "kind", "CSIStorageCapacity", "metadata",
				"generateName", "csisc-", "namespace", c->ns, "labels",
				CAP_LABEL_DRIVER, c->ctx->driver.name, CAP_LABEL_MANAGED,
				CAP_MANAGED_BY, "storageClassName", cls);
	int code;

	if (!obj)
		return -ENOMEM;
	if (json_is_object(seg))
		json_object_set_new(obj, "nodeTopology", json_pack("{s:O}", "matchLabels", seg));
	set_values(obj, avail, max_size, has_max);
	code = kube_create(c->ctx->kube, &KUBE_CSISTORAGECAPACITIES, c->ns, obj, &resp);
	json_decref(obj);
	if (code != 201 && code != 200)
		log_warn("capacity: cannot create a CSIStorageCapacity for class %s: %s", cls,
			 resp.message[0] ? resp.message : "no response");
	else
		log_info("capacity: %s/%s for class %s", c->ns,
			 ctrl_str(resp.body, "metadata.name"), cls);
	kube_response_clear(&resp);
	return code == 201 || code == 200 ? 0 : -EIO;
}

/* A compare-and-swap update (a conflict waits for the next pass). */
static int update_obj(cap *c, json_t *obj)
{
	kube_response resp = { 0 };
	int code = kube_update(c->ctx->kube, &KUBE_CSISTORAGECAPACITIES, c->ns, obj, &resp);

	if (code != 200)
		log_warn("capacity: cannot update %s/%s: %s", c->ns, ctrl_str(obj, "metadata.name"),
			 resp.message[0] ? resp.message : "no response");
	kube_response_clear(&resp);
	return code == 200 ? 0 : -EIO;
}

static int delete_obj(cap *c, const json_t *obj)
{
	kube_response resp = { 0 };
	const char *name = ctrl_str(obj, "metadata.name");
	int code = kube_delete(c->ctx->kube, &KUBE_CSISTORAGECAPACITIES, c->ns, name, NULL, &resp);

	if (code != 200 && code != 202 && code != 404)
		log_warn("capacity: cannot delete %s/%s: %s", c->ns, name,
			 resp.message[0] ? resp.message : "no response");
	else
		log_info("capacity: deleted %s/%s (class %s)", c->ns, name,
			 ctrl_str(obj, "storageClassName"));
	kube_response_clear(&resp);
	return code == 200 || code == 202 || code == 404 ? 0 : -EIO;
}

/* One (class, segment) pair: ask the driver, then make the first
 * matching object say so (creating one when none does); the matching
 * objects used are marked in `used`. */
static int sync_pair(cap *c, const json_t *sc, const json_t *seg, json_t *have, bool *used)
{
	const char *cls = ctrl_str(sc, "metadata.name");
	int64_t avail = 0, max_size = 0, t0 = ctrl_op_begin();
	bool has_max = false;
	dv_status st = { 0 };
	dv_code code = get_capacity(c, sc, seg, &avail, &max_size, &has_max, &st);
	size_t i;
	json_t *obj;

	ctrl_op_end(c->ctx, "capacity", "get_capacity", code == DV_OK ? NULL : dv_code_name(code),
		    t0);
	json_array_foreach(have, i, obj) {
		if (used[i] || !obj_matches(obj, cls, seg))
			continue;
		used[i] = true;
		if (code != DV_OK)
			break; /* keep the last known value */
		dv_status_clear(&st);
		return set_values(obj, avail, max_size, has_max) ? update_obj(c, obj) : 0;
	}
	if (code != DV_OK) {
		log_warn("capacity: GetCapacity for class %s: rpc error: code = %s desc = %s", cls,
			 dv_code_name(code), st.message ? st.message : "");
		dv_status_clear(&st);
		return -1;
	}
	return create_obj(c, cls, seg, avail, max_size, has_max);
}

static int64_t cap_work(const char *key, void *payload)
{
	cap *c = payload;
	json_t *have, *scs = NULL, *segs = NULL;
	bool *used = NULL;
	size_t i, j;
	json_t *sc, *seg, *obj;
	int rc = 0;

	(void)key;
	have = list_ours(c);
	if (!have)
		return -1;
	scs = classes(c);
	segs = segments(c);
	used = calloc(json_array_size(have) + 1, sizeof(bool));
	if (!scs || !segs || !used) {
		rc = -1;
		goto out;
	}
	json_array_foreach(scs, i, sc)
		json_array_foreach(segs, j, seg) {
			if (atomic_load(&c->ctx->stopping))
				goto out; /* half a pass is fine: the next one finishes */
			if (sync_pair(c, sc, seg, have, used) < 0)
				rc = -1;
		}
	/* What no pair wants: deleted classes, gone segments, duplicates. A
	 * pair whose GetCapacity failed still marked its object used, so a
	 * flaky driver never makes objects disappear. */
	json_array_foreach(have, i, obj)
		if (!used[i] && delete_obj(c, obj) < 0)
			rc = -1;
out:
	free(used);
	json_decref(segs);
	json_decref(scs);
	json_decref(have);
	return rc < 0 ? -1 : c->ctx->opt.capacity_poll_ns;
}

/* --- wiring ------------------------------------------------------------------------------------ */

static void kick(cap *c)
{
	kube_workqueue_add(c->loop.q, CAP_KEY);
}

static void on_any(const json_t *obj, void *payload)
{
	(void)obj;
	kick(payload);
}

static void on_any_update(const json_t *old_obj, const json_t *new_obj, void *payload)
{
	(void)old_obj;
	(void)new_obj;
	kick(payload);
}

/* Nodes change their status every few seconds; only labels matter. */
static void on_node_update(const json_t *old_obj, const json_t *new_obj, void *payload)
{
	if (!json_equal(ctrl_get(old_obj, "metadata.labels"), ctrl_get(new_obj, "metadata.labels")))
		kick(payload);
}

/* Our own writes come back as events: only a deletion by someone else
 * (or a stranger's object with our labels) needs a pass before the next
 * poll. */
static void on_capacity_delete(const json_t *obj, void *payload)
{
	cap *c = payload;

	if (str_eq(ctrl_str(obj, "metadata.namespace"), c->ns) &&
	    str_eq(json_string_value(json_object_get(ctrl_get(obj, "metadata.labels"),
						     CAP_LABEL_MANAGED)),
		   CAP_MANAGED_BY))
		kick(c);
}

static int cap_setup(ctrl_ctx *ctx, void **ret_state)
{
	cap *c = calloc(1, sizeof(*c));
	kube_handlers hsc = { on_any, on_any_update, on_any, NULL };
	kube_handlers hcn = { on_any, on_any_update, on_any, NULL };
	kube_handlers hnode = { on_any, on_node_update, on_any, NULL };
	kube_handlers hcap = { NULL, NULL, on_capacity_delete, NULL };

	if (!c)
		return -ENOMEM;
	c->ctx = ctx;
	c->ns = ctx->opt.capacity_namespace && *ctx->opt.capacity_namespace
			? ctx->opt.capacity_namespace
			: "default";
	if (ctrl_loop_init(&c->loop, ctx, "capacity", cap_work, c) < 0)
		goto fail;
	hsc.payload = hcn.payload = hnode.payload = hcap.payload = c;
	if (ctrl_watch(ctx, CTRL_SC, &hsc) < 0 || ctrl_watch(ctx, CTRL_CSINODE, &hcn) < 0 ||
	    ctrl_watch(ctx, CTRL_NODE, &hnode) < 0 || ctrl_watch(ctx, CTRL_CAPACITY, &hcap) < 0)
		goto fail;
	*ret_state = c;
	return 0;
fail:
	ctrl_loop_destroy(&c->loop);
	free(c);
	return -ENOMEM;
}

static int cap_run(void *state)
{
	cap *c = state;

	if (!c->ctx->driver.capacity) {
		log_warn("capacity: driver %s has no GET_CAPACITY capability; no "
			 "CSIStorageCapacity objects are published",
			 c->ctx->driver.name);
		return 0;
	}
	if (ctrl_loop_run(&c->loop) < 0)
		return -1;
	kick(c);
	return 0;
}

static void cap_stop(void *state)
{
	ctrl_loop_stop(&((cap *)state)->loop);
}

static void cap_free(void *state)
{
	cap *c = state;

	ctrl_loop_destroy(&c->loop);
	free(c);
}

const ctrl_def ctrl_capacity = { "capacity", cap_setup, cap_run, cap_stop, cap_free };
