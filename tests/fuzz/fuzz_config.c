/* Fuzz target: the driver's YAML config parser. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dv_config *cfg = NULL;
	dv_status st = { 0 };

	if (dv_config_parse(&cfg, (const char *)data, size, "fuzz.yaml", &st) == 0)
		dv_config_free(cfg);
	dv_status_clear(&st);
	return 0;
}
