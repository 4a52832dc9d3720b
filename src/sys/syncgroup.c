/*
 * syncgroup.c - leader/follower group commit (see syncgroup.h).
 */
#include "syncgroup.h"

void sys_syncgroup_init(sys_syncgroup *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	atomic_init(&g->written, 0);
	atomic_init(&g->syncs, 0);
	g->durable = 0;
	g->syncing = false;
	g->failed = 0;
	g->error = 0;
}

void sys_syncgroup_destroy(sys_syncgroup *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

uint64_t sys_syncgroup_ticket(sys_syncgroup *g)
{
	return atomic_fetch_add(&g->written, 1) + 1;
}

int sys_syncgroup_wait(sys_syncgroup *g, uint64_t ticket, sys_sync_fn sync, void *payload)
{
	int r = 0;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		if (g->failed >= ticket) {
			/* a sync meant to cover it failed: a later one that
			 * succeeds may not have seen its data (Linux reports a
			 * writeback error once), so never call it durable */
			r = g->error;
			break;
		}
		if (g->durable >= ticket) {
			r = 0;
			break;
		}
		if (g->syncing) {
			pthread_cond_wait(&g->cv, &g->mu);
			continue;
		}
		/* every ticket up to target belongs to a change already
		 * written: this sync covers them all */
		uint64_t target = atomic_load(&g->written);
		g->syncing = true;
		pthread_mutex_unlock(&g->mu);
		atomic_fetch_add(&g->syncs, 1);
		r = sync(payload, &target);
		pthread_mutex_lock(&g->mu);
		g->syncing = false;
		if (r == 0 && target > g->durable)
			g->durable = target;
		if (r < 0 && target > g->failed) {
			g->failed = target;
			g->error = r;
		}
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	return r;
}

void sys_syncgroup_fail(sys_syncgroup *g, uint64_t upto, int err)
{
	pthread_mutex_lock(&g->mu);
	if (upto > g->failed) {
		g->failed = upto;
		g->error = err;
	}
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

int sys_syncgroup_sync(sys_syncgroup *g, sys_sync_fn sync, void *payload)
{
	return sys_syncgroup_wait(g, sys_syncgroup_ticket(g), sync, payload);
}

uint64_t sys_syncgroup_rounds(sys_syncgroup *g)
{
	return atomic_load(&g->syncs);
}
