/*
 * registry.c - the controllers `dynvol controller --controllers` can run,
 * in start order, and their metrics hooks.
 */
#include "ctrl.h"

#include <string.h>

const ctrl_def *const ctrl_all[] = {
	&ctrl_provisioner,
	&ctrl_attacher,
	&ctrl_capacity,
	NULL,
};

void ctrl_op_end(ctrl_ctx *ctx, const char *controller, const char *op, const char *reason,
		 int64_t begin)
{
	(void)ctx; (void)controller; (void)op; (void)reason; (void)begin;
}

void ctrl_csi_observe(ctrl_ctx *ctx, const char *path, dv_code code, int64_t begin)
{
	(void)ctx; (void)path; (void)code; (void)begin;
}
