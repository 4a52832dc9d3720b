/*
 * Unit tests: server-side printing (table.h). Each kind's Table is built
 * from realistic objects and checked column by column and cell by cell
 * against what kube-apiserver prints (pkg/printers/internalversion), plus
 * HumanDuration's edges, CRD columns with JSONPaths, and the row object
 * that each ?includeObject= mode carries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "table.h"
#include "testutil.h"

/* The "now" every age is measured from: 2026-01-01T00:00:00Z. */
static time_t now_ts(void)
{
	struct tm tm = { .tm_year = 126, .tm_mon = 0, .tm_mday = 1 };

	return timegm(&tm);
}

/* An RFC 3339 time `seconds` before now; a few rotating buffers so one
 * call of jf() can use several. */
static const char *ago(long long seconds)
{
	static char bufs[8][32];
	static int next;
	char *b = bufs[next++ % 8];
	time_t t = now_ts() - (time_t)seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(b, sizeof(bufs[0]), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return b;
}

/* JSON from a printf template written with ' for " (the test data has no
 * apostrophes), so objects read like YAML-ish literals. */
static json_t *jf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *jf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	json_error_t err;
	json_t *v;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	v = json_loads(s, JSON_DECODE_ANY, &err);
	if (!v)
		fprintf(stderr, "bad test JSON at %d: %s\n%s\n", err.position, err.text, s);
	free(s);
	assert_non_null(v);
	return v;
}

/* Builds a Table of the given items and checks its shape: kind, version,
 * one cell per column in every row. */
static json_t *build(const char *group, const char *kind, const json_t *crd_columns,
		     json_t *items, dv_table_include include)
{
	json_t *t = dv_table_build(group, kind, crd_columns, items, NULL, include, now_ts());
	size_t i, ncols;
	json_t *row;

	assert_non_null(t);
	assert_string_equal(json_string_value(json_object_get(t, "kind")), "Table");
	assert_string_equal(json_string_value(json_object_get(t, "apiVersion")), "meta.k8s.io/v1");
	assert_true(json_is_object(json_object_get(t, "metadata")));
	ncols = json_array_size(json_object_get(t, "columnDefinitions"));
	assert_true(ncols > 0);
	assert_int_equal(json_array_size(json_object_get(t, "rows")), json_array_size(items));
	json_array_foreach(json_object_get(t, "rows"), i, row)
		assert_int_equal(json_array_size(json_object_get(row, "cells")), ncols);
	json_decref(items);
	return t;
}

/* Column names, then "|" and the names of the priority-1 (wide) ones. */
static void assert_columns(const json_t *t, const char *expect)
{
	char got[1024] = "", wide[512] = "";
	size_t i;
	const json_t *c;

	json_array_foreach(json_object_get(t, "columnDefinitions"), i, c) {
		char *dst = json_integer_value(json_object_get(c, "priority")) ? wide : got;
		size_t cap = dst == wide ? sizeof(wide) : sizeof(got);

		snprintf(dst + strlen(dst), cap - strlen(dst), "%s%s", *dst ? "," : "",
			 json_string_value(json_object_get(c, "name")));
		/* every definition carries all five fields */
		assert_true(json_is_string(json_object_get(c, "type")));
		assert_true(json_is_string(json_object_get(c, "format")));
		assert_true(json_is_string(json_object_get(c, "description")));
	}
	if (*wide)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "|%s", wide);
	assert_string_equal(got, expect);
}

static const json_t *row_of(const json_t *t, size_t i)
{
	return json_array_get(json_object_get(t, "rows"), i);
}

/* The cells of row i equal the JSON array `expect` (' for "). */
static void assert_cells(const json_t *t, size_t i, const char *expect)
{
	json_t *want = jf("%s", expect);
	const json_t *got = json_object_get(row_of(t, i), "cells");

	if (!json_equal(want, got)) {
		char *a = json_dumps(want, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);

		fprintf(stderr, "row %zu\n  want %s\n  got  %s\n", i, a, b);
		free(a);
		free(b);
		fail();
	}
	json_decref(want);
}

static const char *column_field(const json_t *t, size_t col, const char *field)
{
	return json_string_value(
		json_object_get(json_array_get(json_object_get(t, "columnDefinitions"), col), field));
}

/* ---- HumanDuration ---- */

static void expect_duration(int64_t s, const char *want)
{
	char out[32];

	dv_table_human_duration(s, out, sizeof(out));
	if (strcmp(out, want))
		fprintf(stderr, "%lld s: want %s got %s\n", (long long)s, want, out);
	assert_string_equal(out, want);
}

static void test_human_duration(void **state)
{
	const int64_t m = 60, h = 3600, d = 86400;

	expect_duration(-3, "<invalid>");
	expect_duration(-2, "<invalid>");
	expect_duration(-1, "0s");
	expect_duration(0, "0s");
	expect_duration(59, "59s");
	expect_duration(119, "119s");
	expect_duration(120, "2m");
	expect_duration(121, "2m1s");
	expect_duration(10 * m - 1, "9m59s");
	expect_duration(10 * m, "10m");
	expect_duration(10 * m + 59, "10m");
	expect_duration(3 * h - 1, "179m");
	expect_duration(3 * h, "3h");
	expect_duration(3 * h + m, "3h1m");
	expect_duration(8 * h - 1, "7h59m");
	expect_duration(8 * h, "8h");
	expect_duration(48 * h - 1, "47h");
	expect_duration(48 * h, "2d");
	expect_duration(49 * h, "2d1h");
	expect_duration(8 * d - 1, "7d23h");
	expect_duration(8 * d, "8d");
	expect_duration(2 * 365 * d - 1, "729d");
	expect_duration(2 * 365 * d, "2y");
	expect_duration(2 * 365 * d + d, "2y1d");
	expect_duration(8 * 365 * d - 1, "7y364d");
	expect_duration(8 * 365 * d, "8y");
	expect_duration(100 * 365 * d + 5 * d, "100y");
}

static void test_include_parse(void **state)
{
	assert_int_equal(dv_table_include_parse("None"), DV_TABLE_INCLUDE_NONE);
	assert_int_equal(dv_table_include_parse("Metadata"), DV_TABLE_INCLUDE_METADATA);
	assert_int_equal(dv_table_include_parse(""), DV_TABLE_INCLUDE_METADATA);
	assert_int_equal(dv_table_include_parse("Object"), DV_TABLE_INCLUDE_OBJECT);
	assert_int_equal(dv_table_include_parse("object"), -1);
	assert_int_equal(dv_table_include_parse("All"), -1);
	assert_int_equal(dv_table_include_parse(NULL), -1);
}

/* ---- core/v1 ---- */

static void test_namespace(void **state)
{
	json_t *t = build("", "Namespace", NULL,
			  jf("[{'metadata':{'name':'default','creationTimestamp':'%s'},"
			     "'status':{'phase':'Active'}},"
			     "{'metadata':{'name':'old','creationTimestamp':'%s',"
			     "'deletionTimestamp':'%s'},'status':{'phase':'Terminating'}},"
			     "{'metadata':{'name':'fresh'}}]",
			     ago(300), ago(40 * 86400), ago(5)),
			  DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Status,Age");
	assert_string_equal(column_field(t, 0, "format"), "name");
	assert_string_equal(column_field(t, 0, "type"), "string");
	assert_cells(t, 0, "['default','Active','5m']");
	assert_cells(t, 1, "['old','Terminating','40d']");
	assert_cells(t, 2, "['fresh','','<unknown>']");
	json_decref(t);
}

static void test_persistent_volume_claim(void **state)
{
	json_t *t = build(
		"", "PersistentVolumeClaim", NULL,
		jf("[{'metadata':{'name':'data','namespace':'default','creationTimestamp':'%s'},"
		   "'spec':{'accessModes':['ReadWriteOnce'],'resources':{'requests':{'storage':'1Gi'}},"
		   "'storageClassName':'dynvol','volumeName':'pvc-123','volumeMode':'Filesystem'},"
		   "'status':{'phase':'Bound','accessModes':['ReadWriteMany','ReadWriteOnce',"
		   "'ReadWriteOnce','ReadWriteOncePod','ReadOnlyMany'],"
		   "'capacity':{'storage':'1024Mi'}}},"
		   /* pending: no volume, so no capacity or access modes yet */
		   "{'metadata':{'name':'wait','creationTimestamp':'%s'},"
		   "'spec':{'accessModes':['ReadWriteOnce'],'resources':{'requests':{'storage':'1Gi'}},"
		   "'storageClassName':'dynvol','volumeAttributesClassName':'gold'},"
		   "'status':{'phase':'Pending'}},"
		   /* being deleted; the beta annotation wins over spec.storageClassName */
		   "{'metadata':{'name':'gone','creationTimestamp':'%s','deletionTimestamp':'%s',"
		   "'annotations':{'volume.beta.kubernetes.io/storage-class':'legacy'}},"
		   "'spec':{'storageClassName':'dynvol','volumeName':'pvc-9','volumeMode':'Block'},"
		   "'status':{'phase':'Bound','accessModes':['ReadOnlyMany'],"
		   "'capacity':{'storage':'1500M'}}}]",
		   ago(125), ago(7200), ago(3 * 86400 + 3600), ago(1)),
		DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Status,Volume,Capacity,Access Modes,StorageClass,"
			  "VolumeAttributesClass,Age|VolumeMode");
	assert_cells(t, 0, "['data','Bound','pvc-123','1Gi','RWO,ROX,RWX,RWOP','dynvol','<unset>',"
			   "'2m5s','Filesystem']");
	assert_cells(t, 1, "['wait','Pending','','','','dynvol','gold','120m','<unset>']");
	assert_cells(t, 2, "['gone','Terminating','pvc-9','1500M','ROX','legacy','<unset>','3d1h',"
			   "'Block']");
	json_decref(t);
}

/* PV capacity cells, to check Quantity canonicalization. */
static void expect_capacity(const char *quantity_json, const char *want)
{
	json_t *t = build("", "PersistentVolume", NULL,
			  jf("[{'metadata':{'name':'pv'},'spec':{'capacity':{'storage':%s}}}]",
			     quantity_json),
			  DV_TABLE_INCLUDE_NONE);
	const json_t *cell = json_array_get(json_object_get(row_of(t, 0), "cells"), 1);

	if (strcmp(json_string_value(cell), want))
		fprintf(stderr, "%s: want %s got %s\n", quantity_json, want, json_string_value(cell));
	assert_string_equal(json_string_value(cell), want);
	json_decref(t);
}

static void test_quantity(void **state)
{
	expect_capacity("'1Gi'", "1Gi");
	expect_capacity("'1024Mi'", "1Gi");
	expect_capacity("'1536Mi'", "1536Mi");
	expect_capacity("'0.5Gi'", "512Mi");
	expect_capacity("'1048576Ki'", "1Gi");
	expect_capacity("'1000M'", "1G");
	expect_capacity("'1500M'", "1500M");
	expect_capacity("'2000'", "2k");
	expect_capacity("'512'", "512");
	expect_capacity("'1.5'", "1500m");
	expect_capacity("'0'", "0");
	expect_capacity("1073741824", "1073741824");
	expect_capacity("5000000000", "5G");
	/* forms left as written */
	expect_capacity("'1e3'", "1e3");
	expect_capacity("'12.3456789Ki'", "12.3456789Ki");
	expect_capacity("null", "0");
}

static void test_persistent_volume(void **state)
{
	json_t *t = build(
		"", "PersistentVolume", NULL,
		jf("[{'metadata':{'name':'pvc-123','creationTimestamp':'%s'},"
		   "'spec':{'capacity':{'storage':'5Gi'},'accessModes':['ReadWriteOnce'],"
		   "'persistentVolumeReclaimPolicy':'Delete','storageClassName':'dynvol',"
		   "'claimRef':{'kind':'PersistentVolumeClaim','namespace':'default','name':'data'},"
		   "'volumeMode':'Filesystem','volumeAttributesClassName':'gold',"
		   "'csi':{'driver':'dynvol.csi.example.com','volumeHandle':'v1'}},"
		   "'status':{'phase':'Bound'}},"
		   "{'metadata':{'name':'static','creationTimestamp':'%s','deletionTimestamp':'%s',"
		   "'annotations':{'volume.beta.kubernetes.io/storage-class':'legacy'}},"
		   "'spec':{'capacity':{'storage':'10Gi'},'accessModes':['ReadWriteMany','ReadOnlyMany'],"
		   "'persistentVolumeReclaimPolicy':'Retain','storageClassName':'dynvol'},"
		   "'status':{'phase':'Failed','reason':'VolumeFailedDelete'}}]",
		   ago(600), ago(30 * 86400), ago(2)),
		DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Capacity,Access Modes,Reclaim Policy,Status,Claim,StorageClass,"
			  "VolumeAttributesClass,Reason,Age|VolumeMode");
	assert_cells(t, 0, "['pvc-123','5Gi','RWO','Delete','Bound','default/data','dynvol','gold',"
			   "'','10m','Filesystem']");
	assert_cells(t, 1, "['static','10Gi','ROX,RWX','Retain','Terminating','','legacy',"
			   "'<unset>','VolumeFailedDelete','30d','<unset>']");
	json_decref(t);
}

/* One pod's cells (ready, status, restarts) and wide cells. */
static json_t *pod_table(const char *pod_json)
{
	json_t *items = json_array();

	json_array_append_new(items, jf("%s", pod_json));
	return build("", "Pod", NULL, items, DV_TABLE_INCLUDE_NONE);
}

static void expect_pod(const char *pod_json, const char *cells)
{
	json_t *t = pod_table(pod_json);

	assert_cells(t, 0, cells);
	json_decref(t);
}

static void test_pod_columns(void **state)
{
	json_t *t = pod_table("{'metadata':{'name':'p'}}");

	assert_columns(t, "Name,Ready,Status,Restarts,Age|IP,Node,Nominated Node,Readiness Gates");
	/* an empty pod still prints */
	assert_cells(t, 0, "['p','0/0','','0','<unknown>','<none>','<none>','<none>','<none>']");
	json_decref(t);
}

static void test_pod_running(void **state)
{
	char pod[2048];

	/* two ready containers; one restarted, its last exit ten minutes ago */
	snprintf(pod, sizeof(pod),
		 "{'metadata':{'name':'web','namespace':'default','creationTimestamp':'%s'},"
		 "'spec':{'nodeName':'node1','containers':[{'name':'a'},{'name':'b'}]},"
		 "'status':{'phase':'Running','podIP':'10.0.0.9','podIPs':[{'ip':'10.0.0.7'}],"
		 "'conditions':[{'type':'Ready','status':'True'}],"
		 "'containerStatuses':["
		 "{'name':'a','ready':true,'restartCount':1,'state':{'running':{'startedAt':'%s'}},"
		 "'lastState':{'terminated':{'exitCode':1,'finishedAt':'%s'}}},"
		 "{'name':'b','ready':true,'restartCount':0,'state':{'running':{}}}]}}",
		 ago(3 * 3600), ago(600), ago(600));
	expect_pod(pod, "['web','2/2','Running','1 (10m ago)','3h','10.0.0.7','node1','<none>',"
			"'<none>']");

	/* podIP alone, readiness gates, nominated node */
	snprintf(pod, sizeof(pod),
		 "{'metadata':{'name':'gated','creationTimestamp':'%s'},"
		 "'spec':{'containers':[{'name':'a'}],"
		 "'readinessGates':[{'conditionType':'example.com/lb'},{'conditionType':'example.com/x'}]},"
		 "'status':{'phase':'Running','podIP':'10.0.0.9','nominatedNodeName':'node2',"
		 "'conditions':[{'type':'example.com/lb','status':'True'},"
		 "{'type':'example.com/x','status':'False'}],"
		 "'containerStatuses':[{'name':'a','ready':false,'restartCount':0,"
		 "'state':{'running':{}}}]}}",
		 ago(30));
	expect_pod(pod, "['gated','0/1','Running','0','30s','10.0.0.9','<none>','node2','1/2']");
}

static void test_pod_waiting_and_terminated(void **state)
{
	expect_pod("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Pending','containerStatuses':[{'name':'a','ready':false,"
		   "'restartCount':0,'state':{'waiting':{'reason':'ContainerCreating'}}}]}}",
		   "['p','0/1','ContainerCreating','0','<unknown>','<none>','<none>','<none>','<none>']");
	/* a restart without a recorded exit time shows the bare count */
	expect_pod("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Running','containerStatuses':[{'name':'a','ready':false,"
		   "'restartCount':4,'state':{'waiting':{'reason':'CrashLoopBackOff'}}}]}}",
		   "['p','0/1','CrashLoopBackOff','4','<unknown>','<none>','<none>','<none>','<none>']");
	expect_pod("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Failed','containerStatuses':[{'name':'a',"
		   "'state':{'terminated':{'exitCode':137,'signal':9}}}]}}",
		   "['p','0/1','Signal:9','0','<unknown>','<none>','<none>','<none>','<none>']");
	expect_pod("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Failed','containerStatuses':[{'name':'a',"
		   "'state':{'terminated':{'exitCode':2}}}]}}",
		   "['p','0/1','ExitCode:2','0','<unknown>','<none>','<none>','<none>','<none>']");
	/* status.reason overrides the phase (an evicted pod) */
	expect_pod("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Failed','reason':'Evicted'}}",
		   "['p','0/1','Evicted','0','<unknown>','<none>','<none>','<none>','<none>']");
	/* scheduling gates */
	expect_pod("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Pending','conditions':[{'type':'PodScheduled',"
		   "'status':'False','reason':'SchedulingGated'}]}}",
		   "['p','0/1','SchedulingGated','0','<unknown>','<none>','<none>','<none>','<none>']");
}

static void test_pod_completed(void **state)
{
	json_t *t = pod_table("{'metadata':{'name':'job'},'spec':{'containers':[{'name':'a'}]},"
			      "'status':{'phase':'Succeeded','containerStatuses':[{'name':'a',"
			      "'state':{'terminated':{'exitCode':0,'reason':'Completed'}}}]}}");
	json_t *want = jf("[{'type':'Completed','status':'True','reason':'Succeeded',"
			  "'message':'The pod has completed successfully.'}]");

	assert_cells(t, 0, "['job','0/1','Completed','0','<unknown>','<none>','<none>','<none>','<none>']");
	assert_true(json_equal(json_object_get(row_of(t, 0), "conditions"), want));
	json_decref(want);
	json_decref(t);

	/* one container completed while another still runs: back to Running, or
	 * NotReady without the Ready condition */
	expect_pod("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'},{'name':'b'}]},"
		   "'status':{'phase':'Running','conditions':[{'type':'Ready','status':'True'}],"
		   "'containerStatuses':[{'name':'a','ready':false,"
		   "'state':{'terminated':{'exitCode':0,'reason':'Completed'}}},"
		   "{'name':'b','ready':true,'state':{'running':{}}}]}}",
		   "['p','1/2','Running','0','<unknown>','<none>','<none>','<none>','<none>']");
	expect_pod("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a'},{'name':'b'}]},"
		   "'status':{'phase':'Running','containerStatuses':["
		   "{'name':'a','ready':true,'state':{'running':{}}},"
		   "{'name':'b','ready':false,'state':{'terminated':{'exitCode':0,"
		   "'reason':'Completed'}}}]}}",
		   "['p','1/2','NotReady','0','<unknown>','<none>','<none>','<none>','<none>']");
	/* a running pod has no row condition */
	t = pod_table("{'metadata':{'name':'p'},'status':{'phase':'Running'}}");
	assert_null(json_object_get(row_of(t, 0), "conditions"));
	json_decref(t);
}

static void test_pod_init_containers(void **state)
{
	/* the second of two init containers runs */
	expect_pod("{'metadata':{'name':'p'},'spec':{'initContainers':[{'name':'i1'},{'name':'i2'}],"
		   "'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Pending','initContainerStatuses':["
		   "{'name':'i1','state':{'terminated':{'exitCode':0,'reason':'Completed'}}},"
		   "{'name':'i2','restartCount':2,'state':{'running':{}}}],"
		   "'containerStatuses':[{'name':'a','restartCount':0,"
		   "'state':{'waiting':{'reason':'PodInitializing'}}}]}}",
		   "['p','0/1','Init:1/2','2','<unknown>','<none>','<none>','<none>','<none>']");
	expect_pod("{'metadata':{'name':'p'},'spec':{'initContainers':[{'name':'i1'}],"
		   "'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Pending','initContainerStatuses':["
		   "{'name':'i1','restartCount':3,'state':{'waiting':{'reason':'CrashLoopBackOff'}}}]}}",
		   "['p','0/1','Init:CrashLoopBackOff','3','<unknown>','<none>','<none>','<none>','<none>']");
	expect_pod("{'metadata':{'name':'p'},'spec':{'initContainers':[{'name':'i1'}],"
		   "'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Failed','initContainerStatuses':["
		   "{'name':'i1','state':{'terminated':{'exitCode':3}}}]}}",
		   "['p','0/1','Init:ExitCode:3','0','<unknown>','<none>','<none>','<none>','<none>']");
	expect_pod("{'metadata':{'name':'p'},'spec':{'initContainers':[{'name':'i1'}],"
		   "'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Failed','initContainerStatuses':["
		   "{'name':'i1','state':{'terminated':{'exitCode':1,'reason':'Error'}}}]}}",
		   "['p','0/1','Init:Error','0','<unknown>','<none>','<none>','<none>','<none>']");
	expect_pod("{'metadata':{'name':'p'},'spec':{'initContainers':[{'name':'i1'}],"
		   "'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Pending','initContainerStatuses':["
		   "{'name':'i1','state':{'waiting':{'reason':'PodInitializing'}}}]}}",
		   "['p','0/1','Init:0/1','0','<unknown>','<none>','<none>','<none>','<none>']");
	/* a started sidecar counts as a container, and only its restarts show
	 * once the pod runs (the completed init container's do not) */
	expect_pod("{'metadata':{'name':'p'},'spec':{'initContainers':[{'name':'setup'},"
		   "{'name':'side','restartPolicy':'Always'}],'containers':[{'name':'a'}]},"
		   "'status':{'phase':'Running','conditions':[{'type':'Initialized','status':'True'}],"
		   "'initContainerStatuses':["
		   "{'name':'setup','restartCount':5,'state':{'terminated':{'exitCode':0}}},"
		   "{'name':'side','restartCount':1,'started':true,'ready':true,'state':{'running':{}}}],"
		   "'containerStatuses':[{'name':'a','ready':true,'restartCount':0,"
		   "'state':{'running':{}}}]}}",
		   "['p','2/2','Running','1','<unknown>','<none>','<none>','<none>','<none>']");
}

static void test_pod_deleted(void **state)
{
	char pod[512];

	snprintf(pod, sizeof(pod),
		 "{'metadata':{'name':'p','deletionTimestamp':'%s'},'spec':{'containers':[{'name':'a'}]},"
		 "'status':{'phase':'Running'}}",
		 ago(1));
	expect_pod(pod, "['p','0/1','Terminating','0','<unknown>','<none>','<none>','<none>','<none>']");
	snprintf(pod, sizeof(pod),
		 "{'metadata':{'name':'p','deletionTimestamp':'%s'},'spec':{'containers':[{'name':'a'}]},"
		 "'status':{'phase':'Running','reason':'NodeLost'}}",
		 ago(1));
	expect_pod(pod, "['p','0/1','Unknown','0','<unknown>','<none>','<none>','<none>','<none>']");
	/* a finished pod keeps its phase while it is deleted */
	snprintf(pod, sizeof(pod),
		 "{'metadata':{'name':'p','deletionTimestamp':'%s'},'spec':{'containers':[{'name':'a'}]},"
		 "'status':{'phase':'Succeeded'}}",
		 ago(1));
	expect_pod(pod, "['p','0/1','Succeeded','0','<unknown>','<none>','<none>','<none>','<none>']");
}

static void test_node(void **state)
{
	json_t *t = build(
		"", "Node", NULL,
		jf("[{'metadata':{'name':'node1','creationTimestamp':'%s','labels':{"
		   "'node-role.kubernetes.io/control-plane':'','kubernetes.io/role':'worker',"
		   "'node-role.kubernetes.io/worker':'','node-role.kubernetes.io/':'x',"
		   "'kubernetes.io/hostname':'node1'}},"
		   "'spec':{'unschedulable':true},"
		   "'status':{'conditions':[{'type':'MemoryPressure','status':'False'},"
		   "{'type':'Ready','status':'True'}],"
		   "'addresses':[{'type':'Hostname','address':'node1'},"
		   "{'type':'InternalIP','address':'192.168.1.10'}],"
		   "'nodeInfo':{'kubeletVersion':'v1.32.4','osImage':'Debian GNU/Linux 12 (bookworm)',"
		   "'kernelVersion':'6.1.0-18-amd64','containerRuntimeVersion':'containerd://1.7.0'}}},"
		   "{'metadata':{'name':'node2','creationTimestamp':'%s'},"
		   "'status':{'conditions':[{'type':'Ready','status':'Unknown'}],"
		   "'addresses':[{'type':'ExternalIP','address':'203.0.113.5'}]}},"
		   "{'metadata':{'name':'node3'}}]",
		   ago(10 * 86400), ago(90)),
		DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Status,Roles,Age,Version|Internal-IP,External-IP,OS-Image,"
			  "Kernel-Version,Container-Runtime");
	assert_cells(t, 0, "['node1','Ready,SchedulingDisabled','control-plane,worker','10d','v1.32.4',"
			   "'192.168.1.10','<none>','Debian GNU/Linux 12 (bookworm)','6.1.0-18-amd64',"
			   "'containerd://1.7.0']");
	assert_cells(t, 1, "['node2','NotReady','<none>','90s','','<none>','203.0.113.5',"
			   "'<unknown>','<unknown>','<unknown>']");
	assert_cells(t, 2, "['node3','Unknown','<none>','<unknown>','','<none>','<none>',"
			   "'<unknown>','<unknown>','<unknown>']");
	json_decref(t);
}

static void test_secret_configmap(void **state)
{
	json_t *t = build("", "Secret", NULL,
			  jf("[{'metadata':{'name':'creds','creationTimestamp':'%s'},'type':'Opaque',"
			     "'data':{'user':'YQ==','pass':'Yg=='}},"
			     "{'metadata':{'name':'tls','creationTimestamp':'%s'},"
			     "'type':'kubernetes.io/tls'}]",
			     ago(45), ago(86400)),
			  DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Type,Data,Age");
	assert_cells(t, 0, "['creds','Opaque',2,'45s']");
	assert_cells(t, 1, "['tls','kubernetes.io/tls',0,'24h']");
	json_decref(t);

	t = build("", "ConfigMap", NULL,
		  jf("[{'metadata':{'name':'cfg','creationTimestamp':'%s'},'data':{'a':'1'},"
		     "'binaryData':{'b':'AA=='}}]",
		     ago(3600 * 5 + 60 * 7)),
		  DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,Data,Age");
	assert_cells(t, 0, "['cfg',2,'5h7m']");
	json_decref(t);
}

static void test_event_core(void **state)
{
	json_t *t = build(
		"", "Event", NULL,
		jf("[{'metadata':{'name':'data.17f2','namespace':'default'},"
		   "'involvedObject':{'kind':'PersistentVolumeClaim','name':'data','namespace':'default'},"
		   "'reason':'ProvisioningSucceeded','message':'  Successfully provisioned volume pvc-1\\n',"
		   "'source':{'component':'dynvol','host':'node1'},'firstTimestamp':'%s',"
		   "'lastTimestamp':'%s','count':3,'type':'Normal'},"
		   /* no legacy timestamps or count: eventTime and the reporter */
		   "{'metadata':{'name':'p.1'},'involvedObject':{'kind':'Pod','name':'p',"
		   "'fieldPath':'spec.containers{a}'},'reason':'Pulled','message':'ok',"
		   "'eventTime':'%s','reportingComponent':'kubelet','reportingInstance':'node2',"
		   "'type':'Normal'},"
		   /* a series: its last observation and count */
		   "{'metadata':{'name':'n.1'},'involvedObject':{'kind':'Node'},'reason':'R',"
		   "'message':'m','source':{'component':'c'},'eventTime':'2025-12-31T23:00:00.123456Z',"
		   "'series':{'count':7,'lastObservedTime':'%s'},'type':'Warning'}]",
		   ago(3600), ago(120), ago(50), ago(15)),
		DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Last Seen,Type,Reason,Object,Message|Subobject,Source,First Seen,Count,Name");
	assert_cells(t, 0, "['2m','Normal','ProvisioningSucceeded','persistentvolumeclaim/data','',"
			   "'dynvol, node1','Successfully provisioned volume pvc-1','60m',3,'data.17f2']");
	assert_cells(t, 1, "['50s','Normal','Pulled','pod/p','spec.containers{a}','kubelet, node2',"
			   "'ok','50s',1,'p.1']");
	/* 3599.877 s before now truncates to 3599 s */
	assert_cells(t, 2, "['15s','Warning','R','node','','c','m','59m',7,'n.1']");
	/* Name is a wide column here, and still the name format */
	assert_string_equal(column_field(t, 9, "format"), "name");
	json_decref(t);
}

static void test_event_events_k8s_io(void **state)
{
	json_t *t = build(
		"events.k8s.io", "Event", NULL,
		jf("[{'apiVersion':'events.k8s.io/v1','kind':'Event',"
		   "'metadata':{'name':'data.1','namespace':'default'},"
		   "'regarding':{'kind':'PersistentVolumeClaim','name':'data'},"
		   "'note':'waiting for a volume to be created','reason':'ExternalProvisioning',"
		   "'eventTime':'%s','reportingController':'dynvol-controller',"
		   "'reportingInstance':'dynvol-controller-node1','action':'Provisioning','type':'Normal'},"
		   "{'metadata':{'name':'old.1'},'regarding':{'kind':'Pod','name':'p'},"
		   "'note':'n','reason':'R','deprecatedFirstTimestamp':'%s',"
		   "'deprecatedLastTimestamp':'%s','deprecatedCount':4,"
		   "'deprecatedSource':{'component':'kubelet'},'type':'Warning'}]",
		   ago(20), ago(2 * 86400), ago(600)),
		DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Last Seen,Type,Reason,Object,Message|Subobject,Source,First Seen,Count,Name");
	assert_cells(t, 0, "['20s','Normal','ExternalProvisioning','persistentvolumeclaim/data','',"
			   "'dynvol-controller, dynvol-controller-node1',"
			   "'waiting for a volume to be created','20s',1,'data.1']");
	assert_cells(t, 1, "['10m','Warning','R','pod/p','','kubelet','n','2d',4,'old.1']");
	json_decref(t);
}

/* ---- storage.k8s.io, coordination.k8s.io ---- */

static void test_storage_class(void **state)
{
	json_t *t = build(
		"storage.k8s.io", "StorageClass", NULL,
		jf("[{'metadata':{'name':'dynvol','creationTimestamp':'%s','annotations':"
		   "{'storageclass.kubernetes.io/is-default-class':'true'}},"
		   "'provisioner':'dynvol.csi.example.com','volumeBindingMode':'WaitForFirstConsumer',"
		   "'allowVolumeExpansion':true},"
		   "{'metadata':{'name':'beta','annotations':"
		   "{'storageclass.beta.kubernetes.io/is-default-class':'true'}},"
		   "'provisioner':'p','reclaimPolicy':'Retain'},"
		   "{'metadata':{'name':'plain','annotations':"
		   "{'storageclass.kubernetes.io/is-default-class':'false'}},'provisioner':'p'}]",
		   ago(7 * 86400 + 5 * 3600)),
		DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Provisioner,ReclaimPolicy,VolumeBindingMode,AllowVolumeExpansion,Age");
	assert_cells(t, 0, "['dynvol (default)','dynvol.csi.example.com','Delete',"
			   "'WaitForFirstConsumer',true,'7d5h']");
	assert_cells(t, 1, "['beta (default)','p','Retain','Immediate',false,'<unknown>']");
	assert_cells(t, 2, "['plain','p','Delete','Immediate',false,'<unknown>']");
	json_decref(t);
}

static void test_csi_kinds(void **state)
{
	json_t *t = build("storage.k8s.io", "CSIDriver", NULL,
			  jf("[{'metadata':{'name':'dynvol.csi.example.com','creationTimestamp':'%s'},"
			     "'spec':{'attachRequired':false,'storageCapacity':true,"
			     "'volumeLifecycleModes':['Persistent','Ephemeral']}},"
			     "{'metadata':{'name':'d2'},'spec':{'podInfoOnMount':true,"
			     "'requiresRepublish':true,'tokenRequests':[{'audience':'a'},"
			     "{'audience':'b','expirationSeconds':3600}]}}]",
			     ago(100)),
			  DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,AttachRequired,PodInfoOnMount,StorageCapacity,TokenRequests,"
			  "RequiresRepublish,Modes,Age");
	assert_cells(t, 0, "['dynvol.csi.example.com',false,false,true,'<unset>',false,"
			   "'Persistent,Ephemeral','100s']");
	assert_cells(t, 1, "['d2',true,true,false,'a,b',true,'<none>','<unknown>']");
	json_decref(t);

	t = build("storage.k8s.io", "CSINode", NULL,
		  jf("[{'metadata':{'name':'node1','creationTimestamp':'%s'},"
		     "'spec':{'drivers':[{'name':'dynvol.csi.example.com','nodeID':'node1'}]}}]",
		     ago(200)),
		  DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,Drivers,Age");
	assert_cells(t, 0, "['node1',1,'3m20s']");
	json_decref(t);

	t = build("storage.k8s.io", "VolumeAttachment", NULL,
		  jf("[{'metadata':{'name':'csi-abc','creationTimestamp':'%s'},"
		     "'spec':{'attacher':'dynvol.csi.example.com','nodeName':'node1',"
		     "'source':{'persistentVolumeName':'pvc-1'}},'status':{'attached':true}},"
		     "{'metadata':{'name':'csi-def'},'spec':{'attacher':'a','nodeName':'n',"
		     "'source':{'inlineVolumeSpec':{}}}}]",
		     ago(61)),
		  DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,Attacher,PV,Node,Attached,Age");
	assert_cells(t, 0, "['csi-abc','dynvol.csi.example.com','pvc-1','node1',true,'61s']");
	assert_cells(t, 1, "['csi-def','a','','n',false,'<unknown>']");
	json_decref(t);

	t = build("storage.k8s.io", "CSIStorageCapacity", NULL,
		  jf("[{'metadata':{'name':'csisc-1','namespace':'kube-system'},"
		     "'storageClassName':'dynvol','capacity':'102400Mi'},"
		     "{'metadata':{'name':'csisc-2'},'storageClassName':'dynvol'}]"),
		  DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,StorageClassName,Capacity");
	assert_cells(t, 0, "['csisc-1','dynvol','100Gi']");
	assert_cells(t, 1, "['csisc-2','dynvol','<unset>']");
	json_decref(t);

	t = build("storage.k8s.io", "VolumeAttributesClass", NULL,
		  jf("[{'metadata':{'name':'gold','creationTimestamp':'%s','annotations':"
		     "{'volumeattributesclass.alpha.kubernetes.io/is-default-class':'true'}},"
		     "'driverName':'dynvol.csi.example.com','parameters':{'iops':'1000'}},"
		     "{'metadata':{'name':'silver'},'driverName':'d'}]",
		     ago(5)),
		  DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,DriverName,Age");
	assert_cells(t, 0, "['gold (default)','dynvol.csi.example.com','5s']");
	assert_cells(t, 1, "['silver','d','<unknown>']");
	json_decref(t);
}

static void test_lease(void **state)
{
	json_t *t = build("coordination.k8s.io", "Lease", NULL,
			  jf("[{'metadata':{'name':'dynvol-controller','namespace':'kube-system',"
			     "'creationTimestamp':'%s'},'spec':{'holderIdentity':'node1_abc',"
			     "'leaseDurationSeconds':15}},{'metadata':{'name':'free'},'spec':{}}]",
			     ago(3 * 3600 + 59)),
			  DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Holder,Age");
	assert_cells(t, 0, "['dynvol-controller','node1_abc','3h']");
	assert_cells(t, 1, "['free','','<unknown>']");
	json_decref(t);
}

/* ---- default convertor, CRDs, custom resources ---- */

static void test_default_convertor(void **state)
{
	json_t *t = build("apiextensions.k8s.io", "CustomResourceDefinition", NULL,
			  jf("[{'metadata':{'name':'widgets.example.com',"
			     "'creationTimestamp':'2025-06-01T12:34:56+02:00'}},"
			     "{'metadata':{'name':'nodate'}}]"),
			  DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Created At");
	assert_string_equal(column_field(t, 1, "type"), "date");
	assert_string_equal(column_field(t, 0, "format"), "name");
	assert_cells(t, 0, "['widgets.example.com','2025-06-01T10:34:56Z']");
	assert_cells(t, 1, "['nodate','0001-01-01T00:00:00Z']");
	json_decref(t);

	/* an unknown kind prints the same way */
	t = build("example.com", "Gadget", NULL,
		  jf("[{'metadata':{'name':'g','creationTimestamp':'2024-02-29T23:59:59.5Z'}}]"),
		  DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,Created At");
	assert_cells(t, 0, "['g','2024-02-29T23:59:59Z']");
	json_decref(t);
}

static void test_snapshots(void **state)
{
	json_t *t = build(
		"snapshot.storage.k8s.io", "VolumeSnapshot", NULL,
		jf("[{'metadata':{'name':'snap1','namespace':'default','creationTimestamp':'%s'},"
		   "'spec':{'source':{'persistentVolumeClaimName':'data'},"
		   "'volumeSnapshotClassName':'dynvol'},"
		   "'status':{'readyToUse':true,'restoreSize':'1Gi','creationTime':'%s',"
		   "'boundVolumeSnapshotContentName':'snapcontent-1'}},"
		   "{'metadata':{'name':'snap2'},'spec':{'source':"
		   "{'volumeSnapshotContentName':'pre'}}}]",
		   ago(400), ago(390)),
		DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,ReadyToUse,SourcePVC,SourceSnapshotContent,RestoreSize,SnapshotClass,"
			  "SnapshotContent,CreationTime,Age");
	assert_string_equal(column_field(t, 1, "type"), "boolean");
	assert_string_equal(column_field(t, 7, "type"), "date");
	assert_cells(t, 0, "['snap1',true,'data',null,'1Gi','dynvol','snapcontent-1','6m30s','6m40s']");
	/* missing values are null cells, Age included (no creationTimestamp) */
	assert_cells(t, 1, "['snap2',null,null,'pre',null,null,null,null,null]");
	json_decref(t);

	t = build("snapshot.storage.k8s.io", "VolumeSnapshotContent", NULL,
		  jf("[{'metadata':{'name':'snapcontent-1','creationTimestamp':'%s'},"
		     "'spec':{'deletionPolicy':'Delete','driver':'dynvol.csi.example.com',"
		     "'source':{'volumeHandle':'v1'},'volumeSnapshotClassName':'dynvol',"
		     "'volumeSnapshotRef':{'name':'snap1','namespace':'default'}},"
		     "'status':{'readyToUse':false,'restoreSize':1073741824,"
		     "'creationTime':1767225600000000000}}]",
		     ago(9)),
		  DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,ReadyToUse,RestoreSize,DeletionPolicy,Driver,VolumeSnapshotClass,"
			  "VolumeSnapshot,VolumeSnapshotNamespace,Age");
	assert_cells(t, 0, "['snapcontent-1',false,1073741824,'Delete','dynvol.csi.example.com',"
			   "'dynvol','snap1','default','9s']");
	json_decref(t);

	t = build("snapshot.storage.k8s.io", "VolumeSnapshotClass", NULL,
		  jf("[{'metadata':{'name':'dynvol','creationTimestamp':'%s'},"
		     "'driver':'dynvol.csi.example.com','deletionPolicy':'Retain'}]",
		     ago(86400 * 3)),
		  DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,Driver,DeletionPolicy,Age");
	/* Driver has no description: the JSONPath one is made up */
	assert_string_equal(column_field(t, 1, "description"),
			    "Custom resource definition column (in JSONPath format): .driver");
	assert_cells(t, 0, "['dynvol','dynvol.csi.example.com','Retain','3d']");
	json_decref(t);
}

static void test_crd_columns(void **state)
{
	json_t *cols = jf(
		"[{'name':'Replicas','type':'integer','jsonPath':'.spec.replicas'},"
		"{'name':'Ready','type':'string','jsonPath':'.status.conditions[?(@.type==\\'Ready\\')].status',"
		"'description':'Readiness'},"
		"{'name':'First','type':'string','jsonPath':'.spec.items[0].name','priority':1},"
		"{'name':'Last','type':'string','jsonPath':'.spec.items[-1].name'},"
		"{'name':'Ratio','type':'number','format':'float','jsonPath':'.spec.ratio'},"
		"{'name':'Enabled','type':'boolean','jsonPath':'.spec.enabled'},"
		"{'name':'Labels','type':'string','jsonPath':'.spec.labels'},"
		"{'name':'Owner','type':'string','jsonPath':'.metadata.annotations[\\'example.com/owner\\']'},"
		"{'name':'Dotted','type':'string','jsonPath':'.metadata.labels.app\\\\.kubernetes\\\\.io/name'},"
		"{'name':'Count','type':'string','jsonPath':'.spec.replicas'},"
		"{'name':'Weight','type':'string','jsonPath':'.spec.ratio'},"
		"{'name':'Flag','type':'string','jsonPath':'.spec.enabled'},"
		"{'name':'Missing','type':'string','jsonPath':'.spec.nothing.here'},"
		"{'name':'Mismatch','type':'boolean','jsonPath':'.spec.items[0].name'},"
		"{'name':'Trunc','type':'integer','jsonPath':'.spec.ratio'},"
		"{'name':'Any','type':'string','jsonPath':'.spec.items[*].name'},"
		"{'name':'Cond','type':'string','jsonPath':'.status.conditions[?(@.reason)].reason'},"
		"{'name':'Not','type':'string','jsonPath':'.status.conditions[?(@.status != \\'True\\')].type'},"
		"{'name':'Num','type':'string','jsonPath':'.spec.items[?(@.n==2)].name'},"
		"{'name':'Synced','type':'date','jsonPath':'.status.lastSync'},"
		"{'name':'Bad','type':'date','jsonPath':'.status.badTime'},"
		"{'name':'Empty','type':'date','jsonPath':'.status.emptyTime'},"
		"{'name':'Age','type':'date','jsonPath':'.metadata.creationTimestamp'}]");
	json_t *t = build(
		"example.com", "Widget", cols,
		jf("[{'apiVersion':'example.com/v1','kind':'Widget',"
		   "'metadata':{'name':'w1','namespace':'default','creationTimestamp':'%s',"
		   "'annotations':{'example.com/owner':'team-a'},"
		   "'labels':{'app.kubernetes.io/name':'widget'}},"
		   "'spec':{'replicas':3,'ratio':2.5,'enabled':true,'labels':{'z':'1','a':'2'},"
		   "'items':[{'name':'first','n':1},{'name':'second','n':2},{'name':'third'}]},"
		   "'status':{'conditions':[{'type':'Synced','status':'True'},"
		   "{'type':'Ready','status':'False','reason':'Waiting'}],"
		   "'lastSync':'%s','badTime':'yesterday','emptyTime':''}}]",
		   ago(7200), ago(42)),
		DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Replicas,Ready,Last,Ratio,Enabled,Labels,Owner,Dotted,Count,Weight,"
			  "Flag,Missing,Mismatch,Trunc,Any,Cond,Not,Num,Synced,Bad,Empty,Age|First");
	assert_string_equal(column_field(t, 2, "description"), "Readiness");
	assert_string_equal(column_field(t, 1, "description"),
			    "Custom resource definition column (in JSONPath format): .spec.replicas");
	assert_string_equal(column_field(t, 5, "format"), "float");
	assert_cells(t, 0, "['w1',3,'False','first','third',2.5,true,'{\\'a\\':\\'2\\',\\'z\\':\\'1\\'}',"
			   "'team-a','widget','3','2.5','true',null,null,2,'first','Waiting','Ready',"
			   "'second','42s','<invalid>','<unknown>','120m']");
	json_decref(t);
	json_decref(cols);
}

static void test_crd_columns_edge(void **state)
{
	/* a CRD version without columns shows Name and Age */
	json_t *cols = jf("[]");
	json_t *t = build("example.com", "Widget", cols,
			  jf("[{'metadata':{'name':'w1','creationTimestamp':'%s'}}]", ago(3)),
			  DV_TABLE_INCLUDE_NONE);

	assert_columns(t, "Name,Age");
	assert_string_equal(column_field(t, 1, "type"), "date");
	assert_cells(t, 0, "['w1','3s']");
	json_decref(t);
	json_decref(cols);

	/* a column upstream cannot parse ends the list there */
	cols = jf("[{'name':'A','type':'string','jsonPath':'.spec.a'},"
		  "{'name':'B','type':'string','jsonPath':'..b'},"
		  "{'name':'C','type':'string','jsonPath':'.spec.c'}]");
	t = build("example.com", "Widget", cols,
		  jf("[{'metadata':{'name':'w1'},'spec':{'a':'x','c':'y'}}]"), DV_TABLE_INCLUDE_NONE);
	assert_columns(t, "Name,A");
	assert_cells(t, 0, "['w1','x']");
	json_decref(t);
	json_decref(cols);

	/* floats print as Go's %%v does */
	cols = jf("[{'name':'F','type':'string','jsonPath':'.f'}]");
	t = build("example.com", "Widget", cols,
		  jf("[{'metadata':{'name':'a'},'f':1000000.0},{'metadata':{'name':'b'},'f':123456.5},"
		     "{'metadata':{'name':'c'},'f':0.00001},{'metadata':{'name':'d'},'f':0.1},"
		     "{'metadata':{'name':'e'},'f':-2.0}]"),
		  DV_TABLE_INCLUDE_NONE);
	assert_cells(t, 0, "['a','1e+06']");
	assert_cells(t, 1, "['b','123456.5']");
	assert_cells(t, 2, "['c','1e-05']");
	assert_cells(t, 3, "['d','0.1']");
	assert_cells(t, 4, "['e','-2']");
	json_decref(t);
	json_decref(cols);
}

/* ---- rows' objects and the Table's metadata ---- */

static void test_include_modes(void **state)
{
	json_t *obj = jf("{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'cfg',"
			 "'namespace':'default','uid':'u-1','resourceVersion':'7',"
			 "'labels':{'a':'b'}},'data':{'k':'v'}}");
	json_t *items = json_array(), *list_meta = jf("{'resourceVersion':'42','continue':'tok',"
						      "'remainingItemCount':5,'selfLink':'/x'}");
	json_t *t, *want;
	const json_t *o;

	json_array_append(items, obj);
	t = dv_table_build("", "ConfigMap", NULL, items, list_meta, DV_TABLE_INCLUDE_METADATA,
			   now_ts());
	assert_non_null(t);
	want = jf("{'resourceVersion':'42','continue':'tok','remainingItemCount':5}");
	assert_true(json_equal(json_object_get(t, "metadata"), want));
	json_decref(want);
	o = json_object_get(row_of(t, 0), "object");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "PartialObjectMetadata");
	assert_string_equal(json_string_value(json_object_get(o, "apiVersion")), "meta.k8s.io/v1");
	assert_true(json_equal(json_object_get(o, "metadata"), json_object_get(obj, "metadata")));
	assert_null(json_object_get(o, "data"));
	json_decref(t);

	t = dv_table_build("", "ConfigMap", NULL, items, NULL, DV_TABLE_INCLUDE_OBJECT, now_ts());
	assert_non_null(t);
	assert_true(json_equal(json_object_get(row_of(t, 0), "object"), obj));
	assert_int_equal(json_object_size(json_object_get(t, "metadata")), 0);
	json_decref(t);

	t = dv_table_build("", "ConfigMap", NULL, items, NULL, DV_TABLE_INCLUDE_NONE, now_ts());
	assert_non_null(t);
	assert_null(json_object_get(row_of(t, 0), "object"));
	assert_non_null(json_object_get(row_of(t, 0), "cells"));
	json_decref(t);

	/* a single GET passes the object's metadata: only resourceVersion is
	 * kept, and an empty continue is left out */
	json_decref(list_meta);
	list_meta = jf("{'name':'cfg','resourceVersion':'7','continue':''}");
	t = dv_table_build("", "ConfigMap", NULL, items, list_meta, DV_TABLE_INCLUDE_NONE, now_ts());
	want = jf("{'resourceVersion':'7'}");
	assert_true(json_equal(json_object_get(t, "metadata"), want));
	json_decref(want);
	json_decref(t);

	/* no items: no rows, still the columns */
	json_array_clear(items);
	t = dv_table_build("", "ConfigMap", NULL, items, NULL, DV_TABLE_INCLUDE_METADATA, now_ts());
	assert_non_null(t);
	assert_true(json_is_array(json_object_get(t, "rows")));
	assert_int_equal(json_array_size(json_object_get(t, "rows")), 0);
	assert_int_equal(json_array_size(json_object_get(t, "columnDefinitions")), 3);
	json_decref(t);

	json_decref(list_meta);
	json_decref(items);
	json_decref(obj);
}

/* ---- allocation failures ---- */

static long alloc_budget = -1; /* allocations left before one fails; -1: no limit */
static long alloc_failed;

static void *budget_malloc(size_t n)
{
	if (alloc_budget == 0) {
		alloc_failed++;
		return NULL;
	}
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(n);
}

/* Each of jansson's allocations in dv_table_build fails in turn: the build
 * returns NULL, or a whole Table, and frees what it took either way (the
 * ASan build's leak check sees the rest). */
static void expect_survives_failures(const char *group, const char *kind, const json_t *cols,
				     const json_t *items)
{
	json_t *ref = dv_table_build(group, kind, cols, items, NULL, DV_TABLE_INCLUDE_METADATA,
				     now_ts());
	long n;

	assert_non_null(ref);
	for (n = 0;; n++) {
		json_t *t;

		alloc_failed = 0;
		alloc_budget = n;
		json_set_alloc_funcs(budget_malloc, free);
		t = dv_table_build(group, kind, cols, items, NULL, DV_TABLE_INCLUDE_METADATA, now_ts());
		json_set_alloc_funcs(malloc, free);
		alloc_budget = -1;
		if (!alloc_failed) {
			assert_non_null(t);
			assert_true(json_equal(t, ref));
			json_decref(t);
			break;
		}
		if (t)
			fprintf(stderr, "%s: allocation %ld failed, yet a Table came back\n", kind, n);
		assert_null(t);
	}
	assert_true(n > 10);
	json_decref(ref);
}

static void test_allocation_failures(void **state)
{
	json_t *pods = jf("[{'metadata':{'name':'web','creationTimestamp':'%s','labels':{'a':'b'}},"
			  "'spec':{'nodeName':'n','initContainers':[{'name':'i'}],"
			  "'containers':[{'name':'a'}]},'status':{'phase':'Succeeded',"
			  "'initContainerStatuses':[{'name':'i','state':{'terminated':{'exitCode':0}}}],"
			  "'containerStatuses':[{'name':'a','restartCount':2,'lastState':"
			  "{'terminated':{'finishedAt':'%s'}},'state':{'terminated':"
			  "{'exitCode':0,'reason':'Completed'}}}]}}]",
			  ago(100), ago(50));
	json_t *nodes = jf("[{'metadata':{'name':'n','labels':{'node-role.kubernetes.io/a':'',"
			   "'node-role.kubernetes.io/b':''}},'status':{'conditions':"
			   "[{'type':'Ready','status':'True'}]}}]");
	json_t *events = jf("[{'metadata':{'name':'e'},'involvedObject':{'kind':'Pod','name':'p'},"
			    "'message':' m ','source':{'component':'c','host':'h'}}]");
	json_t *cols = jf("[{'name':'R','type':'string','jsonPath':'.c[?(@.t==\\'x\\')].s'},"
			  "{'name':'L','type':'string','jsonPath':'.l'},"
			  "{'name':'D','type':'date','jsonPath':'.metadata.creationTimestamp'}]");
	json_t *crs = jf("[{'metadata':{'name':'w'},'c':[{'t':'x','s':'ok'}],'l':{'k':[1,2]}}]");
	json_t *pvs = jf("[{'metadata':{'name':'pv'},'spec':{'capacity':{'storage':'1024Mi'},"
			 "'claimRef':{'namespace':'ns','name':'c'}}}]");

	expect_survives_failures("", "Pod", NULL, pods);
	expect_survives_failures("", "Node", NULL, nodes);
	expect_survives_failures("", "Event", NULL, events);
	expect_survives_failures("", "PersistentVolume", NULL, pvs);
	expect_survives_failures("example.com", "Widget", cols, crs);
	expect_survives_failures("snapshot.storage.k8s.io", "VolumeSnapshot", NULL, crs);
	json_decref(pods);
	json_decref(nodes);
	json_decref(events);
	json_decref(cols);
	json_decref(crs);
	json_decref(pvs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_human_duration),
		cmocka_unit_test(test_include_parse),
		cmocka_unit_test(test_namespace),
		cmocka_unit_test(test_persistent_volume_claim),
		cmocka_unit_test(test_quantity),
		cmocka_unit_test(test_persistent_volume),
		cmocka_unit_test(test_pod_columns),
		cmocka_unit_test(test_pod_running),
		cmocka_unit_test(test_pod_waiting_and_terminated),
		cmocka_unit_test(test_pod_completed),
		cmocka_unit_test(test_pod_init_containers),
		cmocka_unit_test(test_pod_deleted),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_secret_configmap),
		cmocka_unit_test(test_event_core),
		cmocka_unit_test(test_event_events_k8s_io),
		cmocka_unit_test(test_storage_class),
		cmocka_unit_test(test_csi_kinds),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_default_convertor),
		cmocka_unit_test(test_snapshots),
		cmocka_unit_test(test_crd_columns),
		cmocka_unit_test(test_crd_columns_edge),
		cmocka_unit_test(test_include_modes),
		cmocka_unit_test(test_allocation_failures),
	};
	int fds = testutil_count_open_fds();
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	return failed + testutil_fd_leak(fds);
}
