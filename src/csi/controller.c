/*
 * controller.c - CSI Controller service over the store.
 *
 * Each handler validates every field first (INVALID_ARGUMENT naming the
 * field, nothing changed), then calls the store, which journals and
 * locks, then builds the answer. Secrets are accepted and ignored: they are
 * never copied anywhere, and the logger redacts them.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "csi.h"
#include "csi.pb-c.h"
#include "log.h"

#define K8S_PARAM_PREFIX "csi.storage.k8s.io/"
#define MAX_NAME_LEN 128
#define MAX_PAGE 1000
#define DEFAULT_PAGE 100

typedef Csi__V1__VolumeCapability VolCap;

/* ------------------------------------------------------------------ */
/* validation helpers                                                  */

static bool is_single_node_mode(int mode)
{
	return mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER ||
	       mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY ||
	       mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER ||
	       mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER;
}

static bool is_known_mode(int mode)
{
	return mode >= CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER &&
	       mode <= CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER;
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/*
 * CSI string fields (names): valid UTF-8, at most max bytes, none of the
 * spec's banned characters U+0000-U+0008, U+000B, U+000C, U+000E-U+001F,
 * U+007F-U+009F (control characters other than common whitespace).
 */
static bool csi_string_ok(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	while (*p) {
		uint32_t cp;
		int len;
		if (p[0] < 0x80) {
			cp = p[0];
			len = 1;
		} else if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
			cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			len = 2;
			if (cp < 0x80)
				return false; /* overlong */
		} else if ((p[0] & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
			cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			len = 3;
			if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
				return false;
		} else if ((p[0] & 0xf8) == 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
			   (p[3] & 0xc0) == 0x80) {
			cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
			     (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
			len = 4;
			if (cp < 0x10000 || cp > 0x10ffff)
				return false;
		} else {
			return false;
		}
		if (cp <= 0x08 || cp == 0x0b || cp == 0x0c || (cp >= 0x0e && cp <= 0x1f) ||
		    (cp >= 0x7f && cp <= 0x9f))
			return false;
		p += len;
	}
	return true;
}

/* The name of a CreateVolume or CreateSnapshot request: present and a
 * valid CSI string. Answers the call with INVALID_ARGUMENT when not. */
static bool name_ok(rpc_call *call, const char *name)
{
	if (!name || !*name) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "name is required");
		return false;
	}
	if (!csi_string_ok(name, MAX_NAME_LEN)) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT,
			      "name must be valid UTF-8 of at most %d bytes without control characters",
			      MAX_NAME_LEN);
		return false;
	}
	return true;
}

/* What a set of capabilities asks for, after validation. */
typedef struct {
	bool block;
	const char *fs_type; /* "" when unspecified */
	bool multi_node;
	bool has_mount_flags;
} caps_summary;

/* Shared by CreateVolume, ValidateVolumeCapabilities, publish, GetCapacity. */
static int check_caps(VolCap *const *caps, size_t n, bool required, caps_summary *out,
		      dv_status *st)
{
	memset(out, 0, sizeof(*out));
	out->fs_type = "";
	if (n == 0) {
		if (required)
			return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				       "volume_capabilities must not be empty");
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const VolCap *c = caps[i];
		if (!c->access_mode || !is_known_mode(c->access_mode->mode))
			return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				       "volume_capabilities[%zu]: access_mode is missing or unknown", i);
		if (c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE__NOT_SET)
			return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				       "volume_capabilities[%zu]: access_type (mount or block) is "
				       "required", i);
		bool block = c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
		if (i > 0 && block != out->block)
			return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				       "volume_capabilities mix block and mount access");
		out->block = block;
		if (!is_single_node_mode(c->access_mode->mode))
			out->multi_node = true;
		if (!block) {
			const char *fs = c->mount->fs_type ? c->mount->fs_type : "";
			if (*fs && strcmp(fs, "ext4") && strcmp(fs, "xfs") && strcmp(fs, "btrfs"))
				return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
					       "volume_capabilities[%zu]: fs_type %s is not supported "
					       "(ext4, xfs, btrfs)", i, fs);
			if (*fs && *out->fs_type && strcmp(fs, out->fs_type))
				return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
					       "volume_capabilities ask for both %s and %s",
					       out->fs_type, fs);
			if (*fs)
				out->fs_type = fs;
			for (size_t k = 0; k < c->mount->n_mount_flags; k++) {
				if (!text_ok(c->mount->mount_flags[k], 256) ||
				    strchr(c->mount->mount_flags[k], ','))
					return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
						       "volume_capabilities[%zu]: mount flag %zu is "
						       "malformed (one flag per entry, no commas)", i, k);
				out->has_mount_flags = true;
			}
		}
	}
	return 0;
}

/* Whether pool p can hold a volume with these capabilities; why if not. */
static const char *pool_fits(const pool *p, const caps_summary *cs)
{
	if (cs->block && !(p->caps & POOL_CAP_BLOCK))
		return "cannot serve block volumes";
	if (cs->multi_node && !(p->caps & POOL_CAP_MULTI_NODE))
		return "is local to one node and cannot serve multi-node access modes";
	if (!cs->block && *cs->fs_type) {
		const char *b = p->ops->backend;
		bool ok = !strcmp(b, "image") ? (!strcmp(cs->fs_type, "ext4") || !strcmp(cs->fs_type, "xfs"))
			: !strcmp(b, "btrfs") ? !strcmp(cs->fs_type, "btrfs")
			: false;
		if (!ok)
			return "cannot provide that fs_type";
	}
	return NULL;
}

/* StorageClass parameters dynvol understands. */
typedef struct {
	const char *pool;
	const char *tier;
	const char *fs_type;
	const char *compression;
	char *canonical; /* sorted JSON of the accepted keys (heap) */
} vol_params;

/* Every generated map entry (ParametersEntry, ...) has this layout. */
typedef struct {
	ProtobufCMessage base;
	char *key;
	char *value;
} kv_pair;

static int parse_params(kv_pair *const *kv, size_t n, vol_params *out, dv_status *st)
{
	json_t *canon = json_object();

	memset(out, 0, sizeof(*out));
	if (!canon)
		return dv_fail(st, -ENOMEM, DV_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *k = kv[i]->key ? kv[i]->key : "";
		const char *v = kv[i]->value ? kv[i]->value : "";
		if (strncmp(k, K8S_PARAM_PREFIX, strlen(K8S_PARAM_PREFIX)) == 0)
			continue; /* added by the sidecars (PVC name, namespace...): not ours */
		if (!strcmp(k, "pool")) {
			if (dv_validate_pool_name(v)) {
				json_decref(canon);
				return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
					       "parameter pool: '%s' is not a valid pool name", v);
			}
			out->pool = v;
		} else if (!strcmp(k, "tier") || !strcmp(k, "type")) {
			if (!text_ok(v, 63)) {
				json_decref(canon);
				return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
					       "parameter %s: must be 1 to 63 printable characters", k);
			}
			out->tier = v;
		} else if (!strcmp(k, "fsType")) {
			if (strcmp(v, "ext4") && strcmp(v, "xfs") && strcmp(v, "btrfs")) {
				json_decref(canon);
				return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
					       "parameter fsType: '%s' is not ext4, xfs or btrfs", v);
			}
			out->fs_type = v;
		} else if (!strcmp(k, "compression")) {
			if (strcmp(v, "zstd") && strcmp(v, "lzo") && strcmp(v, "zlib") && strcmp(v, "none")) {
				json_decref(canon);
				return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
					       "parameter compression: '%s' is not zstd, lzo, zlib or "
					       "none", v);
			}
			out->compression = v;
		} else {
			json_decref(canon);
			return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				       "unknown parameter '%s' (known: pool, tier, type, fsType, "
				       "compression)", k);
		}
		json_object_set_new(canon, k, json_string(v));
	}
	out->canonical = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(canon);
	if (!out->canonical)
		return dv_fail(st, -ENOMEM, DV_RESOURCE_EXHAUSTED, "out of memory");
	return 0;
}

/* A pool's tier is its "tier" option (config). */
static bool pool_has_tier(const csi_driver *drv, const pool *p, const char *tier)
{
	for (size_t i = 0; i < drv->config->n_pools; i++) {
		const dv_pool_config *pc = &drv->config->pools[i];
		if (strcmp(pc->name, p->name) == 0) {
			const char *t = pool_option(pc, "tier");
			return t && strcmp(t, tier) == 0;
		}
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* topology                                                            */

/* This node's segments: the config's, plus topology.dynvol.io/node. */
static const char *node_segment(const csi_driver *drv, const char *key)
{
	if (strcmp(key, CSI_TOPOLOGY_NODE_KEY) == 0)
		return drv->node_id;
	for (size_t i = 0; i < drv->config->n_topology; i++)
		if (strcmp(drv->config->topology[i].key, key) == 0)
			return drv->config->topology[i].value;
	return NULL;
}

/* A topology matches this node when every segment it names has this
 * node's value. */
static bool topology_matches(const csi_driver *drv, const Csi__V1__Topology *t)
{
	for (size_t i = 0; i < t->n_segments; i++) {
		const char *mine = node_segment(drv, t->segments[i]->key);
		if (!mine || strcmp(mine, t->segments[i]->value ? t->segments[i]->value : ""))
			return false;
	}
	return true;
}

static Csi__V1__Topology *node_topology(const csi_driver *drv, arena *a)
{
	Csi__V1__Topology *t = ARENA_NEW(a, Csi__V1__Topology);
	size_t n = drv->config->n_topology + 1;
	Csi__V1__Topology__SegmentsEntry **segs = ARENA_ARRAY(a, Csi__V1__Topology__SegmentsEntry *, n);

	if (!t || !segs)
		return NULL;
	csi__v1__topology__init(t);
	for (size_t i = 0; i < n; i++) {
		segs[i] = ARENA_NEW(a, Csi__V1__Topology__SegmentsEntry);
		if (!segs[i])
			return NULL;
		csi__v1__topology__segments_entry__init(segs[i]);
		if (i == 0) {
			segs[i]->key = (char *)CSI_TOPOLOGY_NODE_KEY;
			segs[i]->value = (char *)drv->node_id;
		} else {
			segs[i]->key = drv->config->topology[i - 1].key;
			segs[i]->value = drv->config->topology[i - 1].value;
		}
	}
	t->n_segments = n;
	t->segments = segs;
	return t;
}

/* ------------------------------------------------------------------ */
/* building answers                                                    */

static Csi__V1__Volume *volume_msg(const csi_driver *drv, const reg_volume *v, arena *a)
{
	Csi__V1__Volume *m = ARENA_NEW(a, Csi__V1__Volume);
	Csi__V1__Volume__VolumeContextEntry **ctx = ARENA_ARRAY(a, Csi__V1__Volume__VolumeContextEntry *, 3);
	Csi__V1__Topology **topo = ARENA_ARRAY(a, Csi__V1__Topology *, 1);
	pool *p = store_pool_find(drv->store, v->pool);

	if (!m || !ctx || !topo)
		return NULL;
	csi__v1__volume__init(m);
	m->volume_id = arena_strdup(a, v->id);
	m->capacity_bytes = (int64_t)v->capacity;
	/* What the node service needs to stage it without asking us. */
	const char *keys[3] = { "dynvol.io/pool", "dynvol.io/backend", "dynvol.io/fsType" };
	const char *vals[3] = { v->pool, p ? p->ops->backend : "", v->fs_type };
	size_t nctx = 0;
	for (size_t i = 0; i < 3; i++) {
		if (!vals[i] || !*vals[i])
			continue;
		ctx[nctx] = ARENA_NEW(a, Csi__V1__Volume__VolumeContextEntry);
		if (!ctx[nctx])
			return NULL;
		csi__v1__volume__volume_context_entry__init(ctx[nctx]);
		ctx[nctx]->key = (char *)keys[i];
		ctx[nctx]->value = arena_strdup(a, vals[i]);
		nctx++;
	}
	m->n_volume_context = nctx;
	m->volume_context = ctx;
	if (v->source_kind != REG_SOURCE_NONE) {
		Csi__V1__VolumeContentSource *cs = ARENA_NEW(a, Csi__V1__VolumeContentSource);
		if (!cs)
			return NULL;
		csi__v1__volume_content_source__init(cs);
		if (v->source_kind == REG_SOURCE_SNAPSHOT) {
			Csi__V1__VolumeContentSource__SnapshotSource *ss =
				ARENA_NEW(a, Csi__V1__VolumeContentSource__SnapshotSource);
			if (!ss)
				return NULL;
			csi__v1__volume_content_source__snapshot_source__init(ss);
			ss->snapshot_id = arena_strdup(a, v->source_id);
			cs->type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT;
			cs->snapshot = ss;
		} else {
			Csi__V1__VolumeContentSource__VolumeSource *vs =
				ARENA_NEW(a, Csi__V1__VolumeContentSource__VolumeSource);
			if (!vs)
				return NULL;
			csi__v1__volume_content_source__volume_source__init(vs);
			vs->volume_id = arena_strdup(a, v->source_id);
			cs->type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME;
			cs->volume = vs;
		}
		m->content_source = cs;
	}
	topo[0] = node_topology(drv, a);
	if (!topo[0])
		return NULL;
	m->n_accessible_topology = 1;
	m->accessible_topology = topo;
	return m;
}

static Csi__V1__Snapshot *snapshot_msg(const reg_snapshot *s, arena *a)
{
	Csi__V1__Snapshot *m = ARENA_NEW(a, Csi__V1__Snapshot);
	Google__Protobuf__Timestamp *ts = ARENA_NEW(a, Google__Protobuf__Timestamp);

	if (!m || !ts)
		return NULL;
	csi__v1__snapshot__init(m);
	google__protobuf__timestamp__init(ts);
	m->snapshot_id = arena_strdup(a, s->id);
	m->source_volume_id = arena_strdup(a, s->source_volume);
	m->size_bytes = (int64_t)s->size;
	ts->seconds = s->created_at;
	ts->nanos = s->created_nanos;
	m->creation_time = ts;
	m->ready_to_use = s->state == REG_STATE_READY;
	return m;
}

static void reply_or_oom(rpc_call *call, arena *a, const ProtobufCMessage *resp)
{
	if (a->failed || !resp)
		rpc_call_fail(call, DV_RESOURCE_EXHAUSTED, "out of memory building the answer");
	else
		rpc_call_reply(call, resp);
}

/* The store's answer as the call's status. */
static void fail_with(rpc_call *call, dv_status *st, const char *fallback)
{
	if (st->code == DV_OK)
		dv_status_set(st, DV_INTERNAL, "%s", fallback);
	rpc_call_fail_status(call, st);
}

/* ------------------------------------------------------------------ */
/* CreateVolume                                                        */

static bool volume_compatible(const reg_volume *v, uint64_t required, uint64_t limit,
			      const caps_summary *cs, const vol_params *vp, reg_source_kind sk,
			      const char *sid, const char **why)
{
	if (required && v->capacity < required) {
		*why = "it is smaller than required_bytes";
		return false;
	}
	if (limit && v->capacity > limit) {
		*why = "it is larger than limit_bytes";
		return false;
	}
	if (v->block != cs->block) {
		*why = v->block ? "it is a block volume" : "it is a filesystem volume";
		return false;
	}
	const char *fs = *cs->fs_type ? cs->fs_type : (vp->fs_type ? vp->fs_type : "");
	if (!cs->block && *fs && strcmp(fs, v->fs_type)) {
		*why = "it has another fs_type";
		return false;
	}
	if (v->source_kind != sk || (sk != REG_SOURCE_NONE && strcmp(v->source_id, sid))) {
		*why = "it has another content source";
		return false;
	}
	if (strcmp(v->parameters ? v->parameters : "{}", vp->canonical)) {
		*why = "it was created with other parameters";
		return false;
	}
	return true;
}

/* Whether a content source names a READY snapshot or volume. IDs dynvol
 * did not make cannot name anything it has. */
static bool source_exists(csi_driver *drv, reg_source_kind sk, const char *sid)
{
	registry *reg = store_registry(drv->store);
	bool ok = false;

	if (!pool_id_is_valid(sid))
		return false;
	if (sk == REG_SOURCE_SNAPSHOT) {
		reg_snapshot sn;
		if (registry_snapshot_get(reg, sid, &sn) == 0) {
			ok = sn.state == REG_STATE_READY;
			reg_snapshot_clear(&sn);
		}
	} else {
		reg_volume v;
		if (registry_volume_get(reg, sid, &v) == 0) {
			ok = v.state == REG_STATE_READY;
			reg_volume_clear(&v);
		}
	}
	return ok;
}

/* Whether a volume with this request name exists (in any state). */
static bool name_exists(csi_driver *drv, const char *name)
{
	reg_volume v;

	if (registry_volume_get_by_name(store_registry(drv->store), name, &v) < 0)
		return false;
	reg_volume_clear(&v);
	return true;
}

static void create_volume(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__CreateVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	caps_summary cs;
	vol_params vp = { 0 };
	reg_volume v = { 0 };
	arena a = { 0 };
	const char **cands = NULL;
	size_t n_cands = 0;
	uint64_t required = 0, limit = 0;
	reg_source_kind sk = REG_SOURCE_NONE;
	const char *sid = NULL;
	const char *why;
	int r;

	if (!name_ok(call, req->name))
		return;
	if (req->n_volume_capabilities == 0) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_capabilities must not be empty");
		return;
	}
	if (req->volume_content_source) {
		const Csi__V1__VolumeContentSource *src = req->volume_content_source;
		if (src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT && src->snapshot) {
			sk = REG_SOURCE_SNAPSHOT;
			sid = src->snapshot->snapshot_id ? src->snapshot->snapshot_id : "";
		} else if (src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME && src->volume) {
			sk = REG_SOURCE_VOLUME;
			sid = src->volume->volume_id ? src->volume->volume_id : "";
		} else {
			rpc_call_fail(call, DV_INVALID_ARGUMENT,
				      "volume_content_source must name a snapshot or a volume");
			goto done;
		}
		if (!*sid) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_content_source: %s is required",
				      sk == REG_SOURCE_SNAPSHOT ? "snapshot_id" : "volume_id");
			goto done;
		}
		/* Before any format check of another field: a source that
		 * does not exist is NOT_FOUND whatever else the request says
		 * (the store checks again under its locks). Unless the name
		 * exists: a retry of a create whose source was deleted since
		 * must still find its volume (the store answers it). */
		if (!source_exists(drv, sk, sid) && !name_exists(drv, req->name)) {
			rpc_call_fail(call, DV_NOT_FOUND, "%s %s does not exist",
				      sk == REG_SOURCE_SNAPSHOT ? "snapshot" : "volume", sid);
			goto done;
		}
	}
	if (req->capacity_range) {
		if (req->capacity_range->required_bytes < 0 || req->capacity_range->limit_bytes < 0) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "capacity_range must not be negative");
			goto done;
		}
		required = (uint64_t)req->capacity_range->required_bytes;
		limit = (uint64_t)req->capacity_range->limit_bytes;
		if (limit && required > limit) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT,
				      "capacity_range: limit_bytes %" PRIu64 " is below required_bytes %" PRIu64,
				      limit, required);
			goto done;
		}
	}
	if (check_caps(req->volume_capabilities, req->n_volume_capabilities, true, &cs, &st) < 0 ||
	    parse_params((kv_pair *const *)req->parameters, req->n_parameters, &vp, &st) < 0) {
		rpc_call_fail_status(call, &st);
		goto done;
	}
	/* mutable_parameters take precedence over parameters (the spec);
	 * compression is the one dynvol can change later */
	for (size_t i = 0; i < req->n_mutable_parameters; i++) {
		const char *k = req->mutable_parameters[i]->key, *mv = req->mutable_parameters[i]->value;
		if (strcmp(k, "compression")) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT,
				      "mutable parameter '%s' is not supported (mutable: compression)", k);
			goto done;
		}
		if (strcmp(mv, "zstd") && strcmp(mv, "lzo") && strcmp(mv, "zlib") && strcmp(mv, "none")) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT,
				      "mutable parameter compression: '%s' is not zstd, lzo, zlib or none", mv);
			goto done;
		}
		vp.compression = mv;
	}
	if (!cs.block && !*cs.fs_type && vp.fs_type)
		cs.fs_type = vp.fs_type;
	if (!cs.block && vp.fs_type && strcmp(vp.fs_type, cs.fs_type)) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT,
			      "parameter fsType %s contradicts the capability's fs_type %s",
			      vp.fs_type, cs.fs_type);
		goto done;
	}
	/* Candidate pools: parameters, capabilities, then topology. */
	if (req->accessibility_requirements && req->accessibility_requirements->n_requisite) {
		bool ok = false;
		for (size_t i = 0; i < req->accessibility_requirements->n_requisite; i++)
			ok = ok || topology_matches(drv, req->accessibility_requirements->requisite[i]);
		if (!ok) {
			/* a volume that exists with this name lives here: the
			 * request is incompatible with it, not unsatisfiable */
			if (registry_volume_get_by_name(store_registry(drv->store), req->name, &v) == 0)
				rpc_call_fail(call, DV_ALREADY_EXISTS,
					      "volume %s already exists with name %s on node %s, outside "
					      "the requisite topology", v.id, req->name, drv->node_id);
			else
				rpc_call_fail(call, DV_RESOURCE_EXHAUSTED,
					      "no requisite topology is reachable from node %s",
					      drv->node_id);
			goto done;
		}
	}
	cands = calloc(store_pool_count(drv->store) + 1, sizeof(*cands));
	if (!cands) {
		rpc_call_fail(call, DV_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	why = NULL;
	for (size_t i = 0; i < store_pool_count(drv->store); i++) {
		pool *p = store_pool_at(drv->store, i);
		const char *no;
		if (vp.pool && strcmp(vp.pool, p->name))
			continue;
		if (vp.tier && !pool_has_tier(drv, p, vp.tier))
			continue;
		if ((no = pool_fits(p, &cs))) {
			why = no;
			continue;
		}
		if (vp.compression && !(p->caps & POOL_CAP_COMPRESSION)) {
			why = "does not support compression";
			continue;
		}
		cands[n_cands++] = p->name;
	}
	if (n_cands == 0) {
		if (vp.pool && !store_pool_find(drv->store, vp.pool))
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "parameter pool: no pool named %s",
				      vp.pool);
		else if (vp.tier && !why)
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "parameter %s: no pool has tier %s",
				      "tier", vp.tier);
		else
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "no pool fits the request: %s",
				      why ? why : "no pools are configured");
		goto done;
	}

	store_volume_request sreq = {
		.name = req->name,
		.pools = cands,
		.n_pools = n_cands,
		.required = required,
		.limit = limit,
		.block = cs.block,
		.fs_type = cs.block ? NULL : (*cs.fs_type ? cs.fs_type : NULL),
		.compression = vp.compression,
		.parameters = vp.canonical,
		.source_kind = sk,
		.source_id = sid,
	};
	r = store_volume_create(drv->store, &sreq, &v, &st);
	if (r == -EEXIST) {
		if (!volume_compatible(&v, required, limit, &cs, &vp, sk, sid, &why)) {
			rpc_call_fail(call, DV_ALREADY_EXISTS,
				      "volume %s already exists with name %s and %s", v.id, req->name,
				      why);
			goto done;
		}
	} else if (r < 0) {
		fail_with(call, &st, "creating the volume failed");
		goto done;
	}

	Csi__V1__CreateVolumeResponse resp = CSI__V1__CREATE_VOLUME_RESPONSE__INIT;
	resp.volume = volume_msg(drv, &v, &a);
	reply_or_oom(call, &a, resp.volume ? &resp.base : NULL);
done:
	free(cands);
	free(vp.canonical);
	reg_volume_clear(&v);
	arena_free(&a);
	dv_status_clear(&st);
}

/* ------------------------------------------------------------------ */

static void delete_volume(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__DeleteVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	Csi__V1__DeleteVolumeResponse resp = CSI__V1__DELETE_VOLUME_RESPONSE__INIT;

	if (!req->volume_id || !*req->volume_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	/* An ID dynvol never made names no volume: deleted already. */
	if (pool_id_is_valid(req->volume_id) &&
	    store_volume_delete(drv->store, req->volume_id, &st) < 0) {
		fail_with(call, &st, "deleting the volume failed");
		return;
	}
	rpc_call_reply(call, &resp.base);
}

static int find_volume(csi_driver *drv, rpc_call *call, const char *id, reg_volume *v)
{
	int r;

	if (!id || !*id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return -EINVAL;
	}
	if (!pool_id_is_valid(id)) {
		rpc_call_fail(call, DV_NOT_FOUND, "volume %s does not exist", id);
		return -ENOENT;
	}
	r = registry_volume_get(store_registry(drv->store), id, v);
	if (r == -ENOENT)
		rpc_call_fail(call, DV_NOT_FOUND, "volume %s does not exist", id);
	else if (r < 0)
		rpc_call_fail(call, DV_INTERNAL, "registry lookup failed");
	return r;
}

static void controller_publish(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__ControllerPublishVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	caps_summary cs;
	reg_volume v;
	char **nodes = NULL;
	arena a = { 0 };

	if (!req->volume_id || !*req->volume_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (!req->node_id || !*req->node_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "node_id is required");
		return;
	}
	if (!req->volume_capability) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_capability is required");
		return;
	}
	/* The volume and the node must exist before the capability's form
	 * is judged: NOT_FOUND is never masked by INVALID_ARGUMENT. */
	if (find_volume(drv, call, req->volume_id, &v) < 0)
		return;
	/* Local pools are reachable from their own node only. */
	if (strcmp(req->node_id, drv->node_id) != 0) {
		rpc_call_fail(call, DV_NOT_FOUND, "node %s is not known; volume %s lives on node %s",
			      req->node_id, v.id, drv->node_id);
		goto done;
	}
	if (check_caps(&req->volume_capability, 1, true, &cs, &st) < 0) {
		rpc_call_fail_status(call, &st);
		goto done;
	}
	if (cs.block != v.block) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume %s is a %s volume", v.id,
			      v.block ? "block" : "filesystem");
		goto done;
	}
	{
		pool *p = store_pool_find(drv->store, v.pool);
		const char *no = p ? pool_fits(p, &cs) : "is not configured";
		if (!no && !cs.block && *cs.fs_type && *v.fs_type && strcmp(cs.fs_type, v.fs_type))
			no = "holds another fs_type";
		if (no) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume %s: pool %s %s", v.id, v.pool, no);
			goto done;
		}
	}
	if (registry_publication_nodes(store_registry(drv->store), v.id, &nodes) == 0 && nodes[0] &&
	    strcmp(nodes[0], req->node_id) && !cs.multi_node) {
		rpc_call_fail(call, DV_FAILED_PRECONDITION, "volume %s is published to node %s",
			      v.id, nodes[0]);
		goto done;
	}
	if (store_publish(drv->store, v.id, req->node_id, req->readonly, drv->max_volumes_per_node,
			  &st) < 0) {
		fail_with(call, &st, "publishing failed");
		goto done;
	}
	Csi__V1__ControllerPublishVolumeResponse resp = CSI__V1__CONTROLLER_PUBLISH_VOLUME_RESPONSE__INIT;
	Csi__V1__ControllerPublishVolumeResponse__PublishContextEntry *e =
		ARENA_NEW(&a, Csi__V1__ControllerPublishVolumeResponse__PublishContextEntry);
	Csi__V1__ControllerPublishVolumeResponse__PublishContextEntry **ep =
		ARENA_ARRAY(&a, Csi__V1__ControllerPublishVolumeResponse__PublishContextEntry *, 1);
	if (e && ep) {
		csi__v1__controller_publish_volume_response__publish_context_entry__init(e);
		e->key = (char *)"dynvol.io/pool";
		e->value = v.pool;
		ep[0] = e;
		resp.n_publish_context = 1;
		resp.publish_context = ep;
	}
	reply_or_oom(call, &a, &resp.base);
done:
	registry_strv_free(nodes);
	reg_volume_clear(&v);
	arena_free(&a);
	dv_status_clear(&st);
}

static void controller_unpublish(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__ControllerUnpublishVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	Csi__V1__ControllerUnpublishVolumeResponse resp = CSI__V1__CONTROLLER_UNPUBLISH_VOLUME_RESPONSE__INIT;
	char **nodes = NULL;

	if (!req->volume_id || !*req->volume_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (!pool_id_is_valid(req->volume_id)) {
		rpc_call_reply(call, &resp.base); /* never published: done */
		return;
	}
	if (req->node_id && *req->node_id) {
		if (store_unpublish(drv->store, req->volume_id, req->node_id, &st) < 0) {
			fail_with(call, &st, "unpublishing failed");
			return;
		}
	} else if (registry_publication_nodes(store_registry(drv->store), req->volume_id, &nodes) == 0) {
		/* no node: unpublish from all, as the spec allows */
		for (char **n = nodes; *n; n++) {
			if (store_unpublish(drv->store, req->volume_id, *n, &st) < 0) {
				registry_strv_free(nodes);
				fail_with(call, &st, "unpublishing failed");
				return;
			}
		}
		registry_strv_free(nodes);
	}
	rpc_call_reply(call, &resp.base);
}

static void validate_caps(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__ValidateVolumeCapabilitiesRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	caps_summary cs;
	vol_params vp = { 0 };
	reg_volume v;
	Csi__V1__ValidateVolumeCapabilitiesResponse resp = CSI__V1__VALIDATE_VOLUME_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed conf =
		CSI__V1__VALIDATE_VOLUME_CAPABILITIES_RESPONSE__CONFIRMED__INIT;

	if (!req->volume_id || !*req->volume_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (req->n_volume_capabilities == 0) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_capabilities must not be empty");
		return;
	}
	/* existence first, then the form of the other fields */
	if (find_volume(drv, call, req->volume_id, &v) < 0)
		return;
	if (check_caps(req->volume_capabilities, req->n_volume_capabilities, true, &cs, &st) < 0 ||
	    parse_params((kv_pair *const *)req->parameters, req->n_parameters, &vp, &st) < 0) {
		rpc_call_fail_status(call, &st);
		free(vp.canonical);
		reg_volume_clear(&v);
		dv_status_clear(&st);
		return;
	}
	pool *p = store_pool_find(drv->store, v.pool);
	const char *no = p ? pool_fits(p, &cs) : "lives in an unknown pool";
	if (!no && cs.block != v.block)
		no = v.block ? "is a block volume" : "is a filesystem volume";
	if (!no && !cs.block && *cs.fs_type && strcmp(cs.fs_type, v.fs_type))
		no = "has another fs_type";
	/* Confirmed means validated: the parameters must be those the volume
	 * was made with, and the context what CreateVolume returned. */
	if (!no && req->n_parameters && strcmp(vp.canonical, v.parameters ? v.parameters : "{}"))
		no = "was created with other parameters";
	for (size_t i = 0; !no && i < req->n_volume_context; i++) {
		const char *k = req->volume_context[i]->key, *val = req->volume_context[i]->value;
		const char *mine = !strcmp(k, "dynvol.io/pool") ? v.pool
				   : !strcmp(k, "dynvol.io/fsType") ? v.fs_type
				   : !strcmp(k, "dynvol.io/backend") ? (p ? p->ops->backend : "")
				   : NULL;
		if (!mine || strcmp(mine, val))
			no = "does not have that volume_context";
	}
	if (no) {
		char msg[256];
		snprintf(msg, sizeof(msg), "volume %s %s", v.id, no);
		resp.message = msg;
		rpc_call_reply(call, &resp.base);
	} else {
		conf.n_volume_capabilities = req->n_volume_capabilities;
		conf.volume_capabilities = req->volume_capabilities;
		conf.n_volume_context = req->n_volume_context;
		conf.volume_context = (Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed__VolumeContextEntry **)
					      req->volume_context;
		conf.n_parameters = req->n_parameters;
		conf.parameters = (Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed__ParametersEntry **)
					  req->parameters;
		resp.confirmed = &conf;
		rpc_call_reply(call, &resp.base);
	}
	free(vp.canonical);
	reg_volume_clear(&v);
}

/* Pagination tokens are the last seq served, in decimal. */
static int parse_token(const char *tok, int64_t *ret)
{
	char *end;
	long long v;

	if (!tok || !*tok) {
		*ret = 0;
		return 0;
	}
	errno = 0;
	v = strtoll(tok, &end, 10);
	if (errno || *end || v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/*
 * The paging fields of ListVolumes and ListSnapshots: max_entries (0 asks
 * for the default page, and no page is larger than MAX_PAGE) and
 * starting_token. A token beyond the newest seq the registry has handed out
 * is not one we gave: ABORTED, as CSI asks. On a bad field the call is
 * answered and -EINVAL returned; the outputs are set only on success.
 */
static int page_request(rpc_call *call, registry *reg, int32_t max_entries,
			const char *starting_token, int64_t *ret_after, size_t *ret_limit)
{
	int64_t after, max_seq = 0;
	size_t limit;

	if (max_entries < 0) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "max_entries must not be negative");
		return -EINVAL;
	}
	if (parse_token(starting_token, &after) < 0 ||
	    (registry_volume_max_seq(reg, &max_seq) == 0 && after > max_seq)) {
		rpc_call_fail(call, DV_ABORTED, "starting_token %s is not valid", starting_token);
		return -EINVAL;
	}
	limit = max_entries ? (size_t)max_entries : DEFAULT_PAGE;
	if (limit > MAX_PAGE)
		limit = MAX_PAGE;
	*ret_after = after;
	*ret_limit = limit;
	return 0;
}

static Csi__V1__VolumeCondition *condition_msg(const reg_volume *v, arena *a)
{
	Csi__V1__VolumeCondition *c = ARENA_NEW(a, Csi__V1__VolumeCondition);

	if (!c)
		return NULL;
	csi__v1__volume_condition__init(c);
	c->abnormal = v->state == REG_STATE_MISSING;
	c->message = v->state == REG_STATE_MISSING
			     ? arena_printf(a, "the volume's storage is missing from pool %s", v->pool)
			     : (char *)"healthy";
	return c;
}

static void list_volumes(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__ListVolumesRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	registry *reg = store_registry(drv->store);
	reg_volume *vs = NULL;
	size_t n = 0, limit;
	int64_t after;
	arena a = { 0 };
	int r;

	if (page_request(call, reg, req->max_entries, req->starting_token, &after, &limit) < 0)
		return;
	/* one more than asked tells whether there is a next page */
	r = registry_volume_list(reg, after, limit + 1, &vs, &n);
	if (r < 0) {
		rpc_call_fail(call, DV_INTERNAL, "registry list failed");
		return;
	}
	size_t shown = n > limit ? limit : n;
	Csi__V1__ListVolumesResponse resp = CSI__V1__LIST_VOLUMES_RESPONSE__INIT;
	Csi__V1__ListVolumesResponse__Entry **entries =
		ARENA_ARRAY(&a, Csi__V1__ListVolumesResponse__Entry *, shown);
	size_t k = 0;
	for (size_t i = 0; entries && i < shown; i++) {
		if (vs[i].state == REG_STATE_CREATING || vs[i].state == REG_STATE_DELETING)
			continue; /* not a volume yet, or no longer */
		Csi__V1__ListVolumesResponse__Entry *e = ARENA_NEW(&a, Csi__V1__ListVolumesResponse__Entry);
		Csi__V1__ListVolumesResponse__VolumeStatus *vst =
			ARENA_NEW(&a, Csi__V1__ListVolumesResponse__VolumeStatus);
		char **nodes = NULL;
		if (!e || !vst)
			break;
		csi__v1__list_volumes_response__entry__init(e);
		csi__v1__list_volumes_response__volume_status__init(vst);
		e->volume = volume_msg(drv, &vs[i], &a);
		if (registry_publication_nodes(reg, vs[i].id, &nodes) == 0) {
			size_t nn = 0;
			while (nodes[nn])
				nn++;
			vst->published_node_ids = ARENA_ARRAY(&a, char *, nn);
			for (size_t j = 0; vst->published_node_ids && j < nn; j++)
				vst->published_node_ids[j] = arena_strdup(&a, nodes[j]);
			vst->n_published_node_ids = vst->published_node_ids ? nn : 0;
			registry_strv_free(nodes);
		}
		vst->volume_condition = condition_msg(&vs[i], &a);
		e->status = vst;
		entries[k++] = e;
	}
	resp.n_entries = k;
	resp.entries = entries;
	if (n > limit)
		resp.next_token = arena_printf(&a, "%lld", (long long)vs[shown - 1].seq);
	reply_or_oom(call, &a, &resp.base);
	registry_volumes_free(vs, n);
	arena_free(&a);
}

static void controller_get_volume(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__ControllerGetVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	reg_volume v;
	arena a = { 0 };
	char **nodes = NULL;

	if (find_volume(drv, call, req->volume_id, &v) < 0)
		return;
	Csi__V1__ControllerGetVolumeResponse resp = CSI__V1__CONTROLLER_GET_VOLUME_RESPONSE__INIT;
	Csi__V1__ControllerGetVolumeResponse__VolumeStatus vst =
		CSI__V1__CONTROLLER_GET_VOLUME_RESPONSE__VOLUME_STATUS__INIT;
	resp.volume = volume_msg(drv, &v, &a);
	if (registry_publication_nodes(store_registry(drv->store), v.id, &nodes) == 0) {
		size_t nn = 0;
		while (nodes[nn])
			nn++;
		vst.n_published_node_ids = nn;
		vst.published_node_ids = nodes;
	}
	vst.volume_condition = condition_msg(&v, &a);
	resp.status = &vst;
	reply_or_oom(call, &a, resp.volume ? &resp.base : NULL);
	registry_strv_free(nodes);
	reg_volume_clear(&v);
	arena_free(&a);
}

static void get_capacity(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__GetCapacityRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	caps_summary cs;
	vol_params vp = { 0 };
	uint64_t total = 0, max_one = 0, min_one = UINT64_MAX;
	Csi__V1__GetCapacityResponse resp = CSI__V1__GET_CAPACITY_RESPONSE__INIT;
	Google__Protobuf__Int64Value maxv = GOOGLE__PROTOBUF__INT64_VALUE__INIT;
	Google__Protobuf__Int64Value minv = GOOGLE__PROTOBUF__INT64_VALUE__INIT;

	if (check_caps(req->volume_capabilities, req->n_volume_capabilities, false, &cs, &st) < 0 ||
	    parse_params((kv_pair *const *)req->parameters, req->n_parameters, &vp, &st) < 0) {
		rpc_call_fail_status(call, &st);
		return;
	}
	if (!cs.block && !*cs.fs_type && vp.fs_type)
		cs.fs_type = vp.fs_type;
	/* Another node's segment: this node can give nothing there. */
	if (!req->accessible_topology || topology_matches(drv, req->accessible_topology)) {
		for (size_t i = 0; i < store_pool_count(drv->store); i++) {
			pool *p = store_pool_at(drv->store, i);
			uint64_t avail;
			if (vp.pool && strcmp(vp.pool, p->name))
				continue;
			if (vp.tier && !pool_has_tier(drv, p, vp.tier))
				continue;
			if (pool_fits(p, &cs) || (vp.compression && !(p->caps & POOL_CAP_COMPRESSION)))
				continue;
			if (store_pool_available(drv->store, p, &avail) < 0)
				continue;
			total += avail;
			if (avail > max_one)
				max_one = avail;
			if (p->min_size < min_one)
				min_one = p->min_size;
		}
	}
	resp.available_capacity = total > INT64_MAX ? INT64_MAX : (int64_t)total;
	maxv.value = max_one > INT64_MAX ? INT64_MAX : (int64_t)max_one;
	resp.maximum_volume_size = &maxv;
	if (min_one != UINT64_MAX && min_one > 0) {
		minv.value = (int64_t)min_one;
		resp.minimum_volume_size = &minv;
	}
	rpc_call_reply(call, &resp.base);
	free(vp.canonical);
}

static void controller_expand(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__ControllerExpandVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	reg_volume v;
	uint64_t cap;

	if (!req->volume_id || !*req->volume_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (!req->capacity_range) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "capacity_range is required");
		return;
	}
	if (find_volume(drv, call, req->volume_id, &v) < 0)
		return;
	if (req->capacity_range->required_bytes < 0 || req->capacity_range->limit_bytes < 0 ||
	    (req->capacity_range->limit_bytes &&
	     req->capacity_range->required_bytes > req->capacity_range->limit_bytes)) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "capacity_range is malformed");
		reg_volume_clear(&v);
		return;
	}
	if (req->volume_capability) {
		caps_summary cs;
		if (check_caps(&req->volume_capability, 1, true, &cs, &st) < 0) {
			rpc_call_fail_status(call, &st);
			reg_volume_clear(&v);
			return;
		}
		pool *cp = store_pool_find(drv->store, v.pool);
		const char *no = cp ? pool_fits(cp, &cs) : "is not configured";
		if (!no && cs.block != v.block)
			no = v.block ? "holds a block volume" : "holds a filesystem volume";
		if (no) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume %s: pool %s %s", v.id, v.pool, no);
			reg_volume_clear(&v);
			return;
		}
	}
	if (store_volume_expand(drv->store, v.id, (uint64_t)req->capacity_range->required_bytes,
				(uint64_t)req->capacity_range->limit_bytes, &cap, &st) < 0) {
		fail_with(call, &st, "expansion failed");
		reg_volume_clear(&v);
		return;
	}
	pool *p = store_pool_find(drv->store, v.pool);
	Csi__V1__ControllerExpandVolumeResponse resp = CSI__V1__CONTROLLER_EXPAND_VOLUME_RESPONSE__INIT;
	resp.capacity_bytes = (int64_t)cap;
	/* image volumes: the loop device and the file system inside grow on
	 * the node; btrfs and dir volumes are done here. */
	resp.node_expansion_required = p && !strcmp(p->ops->backend, "image");
	rpc_call_reply(call, &resp.base);
	reg_volume_clear(&v);
}

static void controller_modify(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__ControllerModifyVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	reg_volume v;
	Csi__V1__ControllerModifyVolumeResponse resp = CSI__V1__CONTROLLER_MODIFY_VOLUME_RESPONSE__INIT;

	if (!req->volume_id || !*req->volume_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (find_volume(drv, call, req->volume_id, &v) < 0)
		return;
	/* An empty map asks for nothing: a no-op on a volume that exists.
	 * Only unknown (or immutable) keys are INVALID_ARGUMENT. */
	for (size_t i = 0; i < req->n_mutable_parameters; i++) {
		const char *k = req->mutable_parameters[i]->key;
		if (strcmp(k, "compression")) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT,
				      "parameter '%s' cannot be modified (mutable: compression)", k);
			reg_volume_clear(&v);
			return;
		}
	}
	for (size_t i = 0; i < req->n_mutable_parameters; i++) {
		if (store_volume_modify(drv->store, v.id, req->mutable_parameters[i]->key,
					req->mutable_parameters[i]->value, &st) < 0) {
			fail_with(call, &st, "modification failed");
			reg_volume_clear(&v);
			return;
		}
	}
	rpc_call_reply(call, &resp.base);
	reg_volume_clear(&v);
}

/* ------------------------------------------------------------------ */
/* snapshots                                                           */

static void create_snapshot(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__CreateSnapshotRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	reg_snapshot s = { 0 };
	arena a = { 0 };
	int r;

	if (!name_ok(call, req->name))
		return;
	if (!req->source_volume_id || !*req->source_volume_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "source_volume_id is required");
		return;
	}
	for (size_t i = 0; i < req->n_parameters; i++) {
		if (strncmp(req->parameters[i]->key, K8S_PARAM_PREFIX, strlen(K8S_PARAM_PREFIX))) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "unknown snapshot parameter '%s'",
				      req->parameters[i]->key);
			return;
		}
	}
	if (!pool_id_is_valid(req->source_volume_id)) {
		/* the name may still exist for another source */
		r = registry_snapshot_get_by_name(store_registry(drv->store), req->name, &s);
		if (r == 0) {
			rpc_call_fail(call, DV_ALREADY_EXISTS, "snapshot %s exists for volume %s",
				      req->name, s.source_volume);
			reg_snapshot_clear(&s);
		} else {
			rpc_call_fail(call, DV_NOT_FOUND, "volume %s does not exist",
				      req->source_volume_id);
		}
		return;
	}
	r = store_snapshot_create(drv->store, req->name, req->source_volume_id, &s, &st);
	if (r == -EEXIST && strcmp(s.source_volume, req->source_volume_id)) {
		rpc_call_fail(call, DV_ALREADY_EXISTS,
			      "snapshot %s already exists for another volume (%s)", req->name,
			      s.source_volume);
		goto done;
	}
	if (r < 0 && r != -EEXIST) {
		fail_with(call, &st, "snapshot failed");
		goto done;
	}
	Csi__V1__CreateSnapshotResponse resp = CSI__V1__CREATE_SNAPSHOT_RESPONSE__INIT;
	resp.snapshot = snapshot_msg(&s, &a);
	reply_or_oom(call, &a, resp.snapshot ? &resp.base : NULL);
done:
	reg_snapshot_clear(&s);
	arena_free(&a);
	dv_status_clear(&st);
}

static void delete_snapshot(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__DeleteSnapshotRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	Csi__V1__DeleteSnapshotResponse resp = CSI__V1__DELETE_SNAPSHOT_RESPONSE__INIT;

	if (!req->snapshot_id || !*req->snapshot_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "snapshot_id is required");
		return;
	}
	if (pool_id_is_valid(req->snapshot_id) &&
	    store_snapshot_delete(drv->store, req->snapshot_id, &st) < 0) {
		fail_with(call, &st, "deleting the snapshot failed");
		return;
	}
	rpc_call_reply(call, &resp.base);
}

static void list_snapshots(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__ListSnapshotsRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	registry *reg = store_registry(drv->store);
	reg_snapshot *ss = NULL;
	size_t n = 0, limit;
	int64_t after;
	arena a = { 0 };
	Csi__V1__ListSnapshotsResponse resp = CSI__V1__LIST_SNAPSHOTS_RESPONSE__INIT;

	if (page_request(call, reg, req->max_entries, req->starting_token, &after, &limit) < 0)
		return;
	if (req->snapshot_id && *req->snapshot_id) {
		/* one snapshot, or none: not an error */
		reg_snapshot s;
		if (pool_id_is_valid(req->snapshot_id) &&
		    registry_snapshot_get(reg, req->snapshot_id, &s) == 0) {
			bool match = !req->source_volume_id || !*req->source_volume_id ||
				     !strcmp(req->source_volume_id, s.source_volume);
			if (match && s.state == REG_STATE_READY) {
				ss = calloc(1, sizeof(*ss));
				if (ss) {
					*ss = s;
					n = 1;
				} else {
					reg_snapshot_clear(&s);
				}
			} else {
				reg_snapshot_clear(&s);
			}
		}
	} else if (registry_snapshot_list(reg, req->source_volume_id && *req->source_volume_id
						       ? req->source_volume_id : NULL,
					  after, limit + 1, &ss, &n) < 0) {
		rpc_call_fail(call, DV_INTERNAL, "registry list failed");
		return;
	}
	size_t shown = n > limit ? limit : n;
	Csi__V1__ListSnapshotsResponse__Entry **entries =
		ARENA_ARRAY(&a, Csi__V1__ListSnapshotsResponse__Entry *, shown);
	size_t k = 0;
	for (size_t i = 0; entries && i < shown; i++) {
		if (ss[i].state != REG_STATE_READY)
			continue;
		Csi__V1__ListSnapshotsResponse__Entry *e = ARENA_NEW(&a, Csi__V1__ListSnapshotsResponse__Entry);
		if (!e)
			break;
		csi__v1__list_snapshots_response__entry__init(e);
		e->snapshot = snapshot_msg(&ss[i], &a);
		entries[k++] = e;
	}
	resp.n_entries = k;
	resp.entries = entries;
	if (n > limit)
		resp.next_token = arena_printf(&a, "%lld", (long long)ss[shown - 1].seq);
	reply_or_oom(call, &a, &resp.base);
	registry_snapshots_free(ss, n);
	arena_free(&a);
}

/* ------------------------------------------------------------------ */

static void controller_caps(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	static const int types[] = {
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_UNPUBLISH_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES_PUBLISHED_NODES,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_SNAPSHOT,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_SNAPSHOTS,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CLONE_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_READONLY,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__MODIFY_VOLUME,
	};
	enum { N = sizeof(types) / sizeof(types[0]) };
	Csi__V1__ControllerServiceCapability caps[N], *capp[N];
	Csi__V1__ControllerServiceCapability__RPC rpcs[N];
	Csi__V1__ControllerGetCapabilitiesResponse resp = CSI__V1__CONTROLLER_GET_CAPABILITIES_RESPONSE__INIT;

	for (size_t i = 0; i < N; i++) {
		csi__v1__controller_service_capability__init(&caps[i]);
		csi__v1__controller_service_capability__rpc__init(&rpcs[i]);
		rpcs[i].type = types[i];
		caps[i].type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
		caps[i].rpc = &rpcs[i];
		capp[i] = &caps[i];
	}
	resp.n_capabilities = N;
	resp.capabilities = capp;
	rpc_call_reply(call, &resp.base);
}

#define M(name, fn, flags)                                                                  \
	{ "/csi.v1.Controller/" #name, &csi__v1__##fn##_request__descriptor,                \
	  &csi__v1__##fn##_response__descriptor, fn##_handler, flags }

#define create_volume_handler create_volume
#define delete_volume_handler delete_volume
#define controller_publish_volume_handler controller_publish
#define controller_unpublish_volume_handler controller_unpublish
#define validate_volume_capabilities_handler validate_caps
#define list_volumes_handler list_volumes
#define get_capacity_handler get_capacity
#define controller_get_capabilities_handler controller_caps
#define create_snapshot_handler create_snapshot
#define delete_snapshot_handler delete_snapshot
#define list_snapshots_handler list_snapshots
#define controller_expand_volume_handler controller_expand
#define controller_get_volume_handler controller_get_volume
#define controller_modify_volume_handler controller_modify

static const rpc_method controller_methods[] = {
	M(CreateVolume, create_volume, 0),
	M(DeleteVolume, delete_volume, 0),
	M(ControllerPublishVolume, controller_publish_volume, 0),
	M(ControllerUnpublishVolume, controller_unpublish_volume, 0),
	M(ValidateVolumeCapabilities, validate_volume_capabilities, 0),
	M(ListVolumes, list_volumes, 0),
	M(GetCapacity, get_capacity, 0),
	M(ControllerGetCapabilities, controller_get_capabilities, RPC_METHOD_INLINE),
	M(CreateSnapshot, create_snapshot, 0),
	M(DeleteSnapshot, delete_snapshot, 0),
	M(ListSnapshots, list_snapshots, 0),
	M(ControllerExpandVolume, controller_expand_volume, 0),
	M(ControllerGetVolume, controller_get_volume, 0),
	M(ControllerModifyVolume, controller_modify_volume, 0),
};

int csi_controller_register(rpc_server *srv, csi_driver *drv)
{
	for (size_t i = 0; i < sizeof(controller_methods) / sizeof(controller_methods[0]); i++) {
		int r = rpc_server_add_method(srv, &controller_methods[i], drv);
		if (r < 0)
			return r;
	}
	return 0;
}
