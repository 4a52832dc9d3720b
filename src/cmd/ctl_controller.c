/*
 * ctl_controller.c - dynvolctl controller ...: the CSI Controller RPCs.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "ctl.h"
#include "strutil.h"

#define MAX_PARAMS 32

typedef Csi__V1__CreateVolumeRequest__ParametersEntry param_entry;

/* Options shared by the subcommands. */
typedef struct {
	uint64_t size, limit;
	bool block, readonly, all;
	const char *fs_type;
	const char *mode;
	const char *from_snapshot, *from_volume, *source;
	long max_entries;
	const char *token;
	param_entry params[MAX_PARAMS];
	param_entry *paramp[MAX_PARAMS];
	size_t n_params;
	char *param_storage[MAX_PARAMS];
} ctl_opts;

static const struct {
	const char *name;
	int mode;
} access_modes[] = {
	{ "single-node-writer", CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER },
	{ "single-node-reader-only", CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY },
	{ "multi-node-reader-only", CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY },
	{ "multi-node-single-writer", CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_SINGLE_WRITER },
	{ "multi-node-multi-writer", CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER },
	{ "single-node-single-writer", CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER },
	{ "single-node-multi-writer", CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER },
};

static void usage(FILE *f)
{
	fputs("Usage: dynvolctl controller <command> [options] [args]\n"
	      "\n"
	      "  create NAME [--size 1Gi] [--limit N] [--block] [--fs ext4|xfs|btrfs]\n"
	      "              [--mode single-node-writer] [--param k=v]...\n"
	      "              [--from-snapshot ID | --from-volume ID]\n"
	      "  delete VOLUME_ID\n"
	      "  get VOLUME_ID\n"
	      "  list [--max N] [--token T] [--all]\n"
	      "  publish VOLUME_ID NODE_ID [--readonly] [--block] [--fs T]\n"
	      "  unpublish VOLUME_ID [NODE_ID]\n"
	      "  expand VOLUME_ID SIZE\n"
	      "  validate VOLUME_ID [--block] [--fs T] [--mode M]\n"
	      "  snapshot NAME SOURCE_VOLUME_ID\n"
	      "  delete-snapshot SNAPSHOT_ID\n"
	      "  snapshots [--source VOLUME_ID] [--max N] [--token T] [--all]\n"
	      "  capacity [--param k=v]... [--block] [--fs T]\n"
	      "  caps\n"
	      "\n"
	      "Sizes take suffixes: 512Mi, 10Gi, 1G.\n",
	      f);
}

static void opts_free(ctl_opts *o)
{
	for (size_t i = 0; i < o->n_params; i++)
		free(o->param_storage[i]);
}

/* Parses the options; returns the index of the first positional argument
 * or -1 on a usage error. */
static int parse_opts(int argc, char **argv, ctl_opts *o)
{
	enum { O_SIZE = 256, O_LIMIT, O_BLOCK, O_FS, O_MODE, O_PARAM, O_FROM_SNAP, O_FROM_VOL,
	       O_MAX, O_TOKEN, O_ALL, O_READONLY, O_SOURCE };
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, O_SIZE },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "block", no_argument, NULL, O_BLOCK },
		{ "fs", required_argument, NULL, O_FS },
		{ "mode", required_argument, NULL, O_MODE },
		{ "param", required_argument, NULL, O_PARAM },
		{ "from-snapshot", required_argument, NULL, O_FROM_SNAP },
		{ "from-volume", required_argument, NULL, O_FROM_VOL },
		{ "max", required_argument, NULL, O_MAX },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "all", no_argument, NULL, O_ALL },
		{ "readonly", no_argument, NULL, O_READONLY },
		{ "source", required_argument, NULL, O_SOURCE },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->mode = "single-node-writer";
	optind = 0; /* 0 re-initialises glibc getopt after the main scan */
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_SIZE:
		case O_LIMIT:
			if (dv_parse_size(optarg, c == O_SIZE ? &o->size : &o->limit) < 0) {
				fprintf(stderr, "dynvolctl: '%s' is not a size (e.g. 10Gi)\n", optarg);
				return -1;
			}
			break;
		case O_BLOCK: o->block = true; break;
		case O_FS: o->fs_type = optarg; break;
		case O_MODE: o->mode = optarg; break;
		case O_FROM_SNAP: o->from_snapshot = optarg; break;
		case O_FROM_VOL: o->from_volume = optarg; break;
		case O_TOKEN: o->token = optarg; break;
		case O_ALL: o->all = true; break;
		case O_READONLY: o->readonly = true; break;
		case O_SOURCE: o->source = optarg; break;
		case O_MAX:
			o->max_entries = strtol(optarg, NULL, 10);
			if (o->max_entries < 0) {
				fprintf(stderr, "dynvolctl: --max must be >= 0\n");
				return -1;
			}
			break;
		case O_PARAM: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || o->n_params == MAX_PARAMS) {
				fprintf(stderr, "dynvolctl: --param wants key=value (at most %d)\n", MAX_PARAMS);
				return -1;
			}
			char *copy = strdup(optarg);
			if (!copy)
				return -1;
			copy[eq - optarg] = 0;
			param_entry *pe = &o->params[o->n_params];
			csi__v1__create_volume_request__parameters_entry__init(pe);
			pe->key = copy;
			pe->value = copy + (eq - optarg) + 1;
			o->paramp[o->n_params] = pe;
			o->param_storage[o->n_params++] = copy;
			break;
		}
		default:
			return -1;
		}
	}
	return optind;
}

/* One capability from the options. Storage lives in the caller. */
typedef struct {
	Csi__V1__VolumeCapability cap;
	Csi__V1__VolumeCapability__AccessMode am;
	Csi__V1__VolumeCapability__MountVolume mount;
	Csi__V1__VolumeCapability__BlockVolume block;
	Csi__V1__VolumeCapability *capp[1];
} cap_buf;

static int build_cap(const ctl_opts *o, cap_buf *b)
{
	int mode = -1;

	for (size_t i = 0; i < sizeof(access_modes) / sizeof(access_modes[0]); i++)
		if (!strcmp(o->mode, access_modes[i].name))
			mode = access_modes[i].mode;
	if (mode < 0) {
		fprintf(stderr, "dynvolctl: unknown access mode '%s'\n", o->mode);
		return -1;
	}
	csi__v1__volume_capability__init(&b->cap);
	csi__v1__volume_capability__access_mode__init(&b->am);
	b->am.mode = mode;
	b->cap.access_mode = &b->am;
	if (o->block) {
		csi__v1__volume_capability__block_volume__init(&b->block);
		b->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
		b->cap.block = &b->block;
	} else {
		csi__v1__volume_capability__mount_volume__init(&b->mount);
		b->mount.fs_type = (char *)(o->fs_type ? o->fs_type : "");
		b->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
		b->cap.mount = &b->mount;
	}
	b->capp[0] = &b->cap;
	return 0;
}

static void print_volume(const Csi__V1__Volume *v)
{
	printf("%s\t%" PRId64 "\t", v->volume_id, v->capacity_bytes);
	for (size_t i = 0; i < v->n_volume_context; i++)
		printf("%s%s=%s", i ? "," : "", v->volume_context[i]->key, v->volume_context[i]->value);
	putchar('\n');
}

static int cmd_create(ctl_ctx *ctx, const ctl_opts *o, int argc, char **argv, int pos)
{
	Csi__V1__CreateVolumeRequest req = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
	Csi__V1__CapacityRange range = CSI__V1__CAPACITY_RANGE__INIT;
	Csi__V1__VolumeContentSource src = CSI__V1__VOLUME_CONTENT_SOURCE__INIT;
	Csi__V1__VolumeContentSource__SnapshotSource ss = CSI__V1__VOLUME_CONTENT_SOURCE__SNAPSHOT_SOURCE__INIT;
	Csi__V1__VolumeContentSource__VolumeSource vs = CSI__V1__VOLUME_CONTENT_SOURCE__VOLUME_SOURCE__INIT;
	Csi__V1__CreateVolumeResponse *resp = NULL;
	cap_buf cb;
	int code;

	if (pos >= argc || build_cap(o, &cb) < 0)
		return EXIT_USAGE;
	req.name = argv[pos];
	range.required_bytes = (int64_t)o->size;
	range.limit_bytes = (int64_t)o->limit;
	req.capacity_range = &range;
	req.n_volume_capabilities = 1;
	req.volume_capabilities = cb.capp;
	req.n_parameters = o->n_params;
	req.parameters = (param_entry **)o->paramp;
	if (o->from_snapshot) {
		ss.snapshot_id = (char *)o->from_snapshot;
		src.type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT;
		src.snapshot = &ss;
		req.volume_content_source = &src;
	} else if (o->from_volume) {
		vs.volume_id = (char *)o->from_volume;
		src.type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME;
		src.volume = &vs;
		req.volume_content_source = &src;
	}
	code = ctl_call(ctx, "/csi.v1.Controller/CreateVolume", &req.base,
			&csi__v1__create_volume_response__descriptor, (ProtobufCMessage **)&resp);
	if (code)
		return code;
	if (ctx->json)
		ctl_print_json(&resp->base);
	else
		print_volume(resp->volume);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

/* Calls a method whose request holds only an ID in field `id`. */
static int simple_call(ctl_ctx *ctx, const char *path, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *resp_desc, const char *ok_text)
{
	ProtobufCMessage *resp = NULL;
	int code = ctl_call(ctx, path, req, resp_desc, &resp);

	if (code)
		return code;
	if (ctx->json)
		ctl_print_json(resp);
	else if (ok_text)
		puts(ok_text);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

/*
 * After a page of a List* call: where the user pages by hand (plain output,
 * no --all) says where the next page starts. Returns a copy of the token
 * for the next page (the caller frees it), or NULL after the last page.
 */
static char *next_page(const ctl_ctx *ctx, const ctl_opts *o, const char *next_token)
{
	if (!next_token || !*next_token)
		return NULL;
	if (!ctx->json && !o->all)
		printf("next_token: %s\n", next_token);
	return strdup(next_token);
}

/* Fetches and prints the page that starts at token; *ret_next is set from
 * next_page() on success. Returns 0 or the call's exit code. */
typedef int (*list_page_fn)(ctl_ctx *ctx, const ctl_opts *o, char *token, char **ret_next);

/* One page from --token (or the start), or with --all every page. */
static int list_pages(ctl_ctx *ctx, const ctl_opts *o, list_page_fn page)
{
	char *token = o->token ? strdup(o->token) : NULL;
	int code;

	do {
		char *next = NULL;

		code = page(ctx, o, token ? token : (char *)"", &next);
		free(token);
		token = next;
	} while (!code && o->all && token);
	free(token);
	return code;
}

static int list_volumes_page(ctl_ctx *ctx, const ctl_opts *o, char *token, char **ret_next)
{
	Csi__V1__ListVolumesRequest req = CSI__V1__LIST_VOLUMES_REQUEST__INIT;
	Csi__V1__ListVolumesResponse *resp = NULL;
	int code;

	req.max_entries = (int32_t)o->max_entries;
	req.starting_token = token;
	code = ctl_call(ctx, "/csi.v1.Controller/ListVolumes", &req.base,
			&csi__v1__list_volumes_response__descriptor, (ProtobufCMessage **)&resp);
	if (code)
		return code;
	if (ctx->json) {
		ctl_print_json(&resp->base);
	} else {
		for (size_t i = 0; i < resp->n_entries; i++) {
			print_volume(resp->entries[i]->volume);
			const Csi__V1__ListVolumesResponse__VolumeStatus *s = resp->entries[i]->status;
			if (s && s->volume_condition && s->volume_condition->abnormal)
				printf("\t! %s\n", s->volume_condition->message);
		}
	}
	*ret_next = next_page(ctx, o, resp->next_token);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

static int list_snapshots_page(ctl_ctx *ctx, const ctl_opts *o, char *token, char **ret_next)
{
	Csi__V1__ListSnapshotsRequest req = CSI__V1__LIST_SNAPSHOTS_REQUEST__INIT;
	Csi__V1__ListSnapshotsResponse *resp = NULL;
	int code;

	req.max_entries = (int32_t)o->max_entries;
	req.starting_token = token;
	req.source_volume_id = (char *)(o->source ? o->source : "");
	code = ctl_call(ctx, "/csi.v1.Controller/ListSnapshots", &req.base,
			&csi__v1__list_snapshots_response__descriptor, (ProtobufCMessage **)&resp);
	if (code)
		return code;
	if (ctx->json) {
		ctl_print_json(&resp->base);
	} else {
		for (size_t i = 0; i < resp->n_entries; i++) {
			const Csi__V1__Snapshot *s = resp->entries[i]->snapshot;
			printf("%s\t%s\t%" PRId64 "\t%s\n", s->snapshot_id, s->source_volume_id,
			       s->size_bytes, s->ready_to_use ? "ready" : "not-ready");
		}
	}
	*ret_next = next_page(ctx, o, resp->next_token);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int ctl_controller(ctl_ctx *ctx, int argc, char **argv)
{
	ctl_opts o;
	int pos, code = EXIT_USAGE;
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	pos = parse_opts(argc - 1, argv + 1, &o);
	if (pos < 0) {
		opts_free(&o);
		usage(stderr);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
#define NEED(n)                                                                          \
	do {                                                                             \
		if (argc - pos < (n)) {                                                  \
			fprintf(stderr, "dynvolctl controller %s: missing arguments\n", cmd); \
			goto out;                                                        \
		}                                                                        \
	} while (0)

	if (!strcmp(cmd, "create")) {
		NEED(1);
		code = cmd_create(ctx, &o, argc, argv, pos);
	} else if (!strcmp(cmd, "delete")) {
		NEED(1);
		Csi__V1__DeleteVolumeRequest req = CSI__V1__DELETE_VOLUME_REQUEST__INIT;
		req.volume_id = argv[pos];
		code = simple_call(ctx, "/csi.v1.Controller/DeleteVolume", &req.base,
				   &csi__v1__delete_volume_response__descriptor, "deleted");
	} else if (!strcmp(cmd, "get")) {
		NEED(1);
		Csi__V1__ControllerGetVolumeRequest req = CSI__V1__CONTROLLER_GET_VOLUME_REQUEST__INIT;
		Csi__V1__ControllerGetVolumeResponse *resp = NULL;
		req.volume_id = argv[pos];
		code = ctl_call(ctx, "/csi.v1.Controller/ControllerGetVolume", &req.base,
				&csi__v1__controller_get_volume_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (!code) {
			if (ctx->json) {
				ctl_print_json(&resp->base);
			} else {
				print_volume(resp->volume);
				if (resp->status) {
					for (size_t i = 0; i < resp->status->n_published_node_ids; i++)
						printf("published: %s\n", resp->status->published_node_ids[i]);
					if (resp->status->volume_condition)
						printf("condition: %s%s\n",
						       resp->status->volume_condition->abnormal ? "ABNORMAL " : "",
						       resp->status->volume_condition->message);
				}
			}
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
	} else if (!strcmp(cmd, "list")) {
		code = list_pages(ctx, &o, list_volumes_page);
	} else if (!strcmp(cmd, "publish")) {
		cap_buf cb;
		NEED(2);
		if (build_cap(&o, &cb) < 0)
			goto out;
		Csi__V1__ControllerPublishVolumeRequest req = CSI__V1__CONTROLLER_PUBLISH_VOLUME_REQUEST__INIT;
		req.volume_id = argv[pos];
		req.node_id = argv[pos + 1];
		req.readonly = o.readonly;
		req.volume_capability = &cb.cap;
		code = simple_call(ctx, "/csi.v1.Controller/ControllerPublishVolume", &req.base,
				   &csi__v1__controller_publish_volume_response__descriptor, "published");
	} else if (!strcmp(cmd, "unpublish")) {
		NEED(1);
		Csi__V1__ControllerUnpublishVolumeRequest req = CSI__V1__CONTROLLER_UNPUBLISH_VOLUME_REQUEST__INIT;
		req.volume_id = argv[pos];
		req.node_id = argc - pos > 1 ? argv[pos + 1] : (char *)"";
		code = simple_call(ctx, "/csi.v1.Controller/ControllerUnpublishVolume", &req.base,
				   &csi__v1__controller_unpublish_volume_response__descriptor,
				   "unpublished");
	} else if (!strcmp(cmd, "expand")) {
		uint64_t size;
		NEED(2);
		if (dv_parse_size(argv[pos + 1], &size) < 0) {
			fprintf(stderr, "dynvolctl: '%s' is not a size\n", argv[pos + 1]);
			goto out;
		}
		Csi__V1__ControllerExpandVolumeRequest req = CSI__V1__CONTROLLER_EXPAND_VOLUME_REQUEST__INIT;
		Csi__V1__CapacityRange range = CSI__V1__CAPACITY_RANGE__INIT;
		Csi__V1__ControllerExpandVolumeResponse *resp = NULL;
		range.required_bytes = (int64_t)size;
		req.volume_id = argv[pos];
		req.capacity_range = &range;
		code = ctl_call(ctx, "/csi.v1.Controller/ControllerExpandVolume", &req.base,
				&csi__v1__controller_expand_volume_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (!code) {
			if (ctx->json)
				ctl_print_json(&resp->base);
			else
				printf("capacity_bytes: %" PRId64 "\nnode_expansion_required: %s\n",
				       resp->capacity_bytes, resp->node_expansion_required ? "true" : "false");
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
	} else if (!strcmp(cmd, "validate")) {
		cap_buf cb;
		NEED(1);
		if (build_cap(&o, &cb) < 0)
			goto out;
		Csi__V1__ValidateVolumeCapabilitiesRequest req = CSI__V1__VALIDATE_VOLUME_CAPABILITIES_REQUEST__INIT;
		Csi__V1__ValidateVolumeCapabilitiesResponse *resp = NULL;
		req.volume_id = argv[pos];
		req.n_volume_capabilities = 1;
		req.volume_capabilities = cb.capp;
		code = ctl_call(ctx, "/csi.v1.Controller/ValidateVolumeCapabilities", &req.base,
				&csi__v1__validate_volume_capabilities_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (!code) {
			if (ctx->json)
				ctl_print_json(&resp->base);
			else
				printf("%s\n", resp->confirmed ? "confirmed"
							       : (resp->message && *resp->message ? resp->message
												   : "not confirmed"));
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
	} else if (!strcmp(cmd, "snapshot")) {
		NEED(2);
		Csi__V1__CreateSnapshotRequest req = CSI__V1__CREATE_SNAPSHOT_REQUEST__INIT;
		Csi__V1__CreateSnapshotResponse *resp = NULL;
		req.name = argv[pos];
		req.source_volume_id = argv[pos + 1];
		code = ctl_call(ctx, "/csi.v1.Controller/CreateSnapshot", &req.base,
				&csi__v1__create_snapshot_response__descriptor, (ProtobufCMessage **)&resp);
		if (!code) {
			if (ctx->json)
				ctl_print_json(&resp->base);
			else
				printf("%s\t%s\t%" PRId64 "\n", resp->snapshot->snapshot_id,
				       resp->snapshot->source_volume_id, resp->snapshot->size_bytes);
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
	} else if (!strcmp(cmd, "delete-snapshot")) {
		NEED(1);
		Csi__V1__DeleteSnapshotRequest req = CSI__V1__DELETE_SNAPSHOT_REQUEST__INIT;
		req.snapshot_id = argv[pos];
		code = simple_call(ctx, "/csi.v1.Controller/DeleteSnapshot", &req.base,
				   &csi__v1__delete_snapshot_response__descriptor, "deleted");
	} else if (!strcmp(cmd, "snapshots")) {
		code = list_pages(ctx, &o, list_snapshots_page);
	} else if (!strcmp(cmd, "capacity")) {
		cap_buf cb;
		if (build_cap(&o, &cb) < 0)
			goto out;
		Csi__V1__GetCapacityRequest req = CSI__V1__GET_CAPACITY_REQUEST__INIT;
		Csi__V1__GetCapacityResponse *resp = NULL;
		req.n_volume_capabilities = 1;
		req.volume_capabilities = cb.capp;
		req.n_parameters = o.n_params;
		req.parameters = (Csi__V1__GetCapacityRequest__ParametersEntry **)o.paramp;
		code = ctl_call(ctx, "/csi.v1.Controller/GetCapacity", &req.base,
				&csi__v1__get_capacity_response__descriptor, (ProtobufCMessage **)&resp);
		if (!code) {
			if (ctx->json) {
				ctl_print_json(&resp->base);
			} else {
				printf("available_capacity: %" PRId64 "\n", resp->available_capacity);
				if (resp->maximum_volume_size)
					printf("maximum_volume_size: %" PRId64 "\n", resp->maximum_volume_size->value);
				if (resp->minimum_volume_size)
					printf("minimum_volume_size: %" PRId64 "\n", resp->minimum_volume_size->value);
			}
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
	} else if (!strcmp(cmd, "caps")) {
		Csi__V1__ControllerGetCapabilitiesRequest req = CSI__V1__CONTROLLER_GET_CAPABILITIES_REQUEST__INIT;
		Csi__V1__ControllerGetCapabilitiesResponse *resp = NULL;
		code = ctl_call(ctx, "/csi.v1.Controller/ControllerGetCapabilities", &req.base,
				&csi__v1__controller_get_capabilities_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (!code) {
			if (ctx->json) {
				ctl_print_json(&resp->base);
			} else {
				for (size_t i = 0; i < resp->n_capabilities; i++) {
					const ProtobufCEnumValue *v = resp->capabilities[i]->rpc
						? protobuf_c_enum_descriptor_get_value(
							  &csi__v1__controller_service_capability__rpc__type__descriptor,
							  (int)resp->capabilities[i]->rpc->type)
						: NULL;
					printf("%s\n", v ? v->name : "UNKNOWN");
				}
			}
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
	} else {
		fprintf(stderr, "dynvolctl controller: unknown command '%s'\n", cmd);
		usage(stderr);
	}
out:
	opts_free(&o);
	return code;
#undef NEED
}
