/* ctl_identity.c - dynvolctl identity info|caps|probe. */
#include <stdio.h>
#include <string.h>

#include "csi.pb-c.h"
#include "ctl.h"

static int info(ctl_ctx *ctx)
{
	Csi__V1__GetPluginInfoRequest req = CSI__V1__GET_PLUGIN_INFO_REQUEST__INIT;
	Csi__V1__GetPluginInfoResponse *resp = NULL;
	int code = ctl_call(ctx, "/csi.v1.Identity/GetPluginInfo", &req.base,
			    &csi__v1__get_plugin_info_response__descriptor, (ProtobufCMessage **)&resp);

	if (code != 0)
		return code;
	if (ctx->json) {
		ctl_print_json(&resp->base);
	} else {
		printf("name: %s\nvendor_version: %s\n", resp->name, resp->vendor_version);
		for (size_t i = 0; i < resp->n_manifest; i++)
			printf("manifest.%s: %s\n", resp->manifest[i]->key, resp->manifest[i]->value);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

static int caps(ctl_ctx *ctx)
{
	Csi__V1__GetPluginCapabilitiesRequest req = CSI__V1__GET_PLUGIN_CAPABILITIES_REQUEST__INIT;
	Csi__V1__GetPluginCapabilitiesResponse *resp = NULL;
	int code = ctl_call(ctx, "/csi.v1.Identity/GetPluginCapabilities", &req.base,
			    &csi__v1__get_plugin_capabilities_response__descriptor,
			    (ProtobufCMessage **)&resp);

	if (code != 0)
		return code;
	if (ctx->json) {
		ctl_print_json(&resp->base);
	} else {
		for (size_t i = 0; i < resp->n_capabilities; i++) {
			const Csi__V1__PluginCapability *cap = resp->capabilities[i];
			const ProtobufCEnumValue *v = NULL;
			if (cap->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE)
				v = protobuf_c_enum_descriptor_get_value(
					&csi__v1__plugin_capability__service__type__descriptor,
					(int)cap->service->type);
			else if (cap->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION)
				v = protobuf_c_enum_descriptor_get_value(
					&csi__v1__plugin_capability__volume_expansion__type__descriptor,
					(int)cap->volume_expansion->type);
			if (cap->type_case == CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION)
				printf("VOLUME_EXPANSION_");
			printf("%s\n", v ? v->name : "UNKNOWN");
		}
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

static int probe(ctl_ctx *ctx)
{
	Csi__V1__ProbeRequest req = CSI__V1__PROBE_REQUEST__INIT;
	Csi__V1__ProbeResponse *resp = NULL;
	int code = ctl_call(ctx, "/csi.v1.Identity/Probe", &req.base,
			    &csi__v1__probe_response__descriptor, (ProtobufCMessage **)&resp);

	if (code != 0)
		return code;
	if (ctx->json) {
		ctl_print_json(&resp->base);
	} else if (resp->ready) {
		printf("ready: %s\n", resp->ready->value ? "true" : "false");
	} else {
		/* the spec: an absent ready field means ready */
		printf("ready: true (not reported)\n");
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int ctl_identity(ctl_ctx *ctx, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "dynvolctl identity: info, caps or probe?\n");
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "info") == 0)
		return info(ctx);
	if (strcmp(argv[1], "caps") == 0)
		return caps(ctx);
	if (strcmp(argv[1], "probe") == 0)
		return probe(ctx);
	fprintf(stderr, "dynvolctl identity: unknown command '%s' (info, caps, probe)\n", argv[1]);
	return EXIT_USAGE;
}
