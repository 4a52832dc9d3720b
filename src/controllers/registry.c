/*
 * registry.c - the controllers `dynvol controller --controllers` can run,
 * in start order.
 */
#include "ctrl.h"

const ctrl_def *const ctrl_all[] = {
	&ctrl_provisioner,
	&ctrl_attacher,
	&ctrl_capacity,
	NULL,
};
