/*
 * identity.c - CSI Identity service: GetPluginInfo, GetPluginCapabilities,
 * Probe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "csi.h"
#include "log.h"
#include "strutil.h"
#include "csi.pb-c.h"

csi_mode csi_mode_from_string(const char *s)
{
	if (strcmp(s, "controller") == 0)
		return CSI_MODE_CONTROLLER;
	if (strcmp(s, "node") == 0)
		return CSI_MODE_NODE;
	if (strcmp(s, "all") == 0)
		return CSI_MODE_ALL;
	return 0;
}

static void get_plugin_info(rpc_call *call, const ProtobufCMessage *req, void *payload)
{
	csi_driver *drv = payload;
	Csi__V1__GetPluginInfoResponse resp = CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;

	resp.name = (char *)drv->name;
	resp.vendor_version = (char *)drv->version;
	rpc_call_reply(call, &resp.base);
}

static void get_plugin_capabilities(rpc_call *call, const ProtobufCMessage *req, void *payload)
{
	csi_driver *drv = payload;
	Csi__V1__GetPluginCapabilitiesResponse resp = CSI__V1__GET_PLUGIN_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__PluginCapability caps[3], *capp[3];
	Csi__V1__PluginCapability__Service svc[2];
	size_t n = 0;

	/* CONTROLLER_SERVICE only where the controller RPCs are served;
	 * accessibility constraints always: every pool is topology-bound. */
	int types[2];
	size_t nt = 0;
	if (drv->mode & CSI_MODE_CONTROLLER)
		types[nt++] = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE;
	types[nt++] = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS;
	for (size_t i = 0; i < nt; i++) {
		csi__v1__plugin_capability__init(&caps[n]);
		csi__v1__plugin_capability__service__init(&svc[n]);
		svc[n].type = types[i];
		caps[n].type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
		caps[n].service = &svc[n];
		capp[n] = &caps[n];
		n++;
	}
	/* Volumes grow while published: image files and loop devices grow
	 * under a mounted file system, btrfs limits change in place. */
	Csi__V1__PluginCapability__VolumeExpansion exp = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__INIT;
	exp.type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
	csi__v1__plugin_capability__init(&caps[n]);
	caps[n].type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
	caps[n].volume_expansion = &exp;
	capp[n] = &caps[n];
	n++;
	resp.n_capabilities = n;
	resp.capabilities = capp;
	rpc_call_reply(call, &resp.base);
}

/* A directory we can create files in, on a file system that is not
 * read-only. access(2) alone is not enough: root passes it everywhere. */
static const char *dir_unusable(const char *path, const char *what, char *buf, size_t len)
{
	struct stat st;
	struct statvfs sv;

	if (lstat(path, &st) < 0) {
		snprintf(buf, len, "%s %s: %s", what, path, strerror(errno));
		return buf;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(buf, len, "%s %s is not a directory", what, path);
		return buf;
	}
	if (statvfs(path, &sv) < 0 || (sv.f_flag & ST_RDONLY) || access(path, W_OK | X_OK) < 0) {
		snprintf(buf, len, "%s %s is not writable", what, path);
		return buf;
	}
	return NULL;
}

const char *csi_driver_not_ready(const csi_driver *drv, char *buf, size_t len)
{
	const char *why = dir_unusable(drv->state_dir, "state directory", buf, len);

	if (!why && drv->store && registry_ping(store_registry(drv->store)) < 0) {
		snprintf(buf, len, "the registry in %s does not answer", drv->state_dir);
		why = buf;
	}
	for (size_t i = 0; !why && i < drv->config->n_pools; i++)
		why = dir_unusable(drv->config->pools[i].root, "pool root", buf, len);
	return why;
}

/*
 * Probe's readiness cache. probe_ready_until holds, as one atomic value:
 *   > 0  a check that began at T found the driver ready: reuse it until
 *        T + probe_cache_ns;
 *   < 0  a check that began at -value found it not ready;
 *   0    nothing known.
 * A check that finds the driver ready publishes only if no check that
 * began later found it not ready, so a failure is never covered by a
 * slower success racing it.
 */
static bool probe_cached_ready(csi_driver *drv)
{
	int64_t until = atomic_load_explicit(&drv->probe_ready_until, memory_order_relaxed);

	return until > 0 && dv_now_ns() < until;
}

static void probe_publish(csi_driver *drv, int64_t began, bool ready)
{
	int64_t cur = atomic_load(&drv->probe_ready_until);

	if (drv->probe_cache_ns <= 0)
		return;
	if (!ready) {
		atomic_store(&drv->probe_ready_until, -began);
		return;
	}
	int64_t until = began + drv->probe_cache_ns;
	do {
		if ((cur < 0 && -cur > began) || cur >= until)
			return; /* a later failure, or a fresher success */
	} while (!atomic_compare_exchange_weak(&drv->probe_ready_until, &cur, until));
}

/*
 * Liveness probes and sidecars call Probe every few seconds, and a CO may
 * call it in bursts. A cached "ready" is answered on the event loop: no
 * thread hand-off, no file system or registry access. Otherwise the check
 * runs on a worker, since it may block on a hung mount. "Not ready" is
 * never reused: the next Probe checks again, so recovery shows at once.
 */
static void probe(rpc_call *call, const ProtobufCMessage *req, void *payload)
{
	csi_driver *drv = payload;
	Csi__V1__ProbeResponse resp = CSI__V1__PROBE_RESPONSE__INIT;
	Google__Protobuf__BoolValue ready = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;

	ready.value = probe_cached_ready(drv);
	if (!ready.value) {
		char buf[512];
		int64_t began;
		const char *why;

		if (rpc_call_defer(call))
			return;
		began = dv_now_ns();
		why = csi_driver_not_ready(drv, buf, sizeof(buf));
		probe_publish(drv, began, why == NULL);
		/* Not ready is an answer, not an error: the CO decides what to
		 * do. The reason goes to the log so an operator can act on it. */
		if (why)
			dv_log(DV_LOG_WARN, "probe: not ready: %s", why);
		ready.value = why == NULL;
	}
	resp.ready = &ready;
	rpc_call_reply(call, &resp.base);
}

static const rpc_method identity_methods[] = {
	{ "/csi.v1.Identity/GetPluginInfo", &csi__v1__get_plugin_info_request__descriptor,
	  &csi__v1__get_plugin_info_response__descriptor, get_plugin_info, RPC_METHOD_INLINE },
	{ "/csi.v1.Identity/GetPluginCapabilities",
	  &csi__v1__get_plugin_capabilities_request__descriptor,
	  &csi__v1__get_plugin_capabilities_response__descriptor, get_plugin_capabilities,
	  RPC_METHOD_INLINE },
	/* Probe's check touches the file system: on a worker, so a hung
	 * mount never stalls the event loop; a cached verdict is not. */
	{ "/csi.v1.Identity/Probe", &csi__v1__probe_request__descriptor,
	  &csi__v1__probe_response__descriptor, probe, RPC_METHOD_TRY_INLINE },
};

int csi_identity_register(rpc_server *srv, csi_driver *drv)
{
	for (size_t i = 0; i < sizeof(identity_methods) / sizeof(identity_methods[0]); i++) {
		int r = rpc_server_add_method(srv, &identity_methods[i], drv);
		if (r < 0)
			return r;
	}
	return 0;
}
