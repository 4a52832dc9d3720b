/*
 * syncgroup.h - group commit for one file: many writers, one sync each round.
 *
 * A writer that needs its change on disk before it answers takes a ticket
 * after the change is written (sys_syncgroup_ticket) and then waits
 * (sys_syncgroup_wait) until a sync that *began after* its ticket has
 * finished. The first waiter to find no sync running leads one (calls the
 * sync function, without any lock held); everyone else waits for it, or for
 * the next round when they took their ticket after it began. One sync thus
 * covers every change written before it started: under load the cost of a
 * sync is shared by all the writers of that moment instead of queueing one
 * each, and a lone writer pays exactly one sync, as without the group.
 *
 * Used for the registry's WAL and for a pool's directories (a new or
 * removed volume's entry is durable before the record that names it).
 * Thread-safe; a group outlives every waiter (destroy it after them).
 */
#ifndef DYNVOL_SYS_SYNCGROUP_H
#define DYNVOL_SYS_SYNCGROUP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
	pthread_mutex_t mu;       /* guards durable, syncing */
	pthread_cond_t cv;
	_Atomic uint64_t written; /* tickets handed out */
	uint64_t durable;         /* every ticket up to this one is synced */
	bool syncing;             /* a leader is in the sync function */
	uint64_t failed;          /* tickets up to this one met a failed sync */
	int error;                /* and its -errno */
	_Atomic uint64_t syncs;   /* sync rounds run (tests, benchmarks) */
} sys_syncgroup;

/* The sync a leader runs: 0 or -errno. *covered holds the last ticket
 * the round covers (every ticket handed out when the round began); a sync
 * that makes later changes durable too may raise it (never lower it). */
typedef int (*sys_sync_fn)(void *payload, uint64_t *covered);

void sys_syncgroup_init(sys_syncgroup *g);
void sys_syncgroup_destroy(sys_syncgroup *g);

/* A ticket for a change that is written (its syscall returned). */
uint64_t sys_syncgroup_ticket(sys_syncgroup *g);

/* Returns once a sync that began after ticket was taken has succeeded:
 * 0; or the -errno of the sync that should have covered it (the waiters
 * of that round all get it; the next round tries again). */
int sys_syncgroup_wait(sys_syncgroup *g, uint64_t ticket, sys_sync_fn sync, void *payload);

/* ticket + wait: the change just written is durable on return. */
int sys_syncgroup_sync(sys_syncgroup *g, sys_sync_fn sync, void *payload);

/* Marks every ticket up to upto failed with err (-errno): their changes
 * were lost before any sync (a rolled-back batch). Their waiters, and
 * waiters to come, get err. */
void sys_syncgroup_fail(sys_syncgroup *g, uint64_t upto, int err);

/* Sync rounds run so far. */
uint64_t sys_syncgroup_rounds(sys_syncgroup *g);

#endif
