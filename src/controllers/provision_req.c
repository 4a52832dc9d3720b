/*
 * provision_req.c - the CreateVolume request for a claim, and the PV for
 * its answer, following external-provisioner's rules so that a class
 * written for the upstream sidecar means the same here.
 */
#include "provision_req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"

#define PREFIX "csi.storage.k8s.io/"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

static const char *const secret_kind_names[PROV_SECRET_NKINDS] = {
	[PROV_SECRET_PROVISIONER] = "provisioner",
	[PROV_SECRET_CONTROLLER_PUBLISH] = "controller-publish",
	[PROV_SECRET_NODE_STAGE] = "node-stage",
	[PROV_SECRET_NODE_PUBLISH] = "node-publish",
	[PROV_SECRET_CONTROLLER_EXPAND] = "controller-expand",
	[PROV_SECRET_NODE_EXPAND] = "node-expand",
};

/* The PV field each secret kind lands in (the provisioner's own is used
 * for CreateVolume/DeleteVolume and goes to annotations instead). */
static const char *const secret_pv_fields[PROV_SECRET_NKINDS] = {
	[PROV_SECRET_CONTROLLER_PUBLISH] = "controllerPublishSecretRef",
	[PROV_SECRET_NODE_STAGE] = "nodeStageSecretRef",
	[PROV_SECRET_NODE_PUBLISH] = "nodePublishSecretRef",
	[PROV_SECRET_CONTROLLER_EXPAND] = "controllerExpandSecretRef",
	[PROV_SECRET_NODE_EXPAND] = "nodeExpandSecretRef",
};

/* --- reserved parameters ------------------------------------------------------ */

bool prov_reserved_key(const char *key, bool *ret_known)
{
	const char *k;

	*ret_known = false;
	if (strncmp(key, PREFIX, PREFIX_LEN) != 0)
		return false;
	k = key + PREFIX_LEN;
	if (strcmp(k, "fstype") == 0) {
		*ret_known = true;
		return true;
	}
	for (int i = 0; i < PROV_SECRET_NKINDS; i++) {
		size_t n = strlen(secret_kind_names[i]);

		if (strncmp(k, secret_kind_names[i], n) == 0 &&
		    (strcmp(k + n, "-secret-name") == 0 ||
		     strcmp(k + n, "-secret-namespace") == 0)) {
			*ret_known = true;
			return true;
		}
	}
	return true;
}

/* --- secret templates ------------------------------------------------------------ */

static bool dns_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* A DNS-1123 subdomain (names) or label (namespaces). */
static bool valid_object_name(const char *s, bool subdomain)
{
	size_t n = strlen(s);

	if (n == 0 || n > (subdomain ? 253u : 63u))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!(dns_label_char(c) || (subdomain && c == '.')))
			return false;
		if ((i == 0 || i == n - 1) && (c == '-' || c == '.'))
			return false;
	}
	return true;
}

int prov_template(const char *tmpl, bool is_name, const json_t *pvc, const char *pv_name,
		  char *out, size_t len, dv_status *st)
{
	size_t o = 0;
	const char *p = tmpl;

	while (*p) {
		const char *val = NULL;
		char tok[300];
		const char *end;
		size_t n;

		if (p[0] != '$' || p[1] != '{') {
			if (o + 1 >= len)
				goto too_long;
			out[o++] = *p++;
			continue;
		}
		end = strchr(p + 2, '}');
		if (!end || (size_t)(end - p - 2) >= sizeof(tok)) {
			dv_status_set(st, DV_INVALID_ARGUMENT, "secret template %s: unterminated ${",
				      tmpl);
			return -1;
		}
		memcpy(tok, p + 2, (size_t)(end - p - 2));
		tok[end - p - 2] = '\0';
		if (strcmp(tok, "pv.name") == 0) {
			val = pv_name;
		} else if (strcmp(tok, "pvc.namespace") == 0) {
			val = ctrl_str(pvc, "metadata.namespace");
		} else if (is_name && strcmp(tok, "pvc.name") == 0) {
			val = ctrl_str(pvc, "metadata.name");
		} else if (is_name && strncmp(tok, "pvc.annotations['", 17) == 0 &&
			   strlen(tok) > 19 && strcmp(tok + strlen(tok) - 2, "']") == 0) {
			char key[256];
			size_t kl = strlen(tok) - 19;

			if (kl >= sizeof(key))
				goto bad_token;
			memcpy(key, tok + 17, kl);
			key[kl] = '\0';
			val = json_string_value(
				json_object_get(ctrl_get(pvc, "metadata.annotations"), key));
			if (!val) {
				dv_status_set(st, DV_INVALID_ARGUMENT,
					      "secret template %s: the claim has no annotation %s",
					      tmpl, key);
				return -1;
			}
		} else {
			goto bad_token;
		}
		n = strlen(val ? val : "");
		if (o + n >= len)
			goto too_long;
		memcpy(out + o, val ? val : "", n);
		o += n;
		p = end + 1;
		continue;
bad_token:
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "secret %s template %s: ${%s} is not supported (use ${pv.name}, "
			      "${pvc.namespace}%s)",
			      is_name ? "name" : "namespace", tmpl, tok,
			      is_name ? ", ${pvc.name}, ${pvc.annotations['KEY']}" : "");
		return -1;
	}
	out[o] = '\0';
	if (!valid_object_name(out, is_name)) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "secret %s template %s resolves to \"%s\", not a valid %s",
			      is_name ? "name" : "namespace", tmpl, out,
			      is_name ? "object name" : "namespace");
		return -1;
	}
	return 0;
too_long:
	dv_status_set(st, DV_INVALID_ARGUMENT, "secret template %s resolves to a too long value",
		      tmpl);
	return -1;
}

int prov_secret_param(const json_t *params, prov_secret_kind kind, const json_t *pvc,
		      const char *pv_name, prov_secret_ref *ref, dv_status *st)
{
	char kname[96], kns[96];
	const char *name, *ns;

	memset(ref, 0, sizeof(*ref));
	snprintf(kname, sizeof(kname), PREFIX "%s-secret-name", secret_kind_names[kind]);
	snprintf(kns, sizeof(kns), PREFIX "%s-secret-namespace", secret_kind_names[kind]);
	name = json_string_value(json_object_get(params, kname));
	ns = json_string_value(json_object_get(params, kns));
	if (!name && !ns)
		return 0;
	if (!name || !ns) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "%s and %s must be given together", kname,
			      kns);
		return -1;
	}
	if (prov_template(name, true, pvc, pv_name, ref->name, sizeof(ref->name), st) < 0 ||
	    prov_template(ns, false, pvc, pv_name, ref->ns, sizeof(ref->ns), st) < 0)
		return -1;
	ref->set = true;
	return 0;
}

/* --- topology ------------------------------------------------------------------------ */

static bool segment_seen(json_t *list, const json_t *seg)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (json_equal(v, (json_t *)seg))
			return true;
	return false;
}

/* Appends every combination of expressions[idx..] to acc. */
static void expand_term(const json_t *exprs, size_t idx, json_t *acc, json_t *out)
{
	const json_t *e = json_array_get(exprs, idx);
	const char *key;
	size_t i;
	json_t *v;

	if (!e) {
		if (json_object_size(acc) && !segment_seen(out, acc))
			json_array_append_new(out, json_deep_copy(acc));
		return;
	}
	key = json_string_value(json_object_get(e, "key"));
	if (!key) {
		expand_term(exprs, idx + 1, acc, out);
		return;
	}
	json_array_foreach(json_object_get(e, "values"), i, v) {
		if (!json_is_string(v))
			continue;
		json_object_set(acc, key, v);
		expand_term(exprs, idx + 1, acc, out);
	}
	json_object_del(acc, key);
}

json_t *prov_topology_terms(const json_t *allowed)
{
	json_t *out = json_array();
	size_t i;
	json_t *term;

	json_array_foreach(allowed, i, term) {
		json_t *acc = json_object();

		expand_term(json_object_get(term, "matchLabelExpressions"), 0, acc, out);
		json_decref(acc);
	}
	return out;
}

/* Whether node's CSINode lists our driver; *keys gets its topologyKeys
 * (NULL when it has none). */
static bool csinode_keys(ctrl_ctx *ctx, const json_t *csinode, const json_t **keys)
{
	size_t i;
	json_t *d;

	*keys = NULL;
	json_array_foreach(ctrl_get(csinode, "spec.drivers"), i, d) {
		const char *n = json_string_value(json_object_get(d, "name"));

		if (n && strcmp(n, ctx->driver.name) == 0) {
			*keys = json_object_get(d, "topologyKeys");
			return true;
		}
	}
	return false;
}

/* {key: node label} for the keys; NULL when the node lacks one. */
static json_t *segment_of(const json_t *node, const json_t *keys)
{
	json_t *seg = json_object();
	const json_t *labels = ctrl_get(node, "metadata.labels");
	size_t i;
	json_t *k;

	json_array_foreach(keys, i, k) {
		json_t *v = json_object_get(labels, json_string_value(k));

		if (!json_is_string(v)) {
			json_decref(seg);
			return NULL;
		}
		json_object_set(seg, json_string_value(k), v);
	}
	return seg;
}

/* The selected node's segment; UNAVAILABLE while its CSINode lacks our
 * driver (the node plugin may not have registered yet). */
static json_t *node_segment(ctrl_ctx *ctx, const char *node_name, dv_status *st)
{
	json_t *csinode = kube_informer_get(ctrl_informer(ctx, CTRL_CSINODE), NULL, node_name);
	json_t *node = kube_informer_get(ctrl_informer(ctx, CTRL_NODE), NULL, node_name);
	const json_t *keys = NULL;
	bool registered = csinode && csinode_keys(ctx, csinode, &keys);
	json_t *seg = NULL;

	if (!node)
		dv_status_set(st, DV_UNAVAILABLE, "selected node %s not found", node_name);
	else if (!registered)
		dv_status_set(st, DV_UNAVAILABLE,
			      "node %s has not registered driver %s in its CSINode yet", node_name,
			      ctx->driver.name);
	else if (!(seg = segment_of(node, keys)))
		dv_status_set(st, DV_UNAVAILABLE,
			      "node %s lacks a label of the topology keys of driver %s", node_name,
			      ctx->driver.name);
	json_decref(csinode);
	json_decref(node);
	return seg;
}

/* Every segment of every node with our driver: the topology the volume
 * may be created in when neither the class nor a node narrows it. */
static json_t *all_segments(ctrl_ctx *ctx)
{
	json_t *out = json_array();
	json_t *list = kube_informer_list(ctrl_informer(ctx, CTRL_CSINODE));
	size_t i;
	json_t *cn;

	json_array_foreach(list, i, cn) {
		const json_t *keys = NULL;
		const char *name = ctrl_str(cn, "metadata.name");
		json_t *node, *seg;

		if (!csinode_keys(ctx, cn, &keys) || !json_array_size(keys) || !name)
			continue;
		node = kube_informer_get(ctrl_informer(ctx, CTRL_NODE), NULL, name);
		seg = node ? segment_of(node, keys) : NULL;
		if (seg && json_object_size(seg) && !segment_seen(out, seg))
			json_array_append(out, seg);
		json_decref(seg);
		json_decref(node);
	}
	json_decref(list);
	return out;
}

/* seg matches term when every key of term has seg's value. */
static bool segment_matches(const json_t *term, const json_t *seg)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)term, k, v) {
		json_t *sv = json_object_get(seg, k);

		if (sv && !json_equal(sv, v))
			return false;
	}
	return true;
}

static Csi__V1__Topology *topology_new(const json_t *seg)
{
	Csi__V1__Topology *t = malloc(sizeof(*t));
	size_t n = 0;

	if (!t)
		return NULL;
	csi__v1__topology__init(t);
	t->segments = (Csi__V1__Topology__SegmentsEntry **)ctrl_pb_map_from_json(
		seg, &csi__v1__topology__segments_entry__descriptor, &n);
	t->n_segments = n;
	return t;
}

static void topology_list_free(Csi__V1__Topology **l, size_t n)
{
	for (size_t i = 0; l && i < n; i++) {
		if (l[i])
			ctrl_pb_map_free((void **)l[i]->segments, l[i]->n_segments);
		free(l[i]);
	}
	free(l);
}

static Csi__V1__Topology **topology_list(const json_t *segs, size_t *ret_n)
{
	size_t n = json_array_size(segs);
	Csi__V1__Topology **l = calloc(n ? n : 1, sizeof(*l));

	*ret_n = 0;
	for (size_t i = 0; l && i < n; i++) {
		l[i] = topology_new(json_array_get(segs, i));
		if (!l[i]) {
			topology_list_free(l, i);
			return NULL;
		}
	}
	*ret_n = l ? n : 0;
	return l;
}

/* A small stable hash, so claims spread over segments (as upstream
 * rotates the preferred list by the PVC name's hash). */
static size_t name_hash(const char *s)
{
	size_t h = 5381;

	while (s && *s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/* requisite = the class's allowed terms, else every registered segment;
 * preferred = the same, the selected node's first (else rotated by the
 * claim name). */
static int build_topology(ctrl_ctx *ctx, const json_t *pvc, const json_t *sc, prov_req *r,
			  dv_status *st)
{
	const char *node = json_string_value(
		json_object_get(ctrl_get(pvc, "metadata.annotations"), PROV_ANN_SELECTED_NODE));
	json_t *allowed = json_object_get(sc, "allowedTopologies");
	json_t *req, *pref, *sel = NULL;
	size_t n;
	int rc = -1;

	if (!ctx->driver.topology)
		return 0;
	if (node && *node && !(sel = node_segment(ctx, node, st)))
		return -1;
	req = json_array_size(allowed) ? prov_topology_terms(allowed) : all_segments(ctx);
	if (sel && json_array_size(allowed) == 0 && !segment_seen(req, sel))
		json_array_insert(req, 0, sel);
	if (sel && json_array_size(allowed)) {
		/* The node must be inside what the class allows. */
		bool ok = false;
		size_t i;
		json_t *t;

		json_array_foreach(req, i, t)
			ok = ok || segment_matches(t, sel);
		if (!ok) {
			dv_status_set(st, DV_INVALID_ARGUMENT,
				      "selected node %s is outside the class's allowedTopologies",
				      node);
			r->node_refused = true;
			goto out_req;
		}
	}
	n = json_array_size(req);
	if (n == 0) {
		rc = 0; /* nothing registered: let the driver choose */
		goto out_req;
	}
	pref = json_array();
	if (sel) {
		size_t i;
		json_t *t;

		json_array_foreach(req, i, t)
			if (segment_matches(t, sel))
				json_array_append(pref, t);
		json_array_foreach(req, i, t)
			if (!segment_matches(t, sel))
				json_array_append(pref, t);
	} else {
		size_t start = name_hash(ctrl_str(pvc, "metadata.name")) % n;

		for (size_t i = 0; i < n; i++)
			json_array_append(pref, json_array_get(req, (start + i) % n));
	}
	r->topo = malloc(sizeof(*r->topo));
	if (r->topo) {
		csi__v1__topology_requirement__init(r->topo);
		r->topo->requisite = topology_list(req, &r->topo->n_requisite);
		r->topo->preferred = topology_list(pref, &r->topo->n_preferred);
		rc = r->topo->requisite && r->topo->preferred ? 0 : -1;
	}
	if (rc < 0)
		dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
	json_decref(pref);
out_req:
	json_decref(req);
	json_decref(sel);
	return rc;
}

/* --- capabilities ------------------------------------------------------------------ */

static int access_mode(ctrl_ctx *ctx, const char *m)
{
	bool multi = ctx->driver.single_node_multi_writer;

	if (strcmp(m, "ReadWriteOnce") == 0)
		return multi ? CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER
			     : CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
	if (strcmp(m, "ReadWriteOncePod") == 0)
		return multi ? CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER
			     : CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
	if (strcmp(m, "ReadOnlyMany") == 0)
		return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY;
	if (strcmp(m, "ReadWriteMany") == 0)
		return CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER;
	return -1;
}

static void caps_free(Csi__V1__VolumeCapability **caps, size_t n)
{
	for (size_t i = 0; caps && i < n; i++) {
		Csi__V1__VolumeCapability *c = caps[i];

		if (!c)
			continue;
		free(c->access_mode);
		if (c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT &&
		    c->mount) {
			for (size_t j = 0; j < c->mount->n_mount_flags; j++)
				free(c->mount->mount_flags[j]);
			free(c->mount->mount_flags);
			free(c->mount);
		} else {
			free(c->block);
		}
		free(c);
	}
	free(caps);
}

/* One capability per access mode, as external-provisioner sends them. */
static int build_caps(ctrl_ctx *ctx, const json_t *pvc, const json_t *sc, prov_req *r,
		      dv_status *st)
{
	const json_t *modes = ctrl_get(pvc, "spec.accessModes");
	const json_t *opts = json_object_get(sc, "mountOptions");
	size_t n = json_array_size(modes), i;
	json_t *m;

	if (n == 0) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "the claim has no accessModes");
		return -1;
	}
	r->caps = calloc(n, sizeof(*r->caps));
	if (!r->caps)
		goto oom;
	r->req.volume_capabilities = r->caps;
	json_array_foreach(modes, i, m) {
		int mode = json_is_string(m) ? access_mode(ctx, json_string_value(m)) : -1;
		Csi__V1__VolumeCapability *c;

		if (mode < 0) {
			dv_status_set(st, DV_INVALID_ARGUMENT, "access mode %s is not supported",
				      json_is_string(m) ? json_string_value(m) : "(not a string)");
			return -1;
		}
		c = calloc(1, sizeof(*c));
		if (!c)
			goto oom;
		r->caps[i] = c;
		r->req.n_volume_capabilities = i + 1;
		csi__v1__volume_capability__init(c);
		c->access_mode = malloc(sizeof(*c->access_mode));
		if (!c->access_mode)
			goto oom;
		csi__v1__volume_capability__access_mode__init(c->access_mode);
		c->access_mode->mode = mode;
		if (r->block) {
			c->access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
			c->block = malloc(sizeof(*c->block));
			if (!c->block)
				goto oom;
			csi__v1__volume_capability__block_volume__init(c->block);
			continue;
		}
		c->access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
		c->mount = malloc(sizeof(*c->mount));
		if (!c->mount)
			goto oom;
		csi__v1__volume_capability__mount_volume__init(c->mount);
		c->mount->fs_type = r->fstype;
		if (json_array_size(opts)) {
			size_t j;
			json_t *o;

			c->mount->mount_flags = calloc(json_array_size(opts), sizeof(char *));
			if (!c->mount->mount_flags)
				goto oom;
			json_array_foreach(opts, j, o) {
				if (!json_is_string(o))
					continue;
				c->mount->mount_flags[c->mount->n_mount_flags] =
					strdup(json_string_value(o));
				if (!c->mount->mount_flags[c->mount->n_mount_flags])
					goto oom;
				c->mount->n_mount_flags++;
			}
		}
	}
	return 0;
oom:
	dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
	return -1;
}

/* --- data sources ------------------------------------------------------------------ */

static json_t *api_get(ctrl_ctx *ctx, const kube_resource *res, const char *ns,
		       const char *name, int *ret_status, dv_status *st)
{
	kube_response resp = { 0 };
	int code = kube_get(ctx->kube, res, ns, name, &resp);
	json_t *o = NULL;

	*ret_status = code;
	if (code == 200) {
		o = json_incref(resp.body);
	} else if (code != 404) {
		dv_status_set(st, DV_UNAVAILABLE, "cannot read %s %s/%s: %s", res->kind, ns, name,
			      resp.message[0] ? resp.message : "no response");
	}
	kube_response_clear(&resp);
	return o;
}

static int source_new(prov_req *r, bool snapshot, const char *id)
{
	r->source = calloc(1, sizeof(*r->source));
	if (!r->source)
		return -1;
	csi__v1__volume_content_source__init(r->source);
	if (snapshot) {
		r->source->type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT;
		r->source->snapshot = calloc(1, sizeof(*r->source->snapshot));
		if (!r->source->snapshot)
			return -1;
		csi__v1__volume_content_source__snapshot_source__init(r->source->snapshot);
		r->source->snapshot->snapshot_id = strdup(id);
		return r->source->snapshot->snapshot_id ? 0 : -1;
	}
	r->source->type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME;
	r->source->volume = calloc(1, sizeof(*r->source->volume));
	if (!r->source->volume)
		return -1;
	csi__v1__volume_content_source__volume_source__init(r->source->volume);
	r->source->volume->volume_id = strdup(id);
	return r->source->volume->volume_id ? 0 : -1;
}

static void source_free(Csi__V1__VolumeContentSource *s)
{
	if (!s)
		return;
	if (s->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT && s->snapshot) {
		free(s->snapshot->snapshot_id);
		free(s->snapshot);
	} else if (s->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME && s->volume) {
		free(s->volume->volume_id);
		free(s->volume);
	}
	free(s);
}

static int snapshot_source(ctrl_ctx *ctx, const char *ns, const char *name, prov_req *r,
			   dv_status *st)
{
	int code;
	json_t *vs = api_get(ctx, &KUBE_VOLUMESNAPSHOTS, ns, name, &code, st);
	json_t *vsc = NULL;
	const char *content, *handle, *driver;
	uint64_t restore = 0;
	int rc = -1;

	if (!ctx->driver.snapshots) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "driver %s does not support snapshots, so cannot restore one",
			      ctx->driver.name);
		goto out;
	}
	if (!vs) {
		if (code == 404)
			dv_status_set(st, DV_INVALID_ARGUMENT, "volumesnapshot %s/%s not found", ns,
				      name);
		goto out;
	}
	if (ctrl_being_deleted(vs)) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "volumesnapshot %s/%s is being deleted",
			      ns, name);
		goto out;
	}
	content = ctrl_str(vs, "status.boundVolumeSnapshotContentName");
	if (!json_is_true(ctrl_get(vs, "status.readyToUse")) || !content || !*content) {
		dv_status_set(st, DV_UNAVAILABLE, "volumesnapshot %s/%s is not ready to use yet",
			      ns, name);
		goto out;
	}
	vsc = api_get(ctx, &KUBE_VOLUMESNAPSHOTCONTENTS, NULL, content, &code, st);
	if (!vsc) {
		if (code == 404)
			dv_status_set(st, DV_UNAVAILABLE, "volumesnapshotcontent %s not found",
				      content);
		goto out;
	}
	driver = ctrl_str(vsc, "spec.driver");
	handle = ctrl_str(vsc, "status.snapshotHandle");
	if (!driver || strcmp(driver, ctx->driver.name) != 0) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "volumesnapshot %s/%s belongs to driver %s, not %s", ns, name,
			      driver ? driver : "(none)", ctx->driver.name);
		goto out;
	}
	if (!handle || !*handle) {
		dv_status_set(st, DV_UNAVAILABLE, "volumesnapshotcontent %s has no snapshotHandle",
			      content);
		goto out;
	}
	if (json_is_integer(ctrl_get(vsc, "status.restoreSize")))
		restore = (uint64_t)json_integer_value(ctrl_get(vsc, "status.restoreSize"));
	else if (ctrl_str(vs, "status.restoreSize"))
		dv_quantity_bytes(ctrl_str(vs, "status.restoreSize"), &restore);
	if (restore > r->request_bytes) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "requested volume size %llu is less than the size %llu of the source "
			      "snapshot %s",
			      (unsigned long long)r->request_bytes, (unsigned long long)restore,
			      name);
		goto out;
	}
	rc = source_new(r, true, handle);
	if (rc < 0)
		dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
out:
	json_decref(vs);
	json_decref(vsc);
	return rc;
}

static int clone_source(ctrl_ctx *ctx, const json_t *pvc, const char *name, prov_req *r,
			dv_status *st)
{
	const char *ns = ctrl_str(pvc, "metadata.namespace");
	int code;
	json_t *src = api_get(ctx, &KUBE_PVCS, ns, name, &code, st), *pv = NULL;
	const char *vol, *cls, *mycls, *handle, *driver, *mode, *mymode;
	uint64_t size = 0;
	int rc = -1;

	if (!ctx->driver.clone) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "driver %s does not support cloning",
			      ctx->driver.name);
		goto out;
	}
	if (!src) {
		if (code == 404)
			dv_status_set(st, DV_INVALID_ARGUMENT, "source claim %s/%s not found", ns,
				      name);
		goto out;
	}
	if (ctrl_being_deleted(src)) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "source claim %s/%s is being deleted", ns,
			      name);
		goto out;
	}
	vol = ctrl_str(src, "spec.volumeName");
	if (!vol || !*vol || !ctrl_str(src, "status.phase") ||
	    strcmp(ctrl_str(src, "status.phase"), "Bound") != 0) {
		dv_status_set(st, DV_UNAVAILABLE, "source claim %s/%s is not bound yet", ns, name);
		goto out;
	}
	cls = ctrl_str(src, "spec.storageClassName");
	mycls = ctrl_str(pvc, "spec.storageClassName");
	if (!cls || !mycls || strcmp(cls, mycls) != 0) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "the source claim %s and the clone must have the same storage class "
			      "(%s, %s)",
			      name, cls ? cls : "none", mycls ? mycls : "none");
		goto out;
	}
	mode = ctrl_str(src, "spec.volumeMode");
	mymode = ctrl_str(pvc, "spec.volumeMode");
	if (strcmp(mode ? mode : "Filesystem", mymode ? mymode : "Filesystem") != 0) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "the source claim %s has volumeMode %s, the clone %s", name,
			      mode ? mode : "Filesystem", mymode ? mymode : "Filesystem");
		goto out;
	}
	if (ctrl_str(src, "status.capacity.storage"))
		dv_quantity_bytes(ctrl_str(src, "status.capacity.storage"), &size);
	if (size > r->request_bytes) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "requested volume size %llu is less than the size %llu of the source "
			      "claim %s",
			      (unsigned long long)r->request_bytes, (unsigned long long)size, name);
		goto out;
	}
	pv = api_get(ctx, &KUBE_PVS, NULL, vol, &code, st);
	if (!pv) {
		if (code == 404)
			dv_status_set(st, DV_UNAVAILABLE, "volume %s of source claim %s not found",
				      vol, name);
		goto out;
	}
	driver = ctrl_str(pv, "spec.csi.driver");
	handle = ctrl_str(pv, "spec.csi.volumeHandle");
	if (!driver || strcmp(driver, ctx->driver.name) != 0 || !handle || !*handle) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "the source claim %s is not a volume of driver %s", name,
			      ctx->driver.name);
		goto out;
	}
	snprintf(r->clone_source, sizeof(r->clone_source), "%s", name);
	rc = source_new(r, false, handle);
	if (rc < 0)
		dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
out:
	json_decref(src);
	json_decref(pv);
	return rc;
}

static int build_source(ctrl_ctx *ctx, const json_t *pvc, prov_req *r, dv_status *st)
{
	const json_t *ds = ctrl_get(pvc, "spec.dataSourceRef");
	const char *kind, *group, *name, *ns, *myns = ctrl_str(pvc, "metadata.namespace");

	if (!json_is_object(ds))
		ds = ctrl_get(pvc, "spec.dataSource");
	if (!json_is_object(ds))
		return 0;
	kind = ctrl_str(ds, "kind");
	group = ctrl_str(ds, "apiGroup");
	name = ctrl_str(ds, "name");
	ns = ctrl_str(ds, "namespace");
	if (!kind || !name || !*name) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "the claim's data source has no kind or name");
		return -1;
	}
	if (ns && *ns && strcmp(ns, myns) != 0) {
		/* A cross-namespace source needs a ReferenceGrant check that
		 * dynvol does not implement; refusing is the safe answer. */
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "data source %s/%s is in another namespace; cross-namespace data "
			      "sources are not supported",
			      ns, name);
		return -1;
	}
	if (strcmp(kind, "VolumeSnapshot") == 0 && group &&
	    strcmp(group, "snapshot.storage.k8s.io") == 0)
		return snapshot_source(ctx, myns, name, r, st);
	if (strcmp(kind, "PersistentVolumeClaim") == 0 && (!group || !*group))
		return clone_source(ctx, pvc, name, r, st);
	dv_status_set(st, DV_INVALID_ARGUMENT, "data source kind %s%s%s is not supported", kind,
		      group && *group ? "." : "", group && *group ? group : "");
	return -1;
}

/* --- parameters -------------------------------------------------------------------------- */

static int build_params(ctrl_ctx *ctx, const json_t *pvc, const json_t *params, prov_req *r,
			dv_status *st)
{
	json_t *pass = json_object();
	const char *k;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)params, k, v) {
		bool known;

		if (!json_is_string(v))
			continue;
		if (!prov_reserved_key(k, &known)) {
			json_object_set(pass, k, v);
			continue;
		}
		if (!known) {
			dv_status_set(st, DV_INVALID_ARGUMENT,
				      "found unknown parameter key \"%s\" with reserved namespace "
				      PREFIX,
				      k);
			json_decref(pass);
			return -1;
		}
	}
	if (ctx->opt.extra_create_metadata) {
		json_object_set_new(pass, PREFIX "pvc/name",
				    json_string(ctrl_str(pvc, "metadata.name")));
		json_object_set_new(pass, PREFIX "pvc/namespace",
				    json_string(ctrl_str(pvc, "metadata.namespace")));
		json_object_set_new(pass, PREFIX "pv/name", json_string(r->pv_name));
	}
	r->req.parameters = (Csi__V1__CreateVolumeRequest__ParametersEntry **)ctrl_pb_map_from_json(
		pass, &csi__v1__create_volume_request__parameters_entry__descriptor, &n);
	r->req.n_parameters = n;
	json_decref(pass);
	if (!r->req.parameters) {
		dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	return 0;
}

/* --- the request ------------------------------------------------------------------------- */

int prov_req_build(ctrl_ctx *ctx, const json_t *pvc, const json_t *sc, prov_req *r,
		   dv_status *st)
{
	const json_t *params = json_object_get(sc, "parameters");
	const char *uid = ctrl_str(pvc, "metadata.uid");
	const char *req_q = ctrl_str(pvc, "spec.resources.requests.storage");
	const char *lim_q = ctrl_str(pvc, "spec.resources.limits.storage");
	const char *mode = ctrl_str(pvc, "spec.volumeMode");
	const char *fstype = json_string_value(json_object_get(params, PREFIX "fstype"));
	uint64_t limit = 0;

	memset(r, 0, sizeof(*r));
	csi__v1__create_volume_request__init(&r->req);
	csi__v1__capacity_range__init(&r->range);
	if (!uid || !*uid) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "the claim has no uid");
		return -1;
	}
	snprintf(r->pv_name, sizeof(r->pv_name), "pvc-%s", uid);
	r->req.name = r->pv_name;
	if (!req_q || dv_quantity_bytes(req_q, &r->request_bytes) < 0 || r->request_bytes == 0) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "the claim requests no valid storage size (%s)", req_q ? req_q : "none");
		return -1;
	}
	if (lim_q && dv_quantity_bytes(lim_q, &limit) < 0) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "the claim's storage limit %s is invalid",
			      lim_q);
		return -1;
	}
	if (r->request_bytes > INT64_MAX || limit > INT64_MAX ||
	    (limit && limit < r->request_bytes)) {
		dv_status_set(st, DV_INVALID_ARGUMENT,
			      "the claim's storage request %s and limit %s do not fit", req_q,
			      lim_q ? lim_q : "none");
		return -1;
	}
	r->range.required_bytes = (int64_t)r->request_bytes;
	r->range.limit_bytes = (int64_t)limit;
	r->req.capacity_range = &r->range;
	if (mode && strcmp(mode, "Block") == 0)
		r->block = true;
	else if (mode && strcmp(mode, "Filesystem") != 0) {
		dv_status_set(st, DV_INVALID_ARGUMENT, "volumeMode %s is not supported", mode);
		return -1;
	}
	if (fstype && !r->block)
		snprintf(r->fstype, sizeof(r->fstype), "%s", fstype);

	if (build_params(ctx, pvc, params, r, st) < 0)
		return -1;
	for (int k = 0; k < PROV_SECRET_NKINDS; k++)
		if (prov_secret_param(params, k, pvc, r->pv_name, &r->secrets[k], st) < 0)
			return -1;
	if (build_caps(ctx, pvc, sc, r, st) < 0)
		return -1;
	if (build_topology(ctx, pvc, sc, r, st) < 0)
		return -1;
	r->req.accessibility_requirements = r->topo;
	if (build_source(ctx, pvc, r, st) < 0)
		return -1;
	r->req.volume_content_source = r->source;
	if (r->secrets[PROV_SECRET_PROVISIONER].set) {
		const prov_secret_ref *s = &r->secrets[PROV_SECRET_PROVISIONER];

		if (ctrl_secrets_load(ctx, s->ns, s->name, &r->prov_secrets, st) < 0)
			return -1;
		r->req.secrets = (Csi__V1__CreateVolumeRequest__SecretsEntry **)ctrl_pb_map_from_kv(
			r->prov_secrets.keys, r->prov_secrets.values, r->prov_secrets.n,
			&csi__v1__create_volume_request__secrets_entry__descriptor);
		if (!r->req.secrets) {
			dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
			return -1;
		}
		r->req.n_secrets = r->prov_secrets.n;
	}
	return 0;
}

void prov_req_free(prov_req *r)
{
	ctrl_pb_map_free((void **)r->req.parameters, r->req.n_parameters);
	ctrl_pb_map_free((void **)r->req.secrets, r->req.n_secrets);
	caps_free(r->caps, r->req.n_volume_capabilities);
	if (r->topo) {
		topology_list_free(r->topo->requisite, r->topo->n_requisite);
		topology_list_free(r->topo->preferred, r->topo->n_preferred);
		free(r->topo);
	}
	source_free(r->source);
	ctrl_secrets_free(&r->prov_secrets);
	memset(r, 0, sizeof(*r));
}

/* --- the PersistentVolume ----------------------------------------------------------------- */

static json_t *node_affinity(const Csi__V1__Volume *vol)
{
	json_t *terms = json_array();

	for (size_t i = 0; i < vol->n_accessible_topology; i++) {
		const Csi__V1__Topology *t = vol->accessible_topology[i];
		json_t *exprs = json_array();

		for (size_t j = 0; j < t->n_segments; j++)
			json_array_append_new(
				exprs, json_pack("{s:s, s:s, s:[s]}", "key", t->segments[j]->key,
						 "operator", "In", "values", t->segments[j]->value));
		if (json_array_size(exprs))
			json_array_append_new(terms, json_pack("{s:o}", "matchExpressions", exprs));
		else
			json_decref(exprs);
	}
	if (!json_array_size(terms)) {
		json_decref(terms);
		return NULL;
	}
	return json_pack("{s:{s:o}}", "required", "nodeSelectorTerms", terms);
}

json_t *prov_pv_build(ctrl_ctx *ctx, const json_t *pvc, const json_t *sc, const prov_req *r,
		      const Csi__V1__Volume *vol, const char *identity)
{
	char size[64];
	uint64_t bytes = vol->capacity_bytes > 0 ? (uint64_t)vol->capacity_bytes : r->request_bytes;
	const char *reclaim = json_string_value(json_object_get(sc, "reclaimPolicy"));
	json_t *pv, *ann, *csi, *attrs, *spec, *aff;

	dv_quantity_from_bytes(bytes, size, sizeof(size));
	attrs = ctrl_pb_map_to_json((void *const *)vol->volume_context, vol->n_volume_context);
	json_object_set_new(attrs, "storage.kubernetes.io/csiProvisionerIdentity",
			    json_string(identity));
	csi = json_pack("{s:s, s:s, s:o}", "driver", ctx->driver.name, "volumeHandle",
			vol->volume_id, "volumeAttributes", attrs);
	if (r->fstype[0])
		json_object_set_new(csi, "fsType", json_string(r->fstype));
	for (int k = 0; k < PROV_SECRET_NKINDS; k++)
		if (secret_pv_fields[k] && r->secrets[k].set)
			json_object_set_new(csi, secret_pv_fields[k],
					    json_pack("{s:s, s:s}", "name", r->secrets[k].name,
						      "namespace", r->secrets[k].ns));
	ann = json_pack("{s:s}", PROV_ANN_PROVISIONED_BY, ctx->driver.name);
	if (r->secrets[PROV_SECRET_PROVISIONER].set) {
		json_object_set_new(ann, PROV_ANN_DEL_SECRET_NAME,
				    json_string(r->secrets[PROV_SECRET_PROVISIONER].name));
		json_object_set_new(ann, PROV_ANN_DEL_SECRET_NS,
				    json_string(r->secrets[PROV_SECRET_PROVISIONER].ns));
	}
	spec = json_pack("{s:{s:s}, s:O, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:o}",
			 "capacity", "storage", size,
			 "accessModes", ctrl_get(pvc, "spec.accessModes"),
			 "persistentVolumeReclaimPolicy", reclaim ? reclaim : "Delete",
			 "storageClassName", ctrl_str(sc, "metadata.name"),
			 "volumeMode", r->block ? "Block" : "Filesystem",
			 "claimRef", "kind", "PersistentVolumeClaim", "apiVersion", "v1",
			 "namespace", ctrl_str(pvc, "metadata.namespace"),
			 "name", ctrl_str(pvc, "metadata.name"),
			 "uid", ctrl_str(pvc, "metadata.uid"),
			 "resourceVersion", ctrl_str(pvc, "metadata.resourceVersion") ?
				 ctrl_str(pvc, "metadata.resourceVersion") : "",
			 "csi", csi);
	if (!spec) {
		json_decref(ann);
		return NULL;
	}
	if (json_array_size(json_object_get(sc, "mountOptions")))
		json_object_set(spec, "mountOptions", json_object_get(sc, "mountOptions"));
	aff = node_affinity(vol);
	if (aff)
		json_object_set_new(spec, "nodeAffinity", aff);
	pv = json_pack("{s:s, s:s, s:{s:s, s:o, s:[s]}, s:o}", "apiVersion", "v1", "kind",
		       "PersistentVolume", "metadata", "name", r->pv_name, "annotations", ann,
		       "finalizers", PROV_PV_FINALIZER, "spec", spec);
	return pv;
}
