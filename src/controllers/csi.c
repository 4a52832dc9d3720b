/*
 * csi.c - the controllers' side of CSI: a pool of gRPC connections to the
 * driver (rpc_client is one connection used by one thread at a time), the
 * start-up probe of the driver's name and capabilities, and protobuf map
 * helpers for parameters, secrets and volume contexts.
 */
#include "ctrl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "log.h"
#include "ratelimit.h"
#include "rpc/client.h"

struct ctrl_csi {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *endpoint;
	int max, open;
	rpc_client **idle;
	int nidle;
};

int ctrl_csi_new(const char *endpoint, int max_conns, ctrl_csi **ret, dv_status *st)
{
	ctrl_csi *c = calloc(1, sizeof(*c));
	rpc_client *probe;

	if (!c)
		return -ENOMEM;
	if (max_conns <= 0)
		max_conns = 16;
	c->max = max_conns;
	c->endpoint = strdup(endpoint);
	c->idle = calloc((size_t)max_conns, sizeof(*c->idle));
	if (!c->endpoint || !c->idle) {
		ctrl_csi_free(c);
		return -ENOMEM;
	}
	/* Parse the endpoint now so a typo fails at start-up, not per call. */
	if (rpc_client_new(&probe, endpoint, st) < 0) {
		ctrl_csi_free(c);
		return -EINVAL;
	}
	c->idle[c->nidle++] = probe;
	c->open = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	*ret = c;
	return 0;
}

void ctrl_csi_free(ctrl_csi *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nidle; i++)
		rpc_client_free(c->idle[i]);
	if (c->idle) {
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
	}
	free(c->idle);
	free(c->endpoint);
	free(c);
}

/* An idle connection, a new one while under max, else wait for one. */
static rpc_client *csi_take(ctrl_csi *c, dv_status *st)
{
	rpc_client *cl = NULL;

	pthread_mutex_lock(&c->lock);
	while (c->nidle == 0 && c->open >= c->max)
		pthread_cond_wait(&c->cond, &c->lock);
	if (c->nidle > 0) {
		cl = c->idle[--c->nidle];
		pthread_mutex_unlock(&c->lock);
		return cl;
	}
	c->open++;
	pthread_mutex_unlock(&c->lock);
	if (rpc_client_new(&cl, c->endpoint, st) < 0) {
		pthread_mutex_lock(&c->lock);
		c->open--;
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	return cl;
}

static void csi_give(ctrl_csi *c, rpc_client *cl)
{
	pthread_mutex_lock(&c->lock);
	c->idle[c->nidle++] = cl;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

dv_code ctrl_csi_call(ctrl_ctx *ctx, const char *path, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp,
		      int64_t timeout_ns, dv_status *st)
{
	rpc_client *cl = csi_take(ctx->csi, st);
	int64_t t0 = ctrl_op_begin();
	dv_code code;

	*ret_resp = NULL;
	if (!cl)
		return st->code ? st->code : DV_UNAVAILABLE;
	code = rpc_client_call(cl, path, req, resp_desc, ret_resp, timeout_ns, st);
	csi_give(ctx->csi, cl);
	ctrl_csi_observe(ctx, path, code, t0);
	return code;
}

bool ctrl_code_is_transient(dv_code code)
{
	/* external-provisioner's "final error" list is the complement: these
	 * may mean the operation still runs in the driver. */
	switch (code) {
	case DV_CANCELLED:
	case DV_DEADLINE_EXCEEDED:
	case DV_UNAVAILABLE:
	case DV_RESOURCE_EXHAUSTED:
	case DV_ABORTED:
		return true;
	default:
		return false;
	}
}

/* --- the driver probe --------------------------------------------------------- */

static int probe_once(ctrl_ctx *ctx, const char *name_override, dv_status *st)
{
	Csi__V1__GetPluginInfoRequest ireq = CSI__V1__GET_PLUGIN_INFO_REQUEST__INIT;
	Csi__V1__GetPluginCapabilitiesRequest preq = CSI__V1__GET_PLUGIN_CAPABILITIES_REQUEST__INIT;
	Csi__V1__ControllerGetCapabilitiesRequest creq =
		CSI__V1__CONTROLLER_GET_CAPABILITIES_REQUEST__INIT;
	Csi__V1__GetPluginInfoResponse *info = NULL;
	Csi__V1__GetPluginCapabilitiesResponse *pcaps = NULL;
	Csi__V1__ControllerGetCapabilitiesResponse *ccaps = NULL;
	ctrl_driver_info *d = &ctx->driver;
	const int64_t t = 10LL * 1000000000;

	if (ctrl_csi_call(ctx, "/csi.v1.Identity/GetPluginInfo", &ireq.base,
			  &csi__v1__get_plugin_info_response__descriptor,
			  (ProtobufCMessage **)&info, t, st) != DV_OK)
		return -EAGAIN;
	snprintf(d->name, sizeof(d->name), "%s",
		 name_override && *name_override ? name_override : info->name);
	protobuf_c_message_free_unpacked(&info->base, NULL);

	if (ctrl_csi_call(ctx, "/csi.v1.Identity/GetPluginCapabilities", &preq.base,
			  &csi__v1__get_plugin_capabilities_response__descriptor,
			  (ProtobufCMessage **)&pcaps, t, st) != DV_OK)
		return -EAGAIN;
	for (size_t i = 0; i < pcaps->n_capabilities; i++) {
		const Csi__V1__PluginCapability *c = pcaps->capabilities[i];

		if (c->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE && c->service) {
			if (c->service->type ==
			    CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE)
				d->controller_service = true;
			if (c->service->type ==
			    CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS)
				d->topology = true;
		}
		if (c->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION &&
		    c->volume_expansion &&
		    c->volume_expansion->type == CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE)
			d->online_expand = true;
	}
	protobuf_c_message_free_unpacked(&pcaps->base, NULL);
	if (!d->controller_service)
		return 0;

	if (ctrl_csi_call(ctx, "/csi.v1.Controller/ControllerGetCapabilities", &creq.base,
			  &csi__v1__controller_get_capabilities_response__descriptor,
			  (ProtobufCMessage **)&ccaps, t, st) != DV_OK)
		return -EAGAIN;
	for (size_t i = 0; i < ccaps->n_capabilities; i++) {
		const Csi__V1__ControllerServiceCapability *c = ccaps->capabilities[i];

		if (c->type_case != CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC || !c->rpc)
			continue;
		switch (c->rpc->type) {
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME:
			d->create_delete = true;
			break;
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_UNPUBLISH_VOLUME:
			d->publish = true;
			break;
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME:
			d->expand = true;
			break;
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_SNAPSHOT:
			d->snapshots = true;
			break;
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CLONE_VOLUME:
			d->clone = true;
			break;
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY:
			d->capacity = true;
			break;
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__MODIFY_VOLUME:
			d->modify = true;
			break;
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_READONLY:
			d->readonly_publish = true;
			break;
		case CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER:
			d->single_node_multi_writer = true;
			break;
		default:
			break;
		}
	}
	protobuf_c_message_free_unpacked(&ccaps->base, NULL);
	return 0;
}

int ctrl_ctx_probe_driver(ctrl_ctx *ctx, const char *name_override, int timeout_ms,
			  dv_status *st)
{
	int64_t deadline = ctrl_op_begin() + (int64_t)timeout_ms * 1000000;
	int64_t pause = 100000000; /* 100 ms doubling to 2 s */

	for (;;) {
		dv_status_clear(st);
		if (probe_once(ctx, name_override, st) == 0) {
			log_info("controller: CSI driver %s: controller=%d topology=%d publish=%d "
				 "expand=%d snapshots=%d clone=%d capacity=%d",
				 ctx->driver.name, ctx->driver.controller_service,
				 ctx->driver.topology, ctx->driver.publish, ctx->driver.expand,
				 ctx->driver.snapshots, ctx->driver.clone, ctx->driver.capacity);
			return 0;
		}
		if (ctrl_op_begin() + pause > deadline || atomic_load(&ctx->stopping))
			return -ETIMEDOUT;
		kube_sleep_ns(pause);
		if (pause < 2000000000)
			pause *= 2;
	}
}

/* --- protobuf maps --------------------------------------------------------------- */

/* A map entry message has two string fields: key (1) and value (2). */
static void *entry_new(const ProtobufCMessageDescriptor *d, const char *k, const char *v)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);
	char **kp, **vp;

	if (!m)
		return NULL;
	protobuf_c_message_init(d, m);
	kp = (char **)((char *)m + d->fields[0].offset);
	vp = (char **)((char *)m + d->fields[1].offset);
	*kp = strdup(k);
	*vp = strdup(v);
	if (!*kp || !*vp) {
		free(*kp);
		free(*vp);
		free(m);
		return NULL;
	}
	return m;
}

void ctrl_pb_map_free(void **entries, size_t n)
{
	if (!entries)
		return;
	for (size_t i = 0; i < n; i++) {
		ProtobufCMessage *m = entries[i];
		const ProtobufCMessageDescriptor *d;
		char *k, *v;

		if (!m)
			continue;
		d = m->descriptor;
		k = *(char **)((char *)m + d->fields[0].offset);
		v = *(char **)((char *)m + d->fields[1].offset);
		free(k);
		if (v) {
			/* Values may be secrets. */
			explicit_bzero(v, strlen(v));
			free(v);
		}
		free(m);
	}
	free(entries);
}

void **ctrl_pb_map_from_kv(char *const *keys, char *const *values, size_t n,
			   const ProtobufCMessageDescriptor *entry_desc)
{
	void **e = calloc(n ? n : 1, sizeof(*e));

	if (!e)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		e[i] = entry_new(entry_desc, keys[i], values[i]);
		if (!e[i]) {
			ctrl_pb_map_free(e, n);
			return NULL;
		}
	}
	return e;
}

void **ctrl_pb_map_from_json(const json_t *obj, const ProtobufCMessageDescriptor *entry_desc,
			     size_t *ret_n)
{
	size_t n = 0, cap = json_is_object(obj) ? json_object_size(obj) : 0;
	void **e = calloc(cap ? cap : 1, sizeof(*e));
	const char *k;
	json_t *v;

	*ret_n = 0;
	if (!e)
		return NULL;
	if (cap)
		json_object_foreach((json_t *)obj, k, v) {
			if (!json_is_string(v))
				continue;
			e[n] = entry_new(entry_desc, k, json_string_value(v));
			if (!e[n]) {
				ctrl_pb_map_free(e, n);
				return NULL;
			}
			n++;
		}
	*ret_n = n;
	return e;
}

json_t *ctrl_pb_map_to_json(void *const *entries, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < n; i++) {
		const ProtobufCMessage *m = entries[i];
		const ProtobufCMessageDescriptor *d = m->descriptor;
		const char *k = *(char *const *)((const char *)m + d->fields[0].offset);
		const char *v = *(char *const *)((const char *)m + d->fields[1].offset);

		json_object_set_new(o, k ? k : "", json_string(v ? v : ""));
	}
	return o;
}
