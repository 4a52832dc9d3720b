/* Fuzz target: CSI request decoding and validation. The first byte picks
 * the method; the rest is sent as its (possibly malformed) request message
 * through a real gRPC client to the in-process driver. Node calls run when
 * the harness gets a private mount namespace (root): whatever they mount
 * goes with the process. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "rpc/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char *const methods[] = {
	"/csi.v1.Controller/CreateVolume",
	"/csi.v1.Controller/DeleteVolume",
	"/csi.v1.Controller/ListVolumes",
	"/csi.v1.Controller/GetCapacity",
	"/csi.v1.Controller/CreateSnapshot",
	"/csi.v1.Controller/ControllerExpandVolume",
	"/csi.v1.Controller/ValidateVolumeCapabilities",
	"/csi.v1.Controller/ControllerPublishVolume",
	"/csi.v1.Controller/ListSnapshots",
	"/csi.v1.Controller/ControllerGetVolume",
	"/csi.v1.Controller/ControllerModifyVolume",
	"/csi.v1.Controller/DeleteSnapshot",
	"/csi.v1.Controller/ControllerUnpublishVolume",
	"/csi.v1.Identity/Probe",
	/* served only with harness_enable_node(); else UNIMPLEMENTED */
	"/csi.v1.Node/NodeStageVolume",
	"/csi.v1.Node/NodeUnstageVolume",
	"/csi.v1.Node/NodePublishVolume",
	"/csi.v1.Node/NodeUnpublishVolume",
	"/csi.v1.Node/NodeGetVolumeStats",
	"/csi.v1.Node/NodeExpandVolume",
	"/csi.v1.Node/NodeGetInfo",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (harness_enable_node() < 0)
		fprintf(stderr, "fuzz_csi: no private mount namespace (not root?): Node calls "
				"are not served\n");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rpc_client *client;
	char endpoint[160];
	dv_status st = { 0 };
	dv_buf resp;

	if (size == 0)
		return 0;
	if (!client) {
		snprintf(endpoint, sizeof(endpoint), "unix://%s", harness_socket());
		if (rpc_client_new(&client, endpoint, &st) < 0)
			abort();
	}
	dv_buf_init(&resp, 0);
	rpc_client_call_raw(client, methods[data[0] % (sizeof(methods) / sizeof(methods[0]))],
			    data + 1, size - 1, &resp, 2000000000LL, &st);
	/* a transport failure here means the server died or wedged */
	if (st.code == DV_UNAVAILABLE || st.code == DV_DEADLINE_EXCEEDED)
		abort();
	dv_buf_free(&resp);
	dv_status_clear(&st);
	return 0;
}
