/*
 * registration.c - the kubelet's plugin-registration service
 * (pluginregistration.k8s.io/v1), so a node DaemonSet needs no
 * node-driver-registrar sidecar: the kubelet's plugin watcher finds
 * <kubelet-root>/plugins_registry/<driver>-reg.sock, calls GetInfo, dials
 * the CSI endpoint it names (NodeGetInfo), then reports its verdict with
 * NotifyRegistrationStatus.
 */
#include <stdatomic.h>
#include <string.h>

#include "csi.h"
#include "log.h"
#include "pluginregistration.pb-c.h"

static void get_info(rpc_call *call, const ProtobufCMessage *req, void *payload)
{
	csi_registration *reg = payload;
	Pluginregistration__PluginInfo resp = PLUGINREGISTRATION__PLUGIN_INFO__INIT;
	/* The CSI versions the kubelet may use; it picks the highest it knows. */
	static char *versions[] = { "1.0.0" };

	(void)req;
	resp.type = "CSIPlugin";
	resp.name = (char *)reg->driver_name;
	resp.endpoint = (char *)reg->csi_path;
	resp.n_supported_versions = 1;
	resp.supported_versions = versions;
	rpc_call_reply(call, &resp.base);
}

static void notify_status(rpc_call *call, const ProtobufCMessage *req, void *payload)
{
	const Pluginregistration__RegistrationStatus *st =
		(const Pluginregistration__RegistrationStatus *)req;
	Pluginregistration__RegistrationStatusResponse resp =
		PLUGINREGISTRATION__REGISTRATION_STATUS_RESPONSE__INIT;
	csi_registration *reg = payload;

	if (st->plugin_registered) {
		atomic_store(&reg->registered, 1);
		log_info("kubelet registered driver %s (CSI endpoint %s)", reg->driver_name,
			 reg->csi_path);
	} else {
		/* The kubelet refused us (a name clash, an endpoint it cannot
		 * dial): node operations will not come. Said loudly; the
		 * kubelet retries when the socket is re-created, i.e. on the
		 * driver's restart. */
		atomic_store(&reg->registered, -1);
		log_error("kubelet refused to register driver %s: %s", reg->driver_name,
			  st->error && *st->error ? st->error : "(no reason given)");
	}
	rpc_call_reply(call, &resp.base);
}

static const rpc_method registration_methods[] = {
	{ "/pluginregistration.Registration/GetInfo",
	  &pluginregistration__info_request__descriptor,
	  &pluginregistration__plugin_info__descriptor, get_info, RPC_METHOD_INLINE },
	{ "/pluginregistration.Registration/NotifyRegistrationStatus",
	  &pluginregistration__registration_status__descriptor,
	  &pluginregistration__registration_status_response__descriptor, notify_status,
	  RPC_METHOD_INLINE },
};

int csi_registration_register(rpc_server *srv, csi_registration *reg)
{
	for (size_t i = 0; i < sizeof(registration_methods) / sizeof(registration_methods[0]); i++) {
		int r = rpc_server_add_method(srv, &registration_methods[i], reg);

		if (r < 0)
			return r;
	}
	return 0;
}
