/* Unit tests: protobuf to JSON, and that secrets never come out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "csi.pb-c.h"
#include "pbjson.h"

static void test_secrets_redacted(void **state)
{
	Csi__V1__CreateVolumeRequest req = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
	Csi__V1__CreateVolumeRequest__SecretsEntry sec = CSI__V1__CREATE_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
	Csi__V1__CreateVolumeRequest__SecretsEntry *secp = &sec;
	Csi__V1__CreateVolumeRequest__ParametersEntry par = CSI__V1__CREATE_VOLUME_REQUEST__PARAMETERS_ENTRY__INIT;
	Csi__V1__CreateVolumeRequest__ParametersEntry *parp = &par;
	Csi__V1__CapacityRange cap = CSI__V1__CAPACITY_RANGE__INIT;

	req.name = "pvc-1";
	sec.key = "password";
	sec.value = "hunter2-TOPSECRET";
	req.n_secrets = 1;
	req.secrets = &secp;
	par.key = "pool";
	par.value = "fast";
	req.n_parameters = 1;
	req.parameters = &parp;
	cap.required_bytes = 1LL << 40;
	req.capacity_range = &cap;

	char *s = pbjson_dumps(&req.base, JSON_COMPACT);
	assert_non_null(s);
	assert_null(strstr(s, "hunter2"));
	assert_null(strstr(s, "password"));
	assert_non_null(strstr(s, "\"secrets\":\"<redacted>\""));
	assert_non_null(strstr(s, "\"parameters\":{\"pool\":\"fast\"}"));
	assert_non_null(strstr(s, "\"required_bytes\":1099511627776"));
	assert_non_null(strstr(s, "\"name\":\"pvc-1\""));
	free(s);
}

static void test_oneof_enum_wrappers(void **state)
{
	Csi__V1__GetPluginCapabilitiesResponse resp = CSI__V1__GET_PLUGIN_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__PluginCapability cap = CSI__V1__PLUGIN_CAPABILITY__INIT;
	Csi__V1__PluginCapability__Service svc = CSI__V1__PLUGIN_CAPABILITY__SERVICE__INIT;
	Csi__V1__PluginCapability *capp = &cap;

	svc.type = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE;
	cap.type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
	cap.service = &svc;
	resp.n_capabilities = 1;
	resp.capabilities = &capp;
	char *s = pbjson_dumps(&resp.base, JSON_COMPACT);
	assert_string_equal(s, "{\"capabilities\":[{\"service\":{\"type\":\"CONTROLLER_SERVICE\"}}]}");
	free(s);

	Csi__V1__ProbeResponse pr = CSI__V1__PROBE_RESPONSE__INIT;
	Google__Protobuf__BoolValue ready = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
	ready.value = 1;
	pr.ready = &ready;
	s = pbjson_dumps(&pr.base, JSON_COMPACT);
	assert_string_equal(s, "{\"ready\":{\"value\":true}}");
	free(s);
}

static void test_nested_secrets(void **state)
{
	/* NodeStageVolume carries secrets too; any depth, any message */
	Csi__V1__NodeStageVolumeRequest req = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
	Csi__V1__NodeStageVolumeRequest__SecretsEntry sec = CSI__V1__NODE_STAGE_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
	Csi__V1__NodeStageVolumeRequest__SecretsEntry *secp = &sec;
	sec.key = "k";
	sec.value = "s3cr3t";
	req.volume_id = "v";
	req.n_secrets = 1;
	req.secrets = &secp;
	char *s = pbjson_dumps(&req.base, JSON_COMPACT);
	assert_null(strstr(s, "s3cr3t"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrets_redacted),
		cmocka_unit_test(test_oneof_enum_wrappers),
		cmocka_unit_test(test_nested_secrets),
	};
	return cmocka_run_group_tests_name("pbjson", tests, NULL, NULL);
}
