#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_CONFIG_BYTES (1 << 20)

typedef struct {
	yaml_document_t *doc;
	const char *source;
	dv_status *err;
} parse_ctx;

static int fail(parse_ctx *ctx, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records "<file>:<line>: <why>" as an INVALID_ARGUMENT status. */
static int fail(parse_ctx *ctx, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		dv_status_set(ctx->err, DV_INVALID_ARGUMENT, "%s:%zu: %s", ctx->source,
			      n->start_mark.line + 1, msg);
	else
		dv_status_set(ctx->err, DV_INVALID_ARGUMENT, "%s: %s", ctx->source, msg);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_string(parse_ctx *ctx, const yaml_node_t *n, const char *key, char **out)
{
	const char *s = scalar(n);

	if (!s)
		return fail(ctx, n, "%s must be a string", key);
	free(*out);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int get_kv_map(parse_ctx *ctx, const yaml_node_t *n, const char *key, dv_kv **out,
		      size_t *out_n)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return fail(ctx, n, "%s must be a mapping", key);
	if (*out)
		return fail(ctx, n, "%s is given twice", key);
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	dv_kv *kv = calloc(count ? count : 1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	*out = kv;
	*out_n = 0;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
		if (!scalar(k) || !scalar(v))
			return fail(ctx, k, "entries of %s must be string: string", key);
		kv[*out_n].key = strdup(scalar(k));
		kv[*out_n].value = strdup(scalar(v));
		(*out_n)++;
		if (!kv[*out_n - 1].key || !kv[*out_n - 1].value)
			return -ENOMEM;
	}
	return 0;
}

static int parse_pool(parse_ctx *ctx, const yaml_node_t *n, dv_pool_config *pool)
{
	const char *why;
	int r;

	if (n->type != YAML_MAPPING_NODE)
		return fail(ctx, n, "%s must be a mapping", "a pool");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
		const char *ks = scalar(k);
		if (!ks)
			return fail(ctx, k, "%s", "pool keys must be strings");
		if (strcmp(ks, "name") == 0)
			r = get_string(ctx, v, ks, &pool->name);
		else if (strcmp(ks, "backend") == 0)
			r = get_string(ctx, v, ks, &pool->backend);
		else if (strcmp(ks, "root") == 0)
			r = get_string(ctx, v, ks, &pool->root);
		else if (strcmp(ks, "options") == 0)
			r = get_kv_map(ctx, v, ks, &pool->options, &pool->n_options);
		else
			r = fail(ctx, k, "unknown pool key '%s'", ks);
		if (r < 0)
			return r;
	}
	if (!pool->name)
		return fail(ctx, n, "%s", "a pool needs a name");
	if ((why = dv_validate_pool_name(pool->name)))
		return fail(ctx, n, "pool name: %s", why);
	if (!pool->backend)
		return fail(ctx, n, "pool '%s' needs a backend", pool->name);
	if (strcmp(pool->backend, "image") && strcmp(pool->backend, "btrfs") &&
	    strcmp(pool->backend, "dir") && strcmp(pool->backend, "shared"))
		return fail(ctx, n, "unknown backend '%s' (image, btrfs, dir, shared)", pool->backend);
	if (!pool->root || pool->root[0] != '/')
		return fail(ctx, n, "pool '%s' needs an absolute root", pool->name);
	return 0;
}

static int parse_root(parse_ctx *ctx, const yaml_node_t *root, dv_config *cfg)
{
	const char *why;
	int r;

	if (!root)
		return 0; /* empty file: all defaults */
	if (root->type != YAML_MAPPING_NODE)
		return fail(ctx, root, "%s", "the top level must be a mapping");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
		const char *ks = scalar(k);
		if (!ks)
			return fail(ctx, k, "%s", "keys must be strings");
		if (strcmp(ks, "driverName") == 0) {
			r = get_string(ctx, v, ks, &cfg->driver_name);
			if (r == 0 && (why = dv_validate_driver_name(cfg->driver_name)))
				r = fail(ctx, v, "driverName: %s", why);
		} else if (strcmp(ks, "nodeId") == 0) {
			r = get_string(ctx, v, ks, &cfg->node_id);
		} else if (strcmp(ks, "stateDir") == 0) {
			r = get_string(ctx, v, ks, &cfg->state_dir);
			if (r == 0 && cfg->state_dir[0] != '/')
				r = fail(ctx, v, "%s", "stateDir must be absolute");
		} else if (strcmp(ks, "maxVolumesPerNode") == 0) {
			const char *s = scalar(v);
			char *end;
			errno = 0;
			long val = s ? strtol(s, &end, 10) : -1;
			if (!s || errno || *end || val < 0 || val > 1000000)
				r = fail(ctx, v, "%s", "maxVolumesPerNode must be an integer 0..1000000");
			else
				cfg->max_volumes_per_node = val, r = 0;
		} else if (strcmp(ks, "removeOrphans") == 0) {
			const char *b = scalar(v);
			if (b && (!strcmp(b, "true") || !strcmp(b, "false"))) {
				cfg->remove_orphans = b[0] == 't';
				r = 0;
			} else {
				r = fail(ctx, v, "%s", "removeOrphans must be true or false");
			}
		} else if (strcmp(ks, "pathPrefixes") == 0) {
			if (!v || v->type != YAML_SEQUENCE_NODE)
				return fail(ctx, v, "%s", "pathPrefixes must be a list");
			r = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     r == 0 && it < v->data.sequence.items.top; it++) {
				const char *pfx = scalar(yaml_document_get_node(ctx->doc, *it));
				if (!pfx)
					r = fail(ctx, v, "%s", "pathPrefixes entries must be strings");
				else if (dv_config_add_path_prefix(cfg, pfx, ctx->err) < 0)
					r = -EINVAL;
			}
		} else if (strcmp(ks, "topology") == 0) {
			r = get_kv_map(ctx, v, ks, &cfg->topology, &cfg->n_topology);
		} else if (strcmp(ks, "pools") == 0) {
			if (!v || v->type != YAML_SEQUENCE_NODE)
				return fail(ctx, v, "%s", "pools must be a list");
			if (cfg->pools)
				return fail(ctx, v, "%s", "pools is given twice");
			size_t count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
			cfg->pools = calloc(count ? count : 1, sizeof(*cfg->pools));
			if (!cfg->pools)
				return -ENOMEM;
			r = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     r == 0 && it < v->data.sequence.items.top; it++) {
				dv_pool_config *pool = &cfg->pools[cfg->n_pools++];
				r = parse_pool(ctx, yaml_document_get_node(ctx->doc, *it), pool);
				for (size_t j = 0; r == 0 && j + 1 < cfg->n_pools; j++)
					if (strcmp(cfg->pools[j].name, pool->name) == 0)
						r = fail(ctx, v, "duplicate pool name '%s'", pool->name);
			}
		} else {
			r = fail(ctx, k, "unknown key '%s'", ks);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int dv_config_parse(dv_config **ret, const char *text, size_t len, const char *source,
		    dv_status *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	dv_config *cfg;
	parse_ctx ctx = { .doc = &doc, .source = source, .err = err };
	int r;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		free(cfg);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		dv_status_set(err, DV_INVALID_ARGUMENT, "%s:%zu: %s", source,
			      parser.problem_mark.line + 1,
			      parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		free(cfg);
		return -EINVAL;
	}
	r = parse_root(&ctx, yaml_document_get_root_node(&doc), cfg);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (r < 0) {
		if (r == -ENOMEM)
			dv_status_set(err, DV_RESOURCE_EXHAUSTED, "out of memory");
		dv_config_free(cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}

int dv_config_load(dv_config **ret, const char *path, dv_status *err)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	int r;

	if (!f) {
		int e = errno;
		dv_status_set(err, DV_INVALID_ARGUMENT, "cannot open config %s: %s", path, strerror(e));
		return -e;
	}
	buf = malloc(MAX_CONFIG_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, MAX_CONFIG_BYTES + 1, f);
	fclose(f);
	if (n > MAX_CONFIG_BYTES) {
		free(buf);
		dv_status_set(err, DV_INVALID_ARGUMENT, "config %s is larger than 1 MiB", path);
		return -EFBIG;
	}
	r = dv_config_parse(ret, buf, n, path, err);
	free(buf);
	return r;
}

int dv_config_add_path_prefix(dv_config *cfg, const char *prefix, dv_status *err)
{
	size_t n = strlen(prefix);
	char **v;

	/* canonical absolute paths only: the node compares strings */
	if (prefix[0] != '/' || strstr(prefix, "//") || strstr(prefix, "/./") ||
	    strstr(prefix, "/../") || (n >= 2 && strcmp(prefix + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(prefix + n - 3, "/..") == 0) || n > 1024) {
		dv_status_set(err, DV_INVALID_ARGUMENT,
			      "path prefix %s must be an absolute path without '.', '..' or '//'",
			      prefix);
		return -EINVAL;
	}
	v = realloc(cfg->path_prefixes, (cfg->n_path_prefixes + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	cfg->path_prefixes = v;
	v[cfg->n_path_prefixes] = strdup(prefix);
	if (!v[cfg->n_path_prefixes])
		return -ENOMEM;
	/* "/x/" and "/x" mean the same */
	if (n > 1 && v[cfg->n_path_prefixes][n - 1] == '/')
		v[cfg->n_path_prefixes][n - 1] = 0;
	cfg->n_path_prefixes++;
	return 0;
}

static void kv_free(dv_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void dv_config_free(dv_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->driver_name);
	free(cfg->node_id);
	free(cfg->state_dir);
	kv_free(cfg->topology, cfg->n_topology);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		free(cfg->pools[i].name);
		free(cfg->pools[i].backend);
		free(cfg->pools[i].root);
		kv_free(cfg->pools[i].options, cfg->pools[i].n_options);
	}
	free(cfg->pools);
	for (size_t i = 0; i < cfg->n_path_prefixes; i++)
		free(cfg->path_prefixes[i]);
	free(cfg->path_prefixes);
	free(cfg);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* CSI spec, GetPluginInfo: domain-name notation, at most 63 characters,
 * alphanumeric at both ends, dashes, dots and alphanumerics between. */
const char *dv_validate_driver_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return "must not be empty";
	if (n > 63)
		return "must be 63 characters or less";
	if (!is_alnum(name[0]) || !is_alnum(name[n - 1]))
		return "must begin and end with an alphanumeric character";
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '.')
			return "may contain only alphanumerics, '-' and '.'";
	return NULL;
}

/* Pool names appear in volume IDs and paths: a DNS label, lower case. */
const char *dv_validate_pool_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 63)
		return "must be 1 to 63 characters";
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return "may contain only a-z, 0-9 and '-'";
	}
	if (name[0] == '-' || name[n - 1] == '-')
		return "must begin and end with a letter or digit";
	return NULL;
}
