/*
 * Unit tests: the three PATCH bodies (patch.h) - the RFC 6902 and RFC 7386
 * appendix examples, strategic merge cases from upstream strategicpatch's
 * tests and from patches kubectl sends, the error codes, and a mutation
 * loop over hostile bodies.
 *
 * Cases are written with ' for " to stay readable; q() swaps them back.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "patch.h"
#include "testutil.h"

/* s with every ' turned into ", in a buffer the caller frees. */
static char *q(const char *s)
{
	char *out = strdup(s);

	assert_non_null(out);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static json_t *json_q(const char *s)
{
	char *text = q(s);
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!v)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	free(text);
	return v;
}

typedef struct {
	const char *name;
	dv_patch_type type;
	const char *group, *kind;
	const char *doc, *patch;
	const char *want;        /* NULL: an error is expected */
	dv_patch_result code;
} patch_case;

/* Applies one case and checks the result (order of list items and all)
 * or the error code, and that the input object is left as it was. */
static void run_case(const patch_case *c)
{
	json_t *doc = json_q(c->doc), *before = json_deep_copy(doc), *out = NULL;
	char *patch = q(c->patch);
	char err[256];
	dv_patch_result r;

	r = dv_patch_apply(doc, patch, strlen(patch), c->type, c->group, c->kind, &out, err,
			   sizeof(err));
	if (!json_equal(doc, before))
		fail_msg("%s: the input object was modified", c->name);
	if (c->want) {
		json_t *want = json_q(c->want);

		if (r != DV_PATCH_OK)
			fail_msg("%s: failed with %d: %s", c->name, r, err);
		if (!json_equal(out, want)) {
			char *got = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
			char *exp = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);

			print_error("%s:\n  got  %s\n  want %s\n", c->name, got, exp);
			free(got);
			free(exp);
			fail();
		}
		json_decref(want);
	} else {
		if (r != c->code)
			fail_msg("%s: got %d (%s), want %d", c->name, r, r ? err : "ok", c->code);
		assert_null(out);
		assert_true(err[0] != '\0');
	}
	json_decref(out);
	json_decref(doc);
	json_decref(before);
	free(patch);
}

static void run_cases(const patch_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
}

#define J DV_PATCH_JSON
#define M DV_PATCH_MERGE
#define S DV_PATCH_STRATEGIC
#define BAD DV_PATCH_EBADREQUEST
#define INVALID DV_PATCH_EINVALID

/* RFC 6902 appendix A, in order (A.13's duplicate "op" member: the last
 * one wins, as in Go's decoder, and removing /baz fails). */
static void test_json_patch_rfc_appendix(void **state)
{
	static const patch_case cases[] = {
		{ "A.1", J, "", "", "{'foo':'bar'}",
		  "[{'op':'add','path':'/baz','value':'qux'}]", "{'baz':'qux','foo':'bar'}", DV_PATCH_OK },
		{ "A.2", J, "", "", "{'foo':['bar','baz']}",
		  "[{'op':'add','path':'/foo/1','value':'qux'}]", "{'foo':['bar','qux','baz']}", DV_PATCH_OK },
		{ "A.3", J, "", "", "{'baz':'qux','foo':'bar'}",
		  "[{'op':'remove','path':'/baz'}]", "{'foo':'bar'}", DV_PATCH_OK },
		{ "A.4", J, "", "", "{'foo':['bar','qux','baz']}",
		  "[{'op':'remove','path':'/foo/1'}]", "{'foo':['bar','baz']}", DV_PATCH_OK },
		{ "A.5", J, "", "", "{'baz':'qux','foo':'bar'}",
		  "[{'op':'replace','path':'/baz','value':'boo'}]", "{'baz':'boo','foo':'bar'}", DV_PATCH_OK },
		{ "A.6", J, "", "", "{'foo':{'bar':'baz','waldo':'fred'},'qux':{'corge':'grault'}}",
		  "[{'op':'move','from':'/foo/waldo','path':'/qux/thud'}]",
		  "{'foo':{'bar':'baz'},'qux':{'corge':'grault','thud':'fred'}}", DV_PATCH_OK },
		{ "A.7", J, "", "", "{'foo':['all','grass','cows','eat']}",
		  "[{'op':'move','from':'/foo/1','path':'/foo/3'}]",
		  "{'foo':['all','cows','eat','grass']}", DV_PATCH_OK },
		{ "A.8", J, "", "", "{'baz':'qux','foo':['a',2,'c']}",
		  "[{'op':'test','path':'/baz','value':'qux'},{'op':'test','path':'/foo/1','value':2}]",
		  "{'baz':'qux','foo':['a',2,'c']}", DV_PATCH_OK },
		{ "A.9", J, "", "", "{'baz':'qux'}",
		  "[{'op':'test','path':'/baz','value':'bar'}]", NULL, INVALID },
		{ "A.10", J, "", "", "{'foo':'bar'}",
		  "[{'op':'add','path':'/child','value':{'grandchild':{}}}]",
		  "{'foo':'bar','child':{'grandchild':{}}}", DV_PATCH_OK },
		{ "A.11", J, "", "", "{'foo':'bar'}",
		  "[{'op':'add','path':'/baz','value':'qux','xyz':123}]", "{'foo':'bar','baz':'qux'}", DV_PATCH_OK },
		{ "A.12", J, "", "", "{'foo':'bar'}",
		  "[{'op':'add','path':'/baz/bat','value':'qux'}]", NULL, INVALID },
		{ "A.13", J, "", "", "{'foo':'bar'}",
		  "[{'op':'add','path':'/baz','value':'qux','op':'remove'}]", NULL, INVALID },
		{ "A.14", J, "", "", "{'/':9,'~1':10}",
		  "[{'op':'test','path':'/~01','value':10}]", "{'/':9,'~1':10}", DV_PATCH_OK },
		{ "A.15", J, "", "", "{'/':9,'~1':10}",
		  "[{'op':'test','path':'/~01','value':'10'}]", NULL, INVALID },
		{ "A.16", J, "", "", "{'foo':['bar']}",
		  "[{'op':'add','path':'/foo/-','value':['abc','def']}]",
		  "{'foo':['bar',['abc','def']]}", DV_PATCH_OK },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_json_patch_more(void **state)
{
	static const patch_case cases[] = {
		{ "~1 is /", J, "", "", "{'a/b':1}", "[{'op':'replace','path':'/a~1b','value':2}]",
		  "{'a/b':2}", DV_PATCH_OK },
		{ "empty key", J, "", "", "{'':1}", "[{'op':'remove','path':'/'}]", "{}", DV_PATCH_OK },
		{ "append at size", J, "", "", "{'a':[1,2]}", "[{'op':'add','path':'/a/2','value':3}]",
		  "{'a':[1,2,3]}", DV_PATCH_OK },
		{ "index past size", J, "", "", "{'a':[1,2]}",
		  "[{'op':'add','path':'/a/3','value':3}]", NULL, INVALID },
		{ "leading zero index", J, "", "", "{'a':[1,2]}",
		  "[{'op':'remove','path':'/a/01'}]", NULL, INVALID },
		{ "remove -", J, "", "", "{'a':[1,2]}", "[{'op':'remove','path':'/a/-'}]", NULL, INVALID },
		{ "remove missing", J, "", "", "{'a':1}", "[{'op':'remove','path':'/b'}]", NULL, INVALID },
		/* as kube-apiserver's json-patch library does: a missing member
		 * is added; a missing element or parent stays an error */
		{ "replace missing member", J, "", "", "{'a':1}", "[{'op':'replace','path':'/b','value':1}]",
		  "{'a':1,'b':1}", DV_PATCH_OK },
		{ "replace missing element", J, "", "", "{'a':[1]}",
		  "[{'op':'replace','path':'/a/1','value':1}]", NULL, INVALID },
		{ "replace under missing parent", J, "", "", "{'a':1}",
		  "[{'op':'replace','path':'/b/c','value':1}]", NULL, INVALID },
		{ "replace keeps member order", J, "", "", "{'a':1,'b':2,'c':3}",
		  "[{'op':'replace','path':'/b','value':{'x':null}}]", "{'a':1,'b':{'x':null},'c':3}", DV_PATCH_OK },
		{ "replace array element", J, "", "", "{'a':[1,2,3]}",
		  "[{'op':'replace','path':'/a/1','value':9}]", "{'a':[1,9,3]}", DV_PATCH_OK },
		{ "add replaces a member", J, "", "", "{'a':1}", "[{'op':'add','path':'/a','value':null}]",
		  "{'a':null}", DV_PATCH_OK },
		{ "copy", J, "", "", "{'a':{'b':[1]}}",
		  "[{'op':'copy','from':'/a','path':'/c'},{'op':'add','path':'/c/b/-','value':2}]",
		  "{'a':{'b':[1]},'c':{'b':[1,2]}}", DV_PATCH_OK },
		{ "move into itself", J, "", "", "{'a':{'b':1}}",
		  "[{'op':'move','from':'/a','path':'/a/b/c'}]", NULL, INVALID },
		{ "move to same place", J, "", "", "{'a':1}", "[{'op':'move','from':'/a','path':'/a'}]",
		  "{'a':1}", DV_PATCH_OK },
		{ "move missing", J, "", "", "{'a':1}", "[{'op':'move','from':'/b','path':'/c'}]", NULL,
		  INVALID },
		{ "test numbers by value", J, "", "", "{'a':1}", "[{'op':'test','path':'/a','value':1.0}]",
		  "{'a':1}", DV_PATCH_OK },
		{ "test object member order", J, "", "", "{'a':{'x':1,'y':[true,null]}}",
		  "[{'op':'test','path':'/a','value':{'y':[true,null],'x':1}}]",
		  "{'a':{'x':1,'y':[true,null]}}", DV_PATCH_OK },
		{ "test whole document", J, "", "", "{'a':1}", "[{'op':'test','path':'','value':{'a':1}}]",
		  "{'a':1}", DV_PATCH_OK },
		{ "test missing", J, "", "", "{'a':1}", "[{'op':'test','path':'/b','value':null}]", NULL,
		  INVALID },
		{ "later failure undoes all", J, "", "", "{'a':1}",
		  "[{'op':'add','path':'/b','value':2},{'op':'remove','path':'/zz'}]", NULL, INVALID },
		{ "replace root", J, "", "", "{'a':1}", "[{'op':'replace','path':'','value':{'b':2}}]",
		  "{'b':2}", DV_PATCH_OK },
		{ "root not an object", J, "", "", "{'a':1}", "[{'op':'replace','path':'','value':[1]}]",
		  NULL, INVALID },
		{ "remove root", J, "", "", "{'a':1}", "[{'op':'remove','path':''}]", NULL, INVALID },
		{ "kubectl patch --type json", J, "", "Pod", "{'metadata':{'labels':{'app':'x'}}}",
		  "[{'op':'add','path':'/metadata/labels/tier','value':'db'},"
		  "{'op':'remove','path':'/metadata/labels/app'}]",
		  "{'metadata':{'labels':{'tier':'db'}}}", DV_PATCH_OK },
		{ "empty patch", J, "", "", "{'a':1}", "[]", "{'a':1}", DV_PATCH_OK },
		/* malformed documents: 400 even behind an operation that fails */
		{ "not an array", J, "", "", "{'a':1}", "{'op':'add','path':'/a','value':1}", NULL, BAD },
		{ "not an object", J, "", "", "{'a':1}", "[1]", NULL, BAD },
		{ "unknown op", J, "", "", "{'a':1}", "[{'op':'frob','path':'/a'}]", NULL, BAD },
		{ "op not a string", J, "", "", "{'a':1}", "[{'op':1,'path':'/a'}]", NULL, BAD },
		{ "missing path", J, "", "", "{'a':1}", "[{'op':'remove'}]", NULL, BAD },
		{ "missing value", J, "", "", "{'a':1}", "[{'op':'add','path':'/b'}]", NULL, BAD },
		{ "missing test value", J, "", "", "{'a':1}", "[{'op':'test','path':'/a'}]", NULL, BAD },
		{ "missing from", J, "", "", "{'a':1}", "[{'op':'copy','path':'/b'}]", NULL, BAD },
		{ "pointer without /", J, "", "", "{'a':1}", "[{'op':'remove','path':'a'}]", NULL, BAD },
		{ "bad escape", J, "", "", "{'a':1}", "[{'op':'remove','path':'/a~2'}]", NULL, BAD },
		{ "bad escape at end", J, "", "", "{'a':1}", "[{'op':'remove','path':'/a~'}]", NULL, BAD },
		{ "bad op after failing test", J, "", "", "{'a':1}",
		  "[{'op':'test','path':'/a','value':2},{'op':'nope','path':'/a'}]", NULL, BAD },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Copying the document into itself doubles it each time: the copied bytes
 * are capped (and the depth too), so this fails fast instead of eating
 * memory. */
static void test_json_patch_copy_bomb(void **state)
{
	char body[64 * 64];
	size_t off = 0;
	json_t *doc = json_q("{'a':'0123456789012345678901234567890123456789'}"), *out = NULL;
	char err[200];

	off += (size_t)snprintf(body + off, sizeof(body) - off, "[");
	for (int i = 0; i < 60; i++)
		off += (size_t)snprintf(body + off, sizeof(body) - off,
					"%s{\"op\":\"copy\",\"from\":\"\",\"path\":\"/b%d\"}", i ? "," : "", i);
	off += (size_t)snprintf(body + off, sizeof(body) - off, "]");
	assert_true(off < sizeof(body));
	assert_int_equal(dv_patch_apply(doc, body, off, DV_PATCH_JSON, "", "", &out, err, sizeof(err)),
			 DV_PATCH_EINVALID);
	assert_null(out);
	assert_non_null(strstr(err, "copies"));
	json_decref(doc);
}

static void test_json_patch_too_many_ops(void **state)
{
	size_t n = 10001, cap = n * 40 + 16, off = 0;
	char *body = malloc(cap);
	json_t *doc = json_q("{'a':1}"), *out = NULL;
	char err[200];

	assert_non_null(body);
	body[off++] = '[';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(body + off, cap - off, "%s{\"op\":\"test\",\"path\":\"/a\",\"value\":1}",
					i ? "," : "");
	body[off++] = ']';
	assert_int_equal(dv_patch_apply(doc, body, off, DV_PATCH_JSON, "", "", &out, err, sizeof(err)),
			 DV_PATCH_EBADREQUEST);
	/* 10000 is still fine */
	off = 0;
	body[off++] = '[';
	for (size_t i = 0; i < n - 1; i++)
		off += (size_t)snprintf(body + off, cap - off, "%s{\"op\":\"test\",\"path\":\"/a\",\"value\":1}",
					i ? "," : "");
	body[off++] = ']';
	assert_int_equal(dv_patch_apply(doc, body, off, DV_PATCH_JSON, "", "", &out, err, sizeof(err)),
			 DV_PATCH_OK);
	json_decref(out);
	json_decref(doc);
	free(body);
}

/* RFC 7386 appendix A. A patch that is not an object would replace the
 * whole document with a non-object: for an object (every Kubernetes
 * object) that is refused, 422; for other documents it applies. */
static void test_merge_patch_rfc_appendix(void **state)
{
	static const patch_case cases[] = {
		{ "1", M, "", "", "{'a':'b'}", "{'a':'c'}", "{'a':'c'}", DV_PATCH_OK },
		{ "2", M, "", "", "{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}", DV_PATCH_OK },
		{ "3", M, "", "", "{'a':'b'}", "{'a':null}", "{}", DV_PATCH_OK },
		{ "4", M, "", "", "{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}", DV_PATCH_OK },
		{ "5", M, "", "", "{'a':['b']}", "{'a':'c'}", "{'a':'c'}", DV_PATCH_OK },
		{ "6", M, "", "", "{'a':'c'}", "{'a':['b']}", "{'a':['b']}", DV_PATCH_OK },
		{ "7", M, "", "", "{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}", DV_PATCH_OK },
		{ "8", M, "", "", "{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}", DV_PATCH_OK },
		{ "9", M, "", "", "['a','b']", "['c','d']", "['c','d']", DV_PATCH_OK },
		{ "10", M, "", "", "{'a':'b'}", "['c']", NULL, INVALID },
		{ "11", M, "", "", "{'a':'foo'}", "null", NULL, INVALID },
		{ "12", M, "", "", "{'a':'foo'}", "'bar'", NULL, INVALID },
		{ "13", M, "", "", "{'e':null}", "{'a':1}", "{'e':null,'a':1}", DV_PATCH_OK },
		{ "14", M, "", "", "[1,2]", "{'a':'b','c':null}", "{'a':'b'}", DV_PATCH_OK },
		{ "15", M, "", "", "{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}", DV_PATCH_OK },
		{ "9 on a scalar", M, "", "", "'x'", "'y'", "'y'", DV_PATCH_OK },
		/* kube-apiserver's json-patch library (checked with kubectl
		 * patch --local --type merge): a new value loses nulls inside
		 * lists too; a list replacing a map is kept as it is */
		{ "new list of maps", M, "", "", "{}", "{'k':[{'b':null,'c':1},null,[{'d':null}]]}",
		  "{'k':[{'c':1},null,[{}]]}", DV_PATCH_OK },
		{ "list over a map", M, "", "", "{'k':{'x':1}}", "{'k':[{'b':null}]}",
		  "{'k':[{'b':null}]}", DV_PATCH_OK },
		{ "map over a scalar", M, "", "", "{'k':1}", "{'k':{'a':[{'b':null}],'c':null}}",
		  "{'k':{'a':[{}]}}", DV_PATCH_OK },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* What kubectl label / annotate / edit send for custom resources. */
static void test_merge_patch_kubectl(void **state)
{
	static const patch_case cases[] = {
		{ "label", M, "example.com", "Widget",
		  "{'metadata':{'name':'w','labels':{'a':'1'},'resourceVersion':'5'},'spec':{'x':[1,2]}}",
		  "{'metadata':{'labels':{'b':'2'}}}",
		  "{'metadata':{'name':'w','labels':{'a':'1','b':'2'},'resourceVersion':'5'},'spec':{'x':[1,2]}}", DV_PATCH_OK },
		{ "unlabel, with resourceVersion", M, "", "Pod",
		  "{'metadata':{'labels':{'a':'1','b':'2'},'resourceVersion':'5'}}",
		  "{'metadata':{'labels':{'a':null},'resourceVersion':'5'}}",
		  "{'metadata':{'labels':{'b':'2'},'resourceVersion':'5'}}", DV_PATCH_OK },
		{ "lists are replaced", M, "", "Pod",
		  "{'metadata':{'finalizers':['a','b']}}", "{'metadata':{'finalizers':['c']}}",
		  "{'metadata':{'finalizers':['c']}}", DV_PATCH_OK },
		{ "directives are plain keys", M, "", "Pod", "{'a':{'b':1}}",
		  "{'a':{'$patch':'delete'}}", "{'a':{'b':1,'$patch':'delete'}}", DV_PATCH_OK },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

#define POD "", "Pod"

/* The apply half of upstream's strategicpatch tests, mapped onto Pod
 * fields: mergingList -> spec.containers (merge key name), mergingIntList
 * -> metadata.finalizers (merge, scalars), nonMergingList ->
 * spec.tolerations (no strategy). */
static void test_strategic_upstream(void **state)
{
	static const patch_case cases[] = {
		{ "unique scalars when merging lists", S, POD,
		  "{'metadata':{'finalizers':['1','2']}}", "{'metadata':{'finalizers':['2','3']}}",
		  "{'metadata':{'finalizers':['1','2','3']}}", DV_PATCH_OK },
		{ "delete map from nested map", S, POD, "{'metadata':{'labels':{'k1':'1','k2':'1'}}}",
		  "{'metadata':{'labels':{'$patch':'delete'}}}", "{'metadata':{'labels':{}}}", DV_PATCH_OK },
		{ "delete all items from merging list", S, POD,
		  "{'spec':{'containers':[{'name':'1'},{'name':'2'}]}}",
		  "{'spec':{'containers':[{'$patch':'replace'}]}}", "{'spec':{'containers':[]}}", DV_PATCH_OK },
		{ "merge empty merging lists", S, POD, "{'spec':{'containers':[]}}",
		  "{'spec':{'containers':[]}}", "{'spec':{'containers':[]}}", DV_PATCH_OK },
		{ "delete all keys from map", S, POD, "{'name':1,'value':1}", "{'$patch':'replace'}", "{}", DV_PATCH_OK },
		{ "add key and delete all keys from map", S, POD, "{'name':1,'value':1}",
		  "{'other':'a','$patch':'replace'}", "{'other':'a'}", DV_PATCH_OK },
		{ "delete all duplicate entries in a merging list", S, POD,
		  "{'spec':{'containers':[{'name':'1'},{'name':'1'},{'name':'2','image':'a'},"
		  "{'name':'3'},{'name':'3'}]}}",
		  "{'spec':{'containers':[{'name':'1','$patch':'delete'},{'name':'3','$patch':'delete'}]}}",
		  "{'spec':{'containers':[{'name':'2','image':'a'}]}}", DV_PATCH_OK },
		{ "preserve the order from the patch in a merging list", S, POD,
		  "{'spec':{'containers':[{'name':'1'},{'name':'2','image':'b'},{'name':'3'}]}}",
		  "{'spec':{'containers':[{'name':'3','image':'c'},{'name':'1','image':'a'},"
		  "{'name':'2','tty':true}]}}",
		  "{'spec':{'containers':[{'name':'3','image':'c'},{'name':'1','image':'a'},"
		  "{'name':'2','image':'b','tty':true}]}}", DV_PATCH_OK },
		{ "preserve the order from the patch in a merging list 2", S, POD,
		  "{'spec':{'containers':[{'name':'1'},{'name':'2','image':'b'},{'name':'3'}]}}",
		  "{'spec':{'containers':[{'name':'3','image':'c'},{'name':'1','image':'a'}]}}",
		  "{'spec':{'containers':[{'name':'2','image':'b'},{'name':'3','image':'c'},"
		  "{'name':'1','image':'a'}]}}", DV_PATCH_OK },
		{ "preserve the order from the patch in a merging int list", S, POD,
		  "{'metadata':{'finalizers':['1','2','3']}}", "{'metadata':{'finalizers':['3','1','2']}}",
		  "{'metadata':{'finalizers':['3','1','2']}}", DV_PATCH_OK },
		{ "preserve the order from the patch in a merging int list 2", S, POD,
		  "{'metadata':{'finalizers':['1','2','3']}}", "{'metadata':{'finalizers':['3','1']}}",
		  "{'metadata':{'finalizers':['2','3','1']}}", DV_PATCH_OK },
		{ "$setElementOrder item not present in the list", S, POD,
		  "{'spec':{'containers':[{'name':'1'},{'name':'3'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'3'},{'name':'2'},{'name':'1'}],"
		  "'containers':[{'name':'3','image':'3'},{'name':'1','image':'1'}]}}",
		  "{'spec':{'containers':[{'name':'3','image':'3'},{'name':'1','image':'1'}]}}", DV_PATCH_OK },
		{ "$setElementOrder item not present in the int list", S, POD,
		  "{'metadata':{'finalizers':['1','3']}}",
		  "{'metadata':{'$setElementOrder/finalizers':['3','2','1']}}",
		  "{'metadata':{'finalizers':['3','1']}}", DV_PATCH_OK },
		{ "$deleteFromPrimitiveList of a missing item", S, POD,
		  "{'metadata':{'finalizers':['1','2']}}",
		  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['3']}}",
		  "{'metadata':{'finalizers':['1','2']}}", DV_PATCH_OK },
		{ "$deleteFromPrimitiveList on a missing list", S, POD, "{'metadata':{'name':'p'}}",
		  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['3']}}",
		  "{'metadata':{'name':'p'}}", DV_PATCH_OK },
		{ "$deleteFromPrimitiveList from a merge list", S, POD,
		  "{'metadata':{'finalizers':['1','2','3']}}",
		  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['2']}}",
		  "{'metadata':{'finalizers':['1','3']}}", DV_PATCH_OK },
		{ "$deleteFromPrimitiveList from a list without strategy", S, POD,
		  "{'spec':{'nodeSelectorTerms':['1','2','3']}}",
		  "{'spec':{'$deleteFromPrimitiveList/nodeSelectorTerms':['2']}}",
		  "{'spec':{'nodeSelectorTerms':['1','3']}}", DV_PATCH_OK },
		{ "nested patch merge with empty list (three-way)", S, POD,
		  "{'spec':{'containers':[{'name':'hello2'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'hello'},{'name':'doesntexist'}],"
		  "'containers':[{'name':'hello'},{'$patch':'delete','name':'doesntexist'}]}}",
		  "{'spec':{'containers':[{'name':'hello'},{'name':'hello2'}]}}", DV_PATCH_OK },
		{ "nested patch merge with empty list (two-way)", S, POD, "{'spec':{'hostname':'hi'}}",
		  "{'spec':{'containers':[{'name':'hello'},{'$patch':'delete','name':'doesntexist'}]}}",
		  "{'spec':{'hostname':'hi','containers':[{'name':'hello'}]}}", DV_PATCH_OK },
		{ "delete items in lists of scalars", S, POD,
		  "{'metadata':{'finalizers':['1','2','3','4']}}",
		  "{'metadata':{'$setElementOrder/finalizers':['1','2'],"
		  "'$deleteFromPrimitiveList/finalizers':['3']}}",
		  "{'metadata':{'finalizers':['1','2','4']}}", DV_PATCH_OK },
		{ "delete all duplicate items in lists of scalars", S, POD,
		  "{'metadata':{'finalizers':['1','2','3','3','4']}}",
		  "{'metadata':{'$setElementOrder/finalizers':['1','2'],"
		  "'$deleteFromPrimitiveList/finalizers':['3']}}",
		  "{'metadata':{'finalizers':['1','2','4']}}", DV_PATCH_OK },
		{ "add and delete items in lists of scalars", S, POD,
		  "{'metadata':{'finalizers':['1','2','3','4']}}",
		  "{'metadata':{'$setElementOrder/finalizers':['1','2','4'],"
		  "'$deleteFromPrimitiveList/finalizers':['3'],'finalizers':['4']}}",
		  "{'metadata':{'finalizers':['1','2','4']}}", DV_PATCH_OK },
		{ "merge lists of maps", S, POD,
		  "{'spec':{'containers':[{'name':'1','tty':true},{'name':'2','image':'2','tty':false}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'4'},{'name':'1'},{'name':'2'},"
		  "{'name':'3'}],'containers':[{'name':'4','image':'4'},{'name':'3','image':'3'}]}}",
		  "{'spec':{'containers':[{'name':'4','image':'4'},{'name':'1','tty':true},"
		  "{'name':'2','image':'2','tty':false},{'name':'3','image':'3'}]}}", DV_PATCH_OK },
		{ "merge lists of maps with conflict", S, POD,
		  "{'spec':{'containers':[{'name':'1','tty':true},{'name':'2','image':'3'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':'2'},{'name':'3'}],"
		  "'containers':[{'name':'2','image':'2'},{'name':'3','image':'3'}]}}",
		  "{'spec':{'containers':[{'name':'1','tty':true},{'name':'2','image':'2'},"
		  "{'name':'3','image':'3'}]}}", DV_PATCH_OK },
		{ "add field to map in merging list with conflict", S, POD,
		  "{'spec':{'containers':[{'name':'1','tty':true},{'name':'3','image':'2'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':'2'}],"
		  "'containers':[{'name':'1','image':'1'},{'name':'2','image':'2'}]}}",
		  "{'spec':{'containers':[{'name':'1','tty':true,'image':'1'},{'name':'2','image':'2'},"
		  "{'name':'3','image':'2'}]}}", DV_PATCH_OK },
		{ "delete map from merging list", S, POD,
		  "{'spec':{'containers':[{'name':'1'},{'name':'2','tty':true}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'2'}],"
		  "'containers':[{'name':'1','$patch':'delete'}]}}",
		  "{'spec':{'containers':[{'name':'2','tty':true}]}}", DV_PATCH_OK },
		{ "delete missing map from merging list with conflict", S, POD,
		  "{'spec':{'containers':[{'name':'3','tty':true}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'2'}],"
		  "'containers':[{'name':'2'},{'name':'1','$patch':'delete'}]}}",
		  "{'spec':{'containers':[{'name':'2'},{'name':'3','tty':true}]}}", DV_PATCH_OK },
		/* the two where upstream's in-place slice work decides the order */
		{ "add map and delete map from merging list", S, POD,
		  "{'spec':{'containers':[{'name':'1'},{'name':'2','tty':true},{'name':'4','image':'c'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'2'},{'name':'3'}],"
		  "'containers':[{'name':'3'},{'name':'1','$patch':'delete'}]}}",
		  "{'spec':{'containers':[{'name':'2','tty':true},{'name':'4','image':'c'},{'name':'3'}]}}", DV_PATCH_OK },
		{ "add map and delete map from merging list with conflict", S, POD,
		  "{'spec':{'containers':[{'name':'1','tty':true},{'name':'4','image':'c'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'2'},{'name':'3'}],"
		  "'containers':[{'name':'2'},{'name':'3'},{'name':'1','$patch':'delete'}]}}",
		  "{'spec':{'containers':[{'name':'4','image':'c'},{'name':'2'},{'name':'3'}]}}", DV_PATCH_OK },
		{ "delete field from map in merging list", S, POD,
		  "{'spec':{'containers':[{'name':'1','image':'1','tty':true},{'name':'2','image':'2'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':'2'}],"
		  "'containers':[{'name':'1','image':null}]}}",
		  "{'spec':{'containers':[{'name':'1','tty':true},{'name':'2','image':'2'}]}}", DV_PATCH_OK },
		{ "replace non merging list nested in merging list", S, POD,
		  "{'spec':{'containers':[{'name':'1','tty':true,'envFrom':[{'prefix':'1'},"
		  "{'prefix':'2'}]},{'name':'2'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':'2'}],"
		  "'containers':[{'name':'1','envFrom':[{'prefix':'1','secretRef':{'name':'s'}}]}]}}",
		  "{'spec':{'containers':[{'name':'1','tty':true,'envFrom':[{'prefix':'1',"
		  "'secretRef':{'name':'s'}}]},{'name':'2'}]}}", DV_PATCH_OK },
		{ "replace list of scalars", S, POD, "{'spec':{'tolerations':[1,2]}}",
		  "{'spec':{'tolerations':[2,3]}}", "{'spec':{'tolerations':[2,3]}}", DV_PATCH_OK },
		{ "defined null values should propagate", S, POD, "{'name':'a','other':'a'}",
		  "{'name':'1','value':'1','other':null}", "{'name':'1','value':'1'}", DV_PATCH_OK },
		/* TestUnknownField */
		{ "discard nulls in nested and adds not nulls", S, POD, "{'name':'foo'}",
		  "{'complex_nullable':{'key':{'keynotnull':'value','keynull':null}}}",
		  "{'name':'foo','complex_nullable':{'key':{'keynotnull':'value'}}}", DV_PATCH_OK },
		{ "discard if modified all nulls", S, POD, "{}", "{'complex':{'nested':null}}",
		  "{'complex':{}}", DV_PATCH_OK },
		{ "null values in original are preserved", S, POD, "{'thing':null}",
		  "{'nested':{'value':5}}", "{'thing':null,'nested':{'value':5}}", DV_PATCH_OK },
		{ "filter nulls from nested slices", S, POD, "{}",
		  "{'complex_nullable':[{'inner_one':{'key_one':'foo','key_two':null}}]}",
		  "{'complex_nullable':[{'inner_one':{'key_one':'foo'}}]}", DV_PATCH_OK },
		{ "not filter nulls from non-associative slice", S, POD, "{}",
		  "{'complex_nullable':['key1',null,'key2']}", "{'complex_nullable':['key1',null,'key2']}", DV_PATCH_OK },
		{ "add empty slices", S, POD, "{'array':[1,2,3]}", "{'complex_nullable':[]}",
		  "{'array':[1,2,3],'complex_nullable':[]}", DV_PATCH_OK },
		{ "removed only", S, POD, "{'name':'foo','scalar':true,'complex':{'nested':true},'array':[1]}",
		  "{'complex':null,'scalar':null}", "{'name':'foo','array':[1]}", DV_PATCH_OK },
		/* errors */
		{ "order in $setElementOrder and patch list differ", S, POD,
		  "{'spec':{'containers':[{'name':'1'},{'name':'3'},{'name':'2'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':'2'},{'name':'3'}],"
		  "'containers':[{'name':'3','image':'3'},{'name':'1','image':'1'}]}}", NULL, BAD },
		{ "order in $setElementOrder and int list differ", S, POD,
		  "{'metadata':{'finalizers':['1','3','2']}}",
		  "{'metadata':{'$setElementOrder/finalizers':['1','2','3'],'finalizers':['3','1']}}",
		  NULL, BAD },
		{ "missing merge key", S, POD, "{'spec':{'containers':[{'name':'1','image':'a'}]}}",
		  "{'spec':{'containers':[{'image':'b'}]}}", NULL, BAD },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A live Pod as kube-apiserver stores it, defaults filled in. */
static const char live_pod[] =
	"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','namespace':'default',"
	"'uid':'u1','resourceVersion':'7','labels':{'app':'web'},"
	"'annotations':{'kubectl.kubernetes.io/last-applied-configuration':'old'},"
	"'finalizers':['a.example.com/x','b.example.com/y'],"
	"'ownerReferences':[{'apiVersion':'apps/v1','kind':'ReplicaSet','name':'rs1','uid':'r1'}]},"
	"'spec':{'containers':[{'name':'app','image':'nginx:1','env':[{'name':'A','value':'1'},"
	"{'name':'B','value':'2'}],'ports':[{'containerPort':80,'protocol':'TCP'}],"
	"'volumeMounts':[{'name':'data','mountPath':'/data'}],"
	"'terminationMessagePath':'/dev/termination-log'},"
	"{'name':'sidecar','image':'busybox','terminationMessagePath':'/dev/termination-log'}],"
	"'volumes':[{'name':'data','emptyDir':{}},{'name':'cfg','configMap':{'name':'c'}}],"
	"'tolerations':[{'key':'k1','operator':'Exists'}],'restartPolicy':'Always'},"
	"'status':{'phase':'Running','conditions':[{'type':'Ready','status':'True'},"
	"{'type':'PodScheduled','status':'True'}],'podIPs':[{'ip':'10.0.0.1'}]}}";

/* The value at a dotted path ("spec.containers.1.image"), or NULL. */
static json_t *value_at(json_t *v, const char *dotted)
{
	char *path = strdup(dotted), *save = path;

	assert_non_null(path);
	while (v && path) {
		char *dot = strchr(path, '.');

		if (dot)
			*dot = '\0';
		if (json_is_array(v))
			v = json_array_get(v, strtoul(path, NULL, 10));
		else
			v = json_object_get(v, path);
		path = dot ? dot + 1 : NULL;
	}
	free(save);
	return v;
}

/* Patches live_pod and compares the value at `path` with want (NULL: the
 * path must be gone). */
static void run_pod(const char *name, const char *patch, const char *path, const char *want)
{
	json_t *doc = json_q(live_pod), *out = NULL, *got, *exp = want ? json_q(want) : NULL;
	char *body = q(patch), err[256];
	dv_patch_result r = dv_patch_apply(doc, body, strlen(body), DV_PATCH_STRATEGIC, "", "Pod",
					   &out, err, sizeof(err));

	if (r != DV_PATCH_OK)
		fail_msg("%s: %d %s", name, r, err);
	got = value_at(out, path);
	if (exp ? !json_equal(got, exp) : got != NULL) {
		char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		char *w = exp ? json_dumps(exp, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

		print_error("%s:\n  got  %s\n  want %s\n", name, g ? g : "(none)", w ? w : "(none)");
		free(g);
		free(w);
		fail();
	}
	/* what the patch does not touch stays */
	assert_string_equal(json_string_value(value_at(out, "metadata.uid")), "u1");
	json_decref(exp);
	json_decref(out);
	json_decref(doc);
	free(body);
}

/* Patches as kubectl 1.32 generates them for a built-in kind. */
static void test_strategic_kubectl(void **state)
{
	/* kubectl apply: image bumped, env B dropped and C added, sidecar
	 * removed (a three-way patch) */
	run_pod("apply three-way",
		"{'metadata':{'annotations':{'kubectl.kubernetes.io/last-applied-configuration':'new'}},"
		"'spec':{'$setElementOrder/containers':[{'name':'app'}],"
		"'containers':[{'$setElementOrder/env':[{'name':'A'},{'name':'C'}],"
		"'env':[{'name':'C','value':'3'},{'$patch':'delete','name':'B'}],"
		"'image':'nginx:2','name':'app'},{'$patch':'delete','name':'sidecar'}]}}",
		"spec.containers",
		"[{'name':'app','image':'nginx:2','env':[{'name':'A','value':'1'},{'name':'C','value':'3'}],"
		"'ports':[{'containerPort':80,'protocol':'TCP'}],"
		"'volumeMounts':[{'name':'data','mountPath':'/data'}],"
		"'terminationMessagePath':'/dev/termination-log'}]");
	/* kubectl apply switching a volume from emptyDir to a PVC: the
	 * volumes list has strategy merge,retainKeys */
	run_pod("apply retainKeys",
		"{'spec':{'$setElementOrder/volumes':[{'name':'data'},{'name':'cfg'}],"
		"'volumes':[{'$retainKeys':['name','persistentVolumeClaim'],'emptyDir':null,"
		"'name':'data','persistentVolumeClaim':{'claimName':'pvc1'}}]}}",
		"spec.volumes",
		"[{'name':'data','persistentVolumeClaim':{'claimName':'pvc1'}},"
		"{'name':'cfg','configMap':{'name':'c'}}]");
	/* kubectl set image (two-way patch) */
	run_pod("set image",
		"{'spec':{'$setElementOrder/containers':[{'name':'app'},{'name':'sidecar'}],"
		"'containers':[{'image':'busybox:2','name':'sidecar'}]}}",
		"spec.containers.1.image", "'busybox:2'");
	/* kubectl edit adding a finalizer and dropping another */
	run_pod("edit finalizers",
		"{'metadata':{'$deleteFromPrimitiveList/finalizers':['a.example.com/x'],"
		"'$setElementOrder/finalizers':['b.example.com/y','c.example.com/z'],"
		"'finalizers':['c.example.com/z']}}",
		"metadata.finalizers", "['b.example.com/y','c.example.com/z']");
	/* kubectl patch -p: env merged by name inside the container merged
	 * by name; a new container without $setElementOrder goes first */
	run_pod("patch env",
		"{'spec':{'containers':[{'name':'app','env':[{'name':'B','value':'20'},"
		"{'name':'D','value':'4'}]}]}}",
		"spec.containers.0.env",
		"[{'name':'A','value':'1'},{'name':'B','value':'20'},{'name':'D','value':'4'}]");
	run_pod("patch new container",
		"{'spec':{'containers':[{'name':'third','image':'redis'}]}}",
		"spec.containers",
		"[{'name':'third','image':'redis'},"
		"{'name':'app','image':'nginx:1','env':[{'name':'A','value':'1'},{'name':'B','value':'2'}],"
		"'ports':[{'containerPort':80,'protocol':'TCP'}],"
		"'volumeMounts':[{'name':'data','mountPath':'/data'}],"
		"'terminationMessagePath':'/dev/termination-log'},"
		"{'name':'sidecar','image':'busybox','terminationMessagePath':'/dev/termination-log'}]");
	run_pod("ports by containerPort",
		"{'spec':{'containers':[{'name':'app','ports':[{'containerPort':80,'name':'http'},"
		"{'containerPort':443}]}]}}",
		"spec.containers.0.ports",
		"[{'containerPort':80,'protocol':'TCP','name':'http'},{'containerPort':443}]");
	run_pod("volumeMounts by mountPath",
		"{'spec':{'containers':[{'name':'app','volumeMounts':[{'mountPath':'/data',"
		"'readOnly':true}]}]}}",
		"spec.containers.0.volumeMounts", "[{'name':'data','mountPath':'/data','readOnly':true}]");
	run_pod("tolerations are replaced",
		"{'spec':{'tolerations':[{'key':'k2','operator':'Exists'}]}}",
		"spec.tolerations", "[{'key':'k2','operator':'Exists'}]");
	run_pod("finalizers union",
		"{'metadata':{'finalizers':['b.example.com/y','c.example.com/z']}}",
		"metadata.finalizers", "['a.example.com/x','b.example.com/y','c.example.com/z']");
	run_pod("ownerReferences by uid",
		"{'metadata':{'ownerReferences':[{'uid':'r1','controller':true},"
		"{'apiVersion':'v1','kind':'Node','name':'n','uid':'n1'}]}}",
		"metadata.ownerReferences",
		"[{'apiVersion':'apps/v1','kind':'ReplicaSet','name':'rs1','uid':'r1','controller':true},"
		"{'apiVersion':'v1','kind':'Node','name':'n','uid':'n1'}]");
	run_pod("status conditions by type",
		"{'status':{'$setElementOrder/conditions':[{'type':'Ready'},{'type':'PodScheduled'}],"
		"'conditions':[{'type':'Ready','status':'False','reason':'X'}]}}",
		"status.conditions",
		"[{'type':'Ready','status':'False','reason':'X'},{'type':'PodScheduled','status':'True'}]");
	run_pod("annotate (strategic)", "{'metadata':{'annotations':{'note':'hi'}}}",
		"metadata.annotations",
		"{'kubectl.kubernetes.io/last-applied-configuration':'old','note':'hi'}");
	run_pod("null deletes a field", "{'spec':{'restartPolicy':null}}", "spec.restartPolicy", NULL);
	run_pod("null deletes a label", "{'metadata':{'labels':{'app':null}}}", "metadata.labels", "{}");
	run_pod("$patch replace in a list",
		"{'spec':{'volumes':[{'$patch':'replace'},{'name':'x','emptyDir':{}}]}}",
		"spec.volumes", "[{'name':'x','emptyDir':{}}]");
	run_pod("$patch replace in a map",
		"{'metadata':{'labels':{'$patch':'replace','tier':'db'}}}", "metadata.labels",
		"{'tier':'db'}");
	/* upstream drops a map that carries a directive when it is new to the
	 * object (removeDirectives) */
	run_pod("new map with $patch is dropped",
		"{'spec':{'containers':[{'name':'sidecar','$setElementOrder/env':[],"
		"'resources':{'$patch':'replace','limits':{'cpu':'1'}}}]}}",
		"spec.containers.1.resources", NULL);
	run_pod("directives stripped from new values",
		"{'spec':{'initContainers':[{'name':'init','$setElementOrder/env':[{'name':'X'}],"
		"'env':[{'name':'X','value':'1'},{'name':'Y','$patch':'delete'}],'tty':null}]}}",
		"spec.initContainers", "[{'name':'init','env':[{'name':'X','value':'1'}]}]");
}

/* A patch kubectl 1.32 apply sent (to a stub server, its live object
 * below), with the result `kubectl patch --local` gives for it. */
static void test_strategic_kubectl_apply_captured(void **state)
{
	static const patch_case cases[] = {
		{ "apply: finalizers, labels, ports, volume source", S, POD,
		  "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','namespace':'default',"
		  "'finalizers':['f1','f2','server/f'],'labels':{'x':'1'},'annotations':"
		  "{'kubectl.kubernetes.io/last-applied-configuration':'old'}},'spec':{'containers':"
		  "[{'name':'app','image':'nginx:1','ports':[{'containerPort':80}],"
		  "'terminationMessagePath':'/dev/termination-log'}],'volumes':[{'name':'data',"
		  "'emptyDir':{}},{'name':'cfg','configMap':{'name':'cm'}}]}}",
		  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['f1'],'$setElementOrder/finalizers':"
		  "['f2','f3'],'annotations':{'kubectl.kubernetes.io/last-applied-configuration':'new'},"
		  "'finalizers':['f3'],'labels':{'x':null,'y':'2'}},'spec':{'$setElementOrder/containers':"
		  "[{'name':'app'}],'$setElementOrder/volumes':[{'name':'data'},{'name':'cfg'}],"
		  "'containers':[{'$setElementOrder/ports':[{'containerPort':8080}],'name':'app','ports':"
		  "[{'containerPort':8080},{'$patch':'delete','containerPort':80}]}],'volumes':"
		  "[{'$retainKeys':['name','persistentVolumeClaim'],'emptyDir':null,'name':'data',"
		  "'persistentVolumeClaim':{'claimName':'pvc1'}}]}}",
		  "{'apiVersion':'v1','kind':'Pod','metadata':{'annotations':"
		  "{'kubectl.kubernetes.io/last-applied-configuration':'new'},'finalizers':"
		  "['f2','f3','server/f'],'labels':{'y':'2'},'name':'web','namespace':'default'},"
		  "'spec':{'containers':[{'image':'nginx:1','name':'app','ports':[{'containerPort':8080}],"
		  "'terminationMessagePath':'/dev/termination-log'}],'volumes':[{'name':'data',"
		  "'persistentVolumeClaim':{'claimName':'pvc1'}},{'configMap':{'name':'cm'},'name':'cfg'}]}}",
		  DV_PATCH_OK },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_strategic_kinds(void **state)
{
	static const patch_case cases[] = {
		{ "node cordon", S, "", "Node", "{'metadata':{'name':'n'},'spec':{}}",
		  "{'spec':{'unschedulable':true}}", "{'metadata':{'name':'n'},'spec':{'unschedulable':true}}", DV_PATCH_OK },
		{ "node taints replaced", S, "", "Node",
		  "{'spec':{'taints':[{'key':'a','effect':'NoSchedule'}]}}",
		  "{'spec':{'taints':[{'key':'b','effect':'NoExecute'}]}}",
		  "{'spec':{'taints':[{'key':'b','effect':'NoExecute'}]}}", DV_PATCH_OK },
		{ "node status", S, "", "Node",
		  "{'spec':{'podCIDRs':['10.0.0.0/24']},'status':{'addresses':[{'type':'InternalIP',"
		  "'address':'1.1.1.1'},{'type':'Hostname','address':'n'}],'conditions':[{'type':'Ready',"
		  "'status':'True'}]}}",
		  "{'spec':{'podCIDRs':['fd00::/64']},'status':{'addresses':[{'type':'InternalIP',"
		  "'address':'2.2.2.2'}],'conditions':[{'type':'Ready','status':'False'},"
		  "{'type':'MemoryPressure','status':'False'}]}}",
		  "{'spec':{'podCIDRs':['fd00::/64','10.0.0.0/24']},'status':{'addresses':[{'type':'InternalIP',"
		  "'address':'2.2.2.2'},{'type':'Hostname','address':'n'}],'conditions':[{'type':'Ready',"
		  "'status':'False'},{'type':'MemoryPressure','status':'False'}]}}", DV_PATCH_OK },
		{ "pvc status conditions", S, "", "PersistentVolumeClaim",
		  "{'status':{'phase':'Bound','conditions':[{'type':'Resizing','status':'True'}]}}",
		  "{'status':{'conditions':[{'type':'FileSystemResizePending','status':'True'},"
		  "{'type':'Resizing','$patch':'delete'}]}}",
		  "{'status':{'phase':'Bound','conditions':[{'type':'FileSystemResizePending',"
		  "'status':'True'}]}}", DV_PATCH_OK },
		{ "namespace status conditions", S, "", "Namespace",
		  "{'status':{'conditions':[{'type':'A','status':'True'}]}}",
		  "{'status':{'conditions':[{'type':'A','status':'False'}]}}",
		  "{'status':{'conditions':[{'type':'A','status':'False'}]}}", DV_PATCH_OK },
		{ "csinode drivers by name", S, "storage.k8s.io", "CSINode",
		  "{'spec':{'drivers':[{'name':'a','nodeID':'1'},{'name':'b','nodeID':'2'}]}}",
		  "{'spec':{'drivers':[{'name':'b','nodeID':'3'}]}}",
		  "{'spec':{'drivers':[{'name':'a','nodeID':'1'},{'name':'b','nodeID':'3'}]}}", DV_PATCH_OK },
		{ "configmap data", S, "", "ConfigMap", "{'data':{'a':'1','b':'2'}}",
		  "{'data':{'a':null,'c':'3'}}", "{'data':{'b':'2','c':'3'}}", DV_PATCH_OK },
		{ "secret", S, "", "Secret", "{'data':{'a':'MQ=='}}", "{'data':{'a':'Mg=='}}",
		  "{'data':{'a':'Mg=='}}", DV_PATCH_OK },
		{ "pv finalizers", S, "", "PersistentVolume",
		  "{'metadata':{'finalizers':['kubernetes.io/pv-protection']}}",
		  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['kubernetes.io/pv-protection']}}",
		  "{'metadata':{'finalizers':[]}}", DV_PATCH_OK },
		{ "storageclass mountOptions replaced", S, "storage.k8s.io", "StorageClass",
		  "{'mountOptions':['a','b']}", "{'mountOptions':['c']}", "{'mountOptions':['c']}", DV_PATCH_OK },
		{ "volumesnapshot finalizers", S, "snapshot.storage.k8s.io", "VolumeSnapshot",
		  "{'metadata':{'finalizers':['x']}}", "{'metadata':{'finalizers':['y']}}",
		  "{'metadata':{'finalizers':['y','x']}}", DV_PATCH_OK },
		{ "lease", S, "coordination.k8s.io", "Lease", "{'spec':{'holderIdentity':'a'}}",
		  "{'spec':{'holderIdentity':'b','leaseDurationSeconds':15}}",
		  "{'spec':{'holderIdentity':'b','leaseDurationSeconds':15}}", DV_PATCH_OK },
		{ "crd versions replaced", S, "apiextensions.k8s.io", "CustomResourceDefinition",
		  "{'spec':{'versions':[{'name':'v1'},{'name':'v2'}]}}",
		  "{'spec':{'versions':[{'name':'v3'}]}}", "{'spec':{'versions':[{'name':'v3'}]}}", DV_PATCH_OK },
		{ "events.k8s.io event", S, "events.k8s.io", "Event", "{'note':'a'}", "{'note':'b'}",
		  "{'note':'b'}", DV_PATCH_OK },
		{ "custom resource", S, "example.com", "Widget", "{}", "{}", NULL, DV_PATCH_EUNSUPPORTED },
		{ "kind of another group", S, "apps", "Pod", "{}", "{}", NULL, DV_PATCH_EUNSUPPORTED },
		{ "no kind", S, "", NULL, "{}", "{}", NULL, DV_PATCH_EUNSUPPORTED },
		{ "NULL group is core", S, NULL, "ConfigMap", "{'data':{}}", "{'data':{'a':'1'}}",
		  "{'data':{'a':'1'}}", DV_PATCH_OK },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* {path: [leaf]} as nested maps; a number in the path stands for a list
 * holding one item named "c" (the merge key of every such list probed). */
static json_t *build_at(const char *dotted, json_t *leaf)
{
	const char *dot = strchr(dotted, '.');
	json_t *obj = json_object();
	char name[64];
	size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);

	assert_true(n < sizeof(name));
	memcpy(name, dotted, n);
	name[n] = '\0';
	if (!dot) {
		json_object_set_new(obj, name, leaf);
	} else if (dot[1] >= '0' && dot[1] <= '9') {
		json_t *item = build_at(strchr(dot + 1, '.') + 1, leaf);

		json_object_set_new(item, "name", json_string("c"));
		json_object_set_new(obj, name, json_pack("[o]", item));
	} else {
		json_object_set_new(obj, name, build_at(dot + 1, leaf));
	}
	return obj;
}

/* The strategy of each list field, as kubectl 1.32's compiled-in types
 * have it (each row checked with `kubectl patch --local --type strategic`):
 * a list holding one item, patched with another, ends up with both
 * (merge) or only the patch's (replace). */
static void test_strategic_table(void **state)
{
	static const struct {
		const char *group, *kind, *path, *key;
		bool merge;
	} rows[] = {
		{ "", "Pod", "metadata.finalizers", NULL, true },
		{ "", "Pod", "metadata.ownerReferences", "uid", true },
		{ "", "Pod", "spec.volumes", "name", true },
		{ "", "Pod", "spec.initContainers", "name", true },
		{ "", "Pod", "spec.containers", "name", true },
		{ "", "Pod", "spec.ephemeralContainers", "name", true },
		{ "", "Pod", "spec.imagePullSecrets", "name", true },
		{ "", "Pod", "spec.hostAliases", "ip", true },
		{ "", "Pod", "spec.topologySpreadConstraints", "topologyKey", true },
		{ "", "Pod", "spec.resourceClaims", "name", true },
		{ "", "Pod", "spec.schedulingGates", "name", true },
		{ "", "Pod", "spec.tolerations", "key", false },
		{ "", "Pod", "spec.readinessGates", "conditionType", false },
		{ "", "Pod", "spec.securityContext.supplementalGroups", NULL, false },
		{ "", "Pod", "spec.securityContext.sysctls", "name", false },
		{ "", "Pod", "spec.dnsConfig.nameservers", NULL, false },
		{ "", "Pod", "spec.containers.0.ports", "containerPort", true },
		{ "", "Pod", "spec.containers.0.env", "name", true },
		{ "", "Pod", "spec.containers.0.volumeMounts", "mountPath", true },
		{ "", "Pod", "spec.containers.0.volumeDevices", "devicePath", true },
		{ "", "Pod", "spec.containers.0.envFrom", "prefix", false },
		{ "", "Pod", "spec.containers.0.resizePolicy", "resourceName", false },
		{ "", "Pod", "spec.containers.0.args", NULL, false },
		{ "", "Pod", "spec.containers.0.resources.claims", "name", false },
		{ "", "Pod", "spec.initContainers.0.ports", "containerPort", true },
		{ "", "Pod", "spec.ephemeralContainers.0.env", "name", true },
		{ "", "Pod", "spec.ephemeralContainers.0.volumeDevices", "devicePath", true },
		{ "", "Pod", "spec.volumes.0.ephemeral.volumeClaimTemplate.metadata.finalizers", NULL, true },
		{ "", "Pod", "spec.volumes.0.ephemeral.volumeClaimTemplate.spec.accessModes", NULL, false },
		{ "", "Pod", "spec.volumes.0.projected.sources", "x", false },
		{ "", "Pod", "status.conditions", "type", true },
		{ "", "Pod", "status.podIPs", "ip", true },
		{ "", "Pod", "status.hostIPs", "ip", true },
		{ "", "Pod", "status.resourceClaimStatuses", "name", true },
		{ "", "Pod", "status.containerStatuses", "name", false },
		{ "", "Pod", "status.initContainerStatuses", "name", false },
		{ "", "Pod", "status.ephemeralContainerStatuses", "name", false },
		{ "", "Node", "spec.podCIDRs", NULL, true },
		{ "", "Node", "spec.taints", "key", false },
		{ "", "Node", "status.conditions", "type", true },
		{ "", "Node", "status.addresses", "type", true },
		{ "", "Node", "status.images", "sizeBytes", false },
		{ "", "Node", "status.volumesInUse", NULL, false },
		{ "", "Node", "status.volumesAttached", "name", false },
		{ "", "Node", "status.runtimeHandlers", "name", false },
		{ "", "PersistentVolumeClaim", "spec.accessModes", NULL, false },
		{ "", "PersistentVolumeClaim", "status.conditions", "type", true },
		{ "", "PersistentVolumeClaim", "status.accessModes", NULL, false },
		{ "", "PersistentVolume", "spec.accessModes", NULL, false },
		{ "", "PersistentVolume", "spec.mountOptions", NULL, false },
		{ "", "PersistentVolume", "metadata.finalizers", NULL, true },
		{ "", "Namespace", "spec.finalizers", NULL, false },
		{ "", "Namespace", "status.conditions", "type", true },
		{ "", "Secret", "metadata.ownerReferences", "uid", true },
		{ "", "ConfigMap", "metadata.finalizers", NULL, true },
		{ "", "Event", "metadata.finalizers", NULL, true },
		{ "storage.k8s.io", "CSINode", "spec.drivers", "name", true },
		{ "storage.k8s.io", "StorageClass", "mountOptions", NULL, false },
		{ "storage.k8s.io", "StorageClass", "allowedTopologies", "x", false },
		{ "storage.k8s.io", "CSIDriver", "spec.volumeLifecycleModes", NULL, false },
		{ "storage.k8s.io", "CSIDriver", "spec.tokenRequests", "audience", false },
		{ "storage.k8s.io", "VolumeAttachment", "metadata.finalizers", NULL, true },
		{ "storage.k8s.io", "CSIStorageCapacity", "metadata.finalizers", NULL, true },
		{ "storage.k8s.io", "VolumeAttributesClass", "metadata.finalizers", NULL, true },
		{ "coordination.k8s.io", "Lease", "metadata.finalizers", NULL, true },
		{ "events.k8s.io", "Event", "metadata.finalizers", NULL, true },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *key = rows[i].key;
		json_t *a = key ? json_pack("{ss}", key, "k1") : json_string("a1");
		json_t *b = key ? json_pack("{ss}", key, "k2") : json_string("b2");
		json_t *doc = build_at(rows[i].path, json_pack("[o]", a));
		json_t *patch = build_at(rows[i].path, json_pack("[o]", b)), *out = NULL, *list;
		char *body = json_dumps(patch, JSON_COMPACT), err[200];
		char path[128];

		assert_int_equal(dv_patch_apply(doc, body, strlen(body), DV_PATCH_STRATEGIC,
						rows[i].group, rows[i].kind, &out, err, sizeof(err)),
				 DV_PATCH_OK);
		snprintf(path, sizeof(path), "%s", rows[i].path);
		list = value_at(out, path);
		if (json_array_size(list) != (rows[i].merge ? 2u : 1u))
			fail_msg("%s %s: %zu items, want %s", rows[i].kind, rows[i].path,
				 json_array_size(list), rows[i].merge ? "merge" : "replace");
		free(body);
		json_decref(out);
		json_decref(doc);
		json_decref(patch);
	}
}

static void test_strategic_errors(void **state)
{
	static const patch_case cases[] = {
		{ "not an object", S, POD, "{}", "[1]", NULL, BAD },
		{ "a string", S, POD, "{}", "'x'", NULL, BAD },
		{ "null is no change", S, POD, "{'a':1}", "null", "{'a':1}", DV_PATCH_OK },
		{ "unknown map directive", S, POD, "{'a':{'b':1}}", "{'a':{'$patch':'frob'}}", NULL, BAD },
		{ "$patch merge in a map", S, POD, "{'a':{'b':1}}", "{'a':{'$patch':'merge'}}", NULL, BAD },
		{ "$patch merge in a list", S, POD, "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'containers':[{'$patch':'merge'}]}}", NULL, BAD },
		{ "unknown list directive", S, POD, "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'containers':[{'name':'a','$patch':7}]}}", NULL, BAD },
		{ "delete without merge key", S, POD, "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'containers':[{'$patch':'delete'}]}}", NULL, BAD },
		{ "$retainKeys not a list", S, POD, "{'spec':{}}",
		  "{'spec':{'$retainKeys':'x'}}", NULL, BAD },
		{ "field not in $retainKeys", S, POD, "{'spec':{'volumes':[{'name':'v','emptyDir':{}}]}}",
		  "{'spec':{'volumes':[{'name':'v','$retainKeys':['name'],'hostPath':{'path':'/'}}]}}",
		  NULL, BAD },
		{ "$setElementOrder not a list", S, POD, "{'metadata':{}}",
		  "{'metadata':{'$setElementOrder/finalizers':'x'}}", NULL, BAD },
		{ "$setElementOrderX", S, POD, "{'metadata':{}}",
		  "{'metadata':{'$setElementOrderX/finalizers':[]}}", NULL, BAD },
		{ "$deleteFromPrimitiveList not a list", S, POD, "{'metadata':{'finalizers':['a']}}",
		  "{'metadata':{'$deleteFromPrimitiveList/finalizers':'a'}}", NULL, BAD },
		{ "$deleteFromPrimitiveList without field", S, POD, "{'metadata':{}}",
		  "{'metadata':{'$deleteFromPrimitiveList':['a']}}", NULL, BAD },
		{ "$setElementOrder item without merge key", S, POD,
		  "{'spec':{'containers':[{'name':'a'}]}}",
		  "{'spec':{'$setElementOrder/containers':[{'image':'a'}]}}", NULL, BAD },
		{ "list of lists", S, POD, "{'metadata':{'finalizers':['a']}}",
		  "{'metadata':{'finalizers':[['b']]}}", NULL, INVALID },
		{ "mixed list", S, POD, "{'metadata':{'finalizers':['a']}}",
		  "{'metadata':{'finalizers':[{'name':'b'}]}}", NULL, INVALID },
		{ "stored item without merge key", S, POD, "{'spec':{'containers':[{'image':'a'}]}}",
		  "{'spec':{'containers':[{'name':'b'}]}}", NULL, INVALID },
		{ "original not an object", S, POD, "[1]", "{'a':1}", NULL, INVALID },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Not JSON, nested too deep, empty: 400 for every patch type. */
static void test_bad_bodies(void **state)
{
	static const char *const bodies[] = {
		"", " ", "{", "[1,]", "{'a':}", "nul", "{'a':1}x", "{'a':1,}", "[1 2]", "{'a' 1}",
		"{1:2}", "01", "1.", ".5", "-", "1e", "+1", "'\\x'", "'\\u12'", "'a\tb'",
		"'\\u0000'", "'\\udc00'", "'\\ud83d'", "'\\ud83dx'", "'\xc3'", "'\xc0\xaf'",
		"'\xed\xa0\x80'", "'\xf4\x90\x80\x80'", "\xef\xbb\xbf{}", "truex", "[true1]",
		"99999999999999999999999", "9223372036854775808", "-9223372036854775809", "1e400",
		"-1.7976931348623159e308", "223456789e300",
	};
	/* and what jansson accepts, so must we */
	static const char *const good[] = {
		"-9223372036854775808", "9223372036854775807", "1e-400", "1.7976931348623157e308",
		"0.0000000000000000000001e330", "123456789e300", "'\\ud83d\\ude00 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80'",
		"'\\\\ \\/ \\b \\f \\n \\r \\t \\''", " [ ] ", "{}", "-0", "0e0", "1E+2", "null",
	};
	dv_patch_type types[] = { DV_PATCH_JSON, DV_PATCH_MERGE, DV_PATCH_STRATEGIC };
	json_t *doc = json_q("{'a':1}"), *out = NULL;
	char err[200], deep[2048];
	int depth;

	for (size_t t = 0; t < 3; t++) {
		for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			char *b = q(bodies[i]);

			assert_int_equal(dv_patch_apply(doc, b, strlen(b), types[t], "", "Pod", &out, err,
							sizeof(err)),
					 DV_PATCH_EBADREQUEST);
			assert_null(out);
			free(b);
		}
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			char *b = q(good[i]);
			dv_patch_result r = dv_patch_apply(doc, b, strlen(b), types[t], "", "Pod", &out,
							   err, sizeof(err));

			/* parsed: whatever comes next, it is not a 400 for the body */
			if (r == DV_PATCH_EBADREQUEST && strstr(err, "JSON ("))
				fail_msg("%s refused: %s", b, err);
			json_decref(out);
			out = NULL;
			free(b);
		}
		/* 100 levels pass, 101 do not */
		for (depth = 100; depth <= 101; depth++) {
			size_t off = 0;
			dv_patch_result want = depth == 100 ? DV_PATCH_OK : DV_PATCH_EBADREQUEST;

			if (types[t] == DV_PATCH_JSON) {
				off += (size_t)snprintf(deep, sizeof(deep),
							"[{\"op\":\"add\",\"path\":\"/a\",\"value\":");
				for (int d = 2; d < depth; d++)
					deep[off++] = '[';
				for (int d = 2; d < depth; d++)
					deep[off++] = ']';
				off += (size_t)snprintf(deep + off, sizeof(deep) - off, "}]");
			} else {
				for (int d = 0; d < depth; d++)
					off += (size_t)snprintf(deep + off, sizeof(deep) - off, "{\"a\":");
				off += (size_t)snprintf(deep + off, sizeof(deep) - off, "1");
				for (int d = 0; d < depth; d++)
					deep[off++] = '}';
			}
			assert_int_equal(dv_patch_apply(doc, deep, off, types[t], "", "Pod", &out, err,
							sizeof(err)),
					 want);
			json_decref(out);
			out = NULL;
		}
	}
	/* brackets inside strings do not count */
	memset(deep, '[', 300);
	memcpy(deep, "{\"a\":\"", 6);
	memcpy(deep + 300, "\"}", 2);
	assert_int_equal(dv_patch_apply(doc, deep, 302, DV_PATCH_MERGE, "", "", &out, err, sizeof(err)),
			 DV_PATCH_OK);
	json_decref(out);
	json_decref(doc);
}

/* A JSON Patch cannot build what the body limit keeps out: 99 adds, each
 * one level deeper, make 100 levels; the 100th add is refused. */
static void test_json_patch_depth(void **state)
{
	size_t cap = 101 * 220, off;
	char *body = malloc(cap), err[200];
	json_t *doc = json_object(), *out = NULL;

	assert_non_null(body);
	for (int ops = 99; ops <= 100; ops++) {
		off = 0;
		body[off++] = '[';
		for (int i = 1; i <= ops; i++) {
			off += (size_t)snprintf(body + off, cap - off, "%s{\"op\":\"add\",\"path\":\"",
						i > 1 ? "," : "");
			for (int d = 0; d < i; d++)
				off += (size_t)snprintf(body + off, cap - off, "/a");
			off += (size_t)snprintf(body + off, cap - off, "\",\"value\":{}}");
		}
		body[off++] = ']';
		assert_true(off < cap);
		assert_int_equal(dv_patch_apply(doc, body, off, DV_PATCH_JSON, "", "", &out, err,
						sizeof(err)),
				 ops == 99 ? DV_PATCH_OK : DV_PATCH_EINVALID);
		json_decref(out);
		out = NULL;
	}
	free(body);
	json_decref(doc);
}

/* Error messages never carry the patch's values (they may be secrets). */
static void test_errors_hide_values(void **state)
{
	static const char *const bodies[] = {
		"{'data':{'k':'hunter2'}",
		"[{'op':'test','path':'/data/k','value':'hunter2'}]",
		"[{'op':'hunter2','path':'/data/k'}]",
		"{'data':{'$patch':'hunter2'}}",
	};
	dv_patch_type types[] = { DV_PATCH_MERGE, DV_PATCH_JSON, DV_PATCH_JSON, DV_PATCH_STRATEGIC };
	json_t *doc = json_q("{'data':{'k':'c2VjcmV0'}}"), *out = NULL;
	char err[300];

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char *b = q(bodies[i]);

		assert_int_not_equal(dv_patch_apply(doc, b, strlen(b), types[i], "", "Secret", &out, err,
						    sizeof(err)),
				     DV_PATCH_OK);
		assert_true(err[0] != '\0');
		assert_null(strstr(err, "hunter2"));
		free(b);
	}
	json_decref(doc);
}

static void test_content_types(void **state)
{
	assert_int_equal(dv_patch_type_from_content_type("application/json-patch+json"), DV_PATCH_JSON);
	assert_int_equal(dv_patch_type_from_content_type("application/merge-patch+json"), DV_PATCH_MERGE);
	assert_int_equal(dv_patch_type_from_content_type("application/strategic-merge-patch+json"),
			 DV_PATCH_STRATEGIC);
	assert_int_equal(dv_patch_type_from_content_type("Application/Merge-Patch+JSON; charset=utf-8"),
			 DV_PATCH_MERGE);
	assert_int_equal(dv_patch_type_from_content_type(" application/json-patch+json ;x=y"),
			 DV_PATCH_JSON);
	assert_int_equal(dv_patch_type_from_content_type("application/apply-patch+yaml"), -1);
	assert_int_equal(dv_patch_type_from_content_type("application/json"), -1);
	assert_int_equal(dv_patch_type_from_content_type("application/json-patch+jsonx"), -1);
	assert_int_equal(dv_patch_type_from_content_type(""), -1);
	assert_int_equal(dv_patch_type_from_content_type(NULL), -1);
}

static void test_api_edges(void **state)
{
	json_t *doc = json_q("{'a':1}"), *out = (json_t *)1;
	char err[8];

	/* a short err buffer is truncated, not overrun */
	assert_int_equal(dv_patch_apply(doc, "[{}]", 4, DV_PATCH_JSON, "", "", &out, err, sizeof(err)),
			 DV_PATCH_EBADREQUEST);
	assert_null(out);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	/* no err buffer at all */
	assert_int_equal(dv_patch_apply(doc, "{", 1, DV_PATCH_MERGE, "", "", &out, NULL, 0),
			 DV_PATCH_EBADREQUEST);
	assert_int_equal(dv_patch_apply(NULL, "{}", 2, DV_PATCH_MERGE, "", "", &out, NULL, 0),
			 DV_PATCH_EBADREQUEST);
	assert_int_equal(dv_patch_apply(doc, "{}", 2, (dv_patch_type)42, "", "", &out, NULL, 0),
			 DV_PATCH_EBADREQUEST);
	/* a NUL byte inside the body is not JSON (jansson would stop there) */
	assert_int_equal(dv_patch_apply(doc, "{}\0", 3, DV_PATCH_MERGE, "", "", &out, NULL, 0),
			 DV_PATCH_EBADREQUEST);
	/* the body need not be NUL-terminated */
	assert_int_equal(dv_patch_apply(doc, "{\"b\":2}garbage", 7, DV_PATCH_MERGE, "", "", &out, NULL, 0),
			 DV_PATCH_OK);
	assert_int_equal(json_integer_value(json_object_get(out, "b")), 2);
	json_decref(out);
	json_decref(doc);
}

/* Long lists merge in linear time: 20000 new containers, and 20000
 * finalizers merged into 20000 (upstream's quadratic lookups took 14 s and
 * 38 s for these here). The bound is loose enough for a loaded ASan run. */
static void test_long_lists(void **state)
{
	const size_t n = 20000;
	size_t cap = n * 40 + 64, off = 0;
	char *body = malloc(cap), err[200];
	json_t *doc = json_pack("{s{s[]}s{s[]}}", "metadata", "finalizers", "spec", "containers");
	json_t *fin = json_object_get(json_object_get(doc, "metadata"), "finalizers"), *out = NULL;
	struct timespec t0, t1;

	assert_non_null(body);
	for (size_t i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%zu", i);
		json_array_append_new(fin, json_string(name));
	}
	off += (size_t)snprintf(body + off, cap - off, "{\"spec\":{\"containers\":[");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(body + off, cap - off, "%s{\"name\":\"c%zu\"}", i ? "," : "", i);
	off += (size_t)snprintf(body + off, cap - off, "]},\"metadata\":{\"finalizers\":[");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(body + off, cap - off, "%s\"g%zu\"", i ? "," : "", i);
	off += (size_t)snprintf(body + off, cap - off, "]}}");
	assert_true(off < cap);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(dv_patch_apply(doc, body, off, DV_PATCH_STRATEGIC, "", "Pod", &out, err,
					sizeof(err)),
			 DV_PATCH_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(json_array_size(value_at(out, "spec.containers")), n);
	assert_int_equal(json_array_size(value_at(out, "metadata.finalizers")), 2 * n);
	/* new items first, as upstream orders them */
	assert_string_equal(json_string_value(value_at(out, "metadata.finalizers.0")), "g0");
	assert_string_equal(json_string_value(value_at(out, "metadata.finalizers.20000")), "f0");
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	json_decref(out);
	json_decref(doc);
	free(body);
}

/* ---- allocation failure: jansson's allocations fail one by one; every
 * run must end in success or DV_PATCH_ENOMEM with nothing leaked. */

static long alloc_countdown = -1; /* fail when it reaches 0; -1: never */
static long alloc_live;

static void *counting_malloc(size_t n)
{
	void *p;

	if (alloc_countdown == 0)
		return NULL;
	if (alloc_countdown > 0)
		alloc_countdown--;
	p = malloc(n);
	if (p)
		alloc_live++;
	return p;
}

static void counting_free(void *p)
{
	if (p)
		alloc_live--;
	free(p);
}

static void torture_one(const char *doc_text, const char *patch_text, dv_patch_type type,
			const char *kind)
{
	json_t *doc = json_q(doc_text), *want = NULL, *out = NULL;
	char *body = q(patch_text), err[128];
	long failures = 0;

	assert_int_equal(dv_patch_apply(doc, body, strlen(body), type, "", kind, &want, err,
					sizeof(err)),
			 DV_PATCH_OK);
	json_set_alloc_funcs(counting_malloc, counting_free);
	for (long at = 0;; at++) {
		long live = alloc_live;
		dv_patch_result r;

		alloc_countdown = at;
		r = dv_patch_apply(doc, body, strlen(body), type, "", kind, &out, err, sizeof(err));
		alloc_countdown = -1;
		if (r == DV_PATCH_OK) {
			assert_true(json_equal(out, want));
			json_decref(out);
			assert_int_equal(alloc_live, live);
			break;
		}
		if (r != DV_PATCH_ENOMEM)
			fail_msg("%s: allocation %ld failing gave %d (%s)", patch_text, at, r, err);
		assert_null(out);
		assert_int_equal(alloc_live, live);
		failures++;
	}
	json_set_alloc_funcs(malloc, free);
	assert_true(failures > 10);
	json_decref(want);
	json_decref(doc);
	free(body);
}

static void test_alloc_failures(void **state)
{
	torture_one(live_pod,
		    "{'metadata':{'$deleteFromPrimitiveList/finalizers':['a.example.com/x'],"
		    "'$setElementOrder/finalizers':['b.example.com/y','c'],'finalizers':['c'],"
		    "'labels':{'$patch':'replace','x':'1'}},"
		    "'spec':{'$setElementOrder/containers':[{'name':'app'},{'name':'new'}],"
		    "'containers':[{'$setElementOrder/env':[{'name':'A'},{'name':'C'}],"
		    "'env':[{'name':'C','value':'3'},{'$patch':'delete','name':'B'}],'name':'app'},"
		    "{'name':'new','env':[{'name':'Z','value':null}]},{'$patch':'delete','name':'sidecar'}],"
		    "'volumes':[{'$retainKeys':['name','hostPath'],'name':'data','emptyDir':null,"
		    "'hostPath':{'path':'/x'}}],'tolerations':[{'key':'t'}]}}",
		    DV_PATCH_STRATEGIC, "Pod");
	torture_one(live_pod,
		    "[{'op':'add','path':'/spec/containers/-','value':{'name':'n','env':[]}},"
		    "{'op':'move','from':'/metadata/labels','path':'/metadata/l2'},"
		    "{'op':'copy','from':'/spec/volumes','path':'/spec/v2'},"
		    "{'op':'replace','path':'/status/phase','value':'Done'},"
		    "{'op':'remove','path':'/status/conditions/0'},"
		    "{'op':'test','path':'/metadata/l2/app','value':'web'}]",
		    DV_PATCH_JSON, "Pod");
	torture_one(live_pod, "{'metadata':{'labels':{'app':null,'n':{'x':[1,{'y':null}]}}},'spec':null}",
		    DV_PATCH_MERGE, "Pod");
}

/* ---- fuzzing: seeds mutated at random, and random patches built from the
 * directive vocabulary; whatever comes out must be a known code, an
 * object on success, and no leak or overflow (ASan run). */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static void check_apply(const json_t *doc, const char *body, size_t len, dv_patch_type type,
			const char *kind)
{
	json_t *before = json_deep_copy(doc), *out = NULL;
	char err[128];
	dv_patch_result r = dv_patch_apply(doc, body, len, type, "", kind, &out, err, sizeof(err));

	assert_true(r == DV_PATCH_OK || r == DV_PATCH_EBADREQUEST || r == DV_PATCH_EINVALID ||
		    r == DV_PATCH_EUNSUPPORTED);
	/* patch.c's own JSON check refuses what jansson refuses, no more */
	if (r == DV_PATCH_EBADREQUEST && strncmp(err, "the patch is not valid JSON", 27) == 0) {
		json_t *v = json_loadb(body, len, JSON_DECODE_ANY, NULL);

		assert_null(v);
	}
	if (r == DV_PATCH_OK)
		assert_true(json_is_object(out));
	else
		assert_null(out);
	assert_true(json_equal(doc, before));
	json_decref(out);
	json_decref(before);
}

static const char *const seeds[] = {
	"{'metadata':{'$setElementOrder/finalizers':['b','c'],'$deleteFromPrimitiveList/finalizers':"
	"['a'],'finalizers':['c']},'spec':{'$setElementOrder/containers':[{'name':'app'}],"
	"'containers':[{'name':'app','env':[{'name':'B','$patch':'delete'},{'name':'C'}],"
	"'$setElementOrder/env':[{'name':'A'},{'name':'C'}]},{'name':'x','$patch':'delete'}],"
	"'volumes':[{'$retainKeys':['name','emptyDir'],'name':'data','emptyDir':{}},"
	"{'$patch':'replace'}]}}",
	"[{'op':'add','path':'/spec/containers/-','value':{'name':'n'}},{'op':'move','from':"
	"'/metadata/labels','path':'/x'},{'op':'copy','from':'/spec','path':'/spec2'},"
	"{'op':'test','path':'/x/app','value':'web'},{'op':'replace','path':'/a~1b/0','value':[]}]",
	"{'metadata':{'labels':{'app':null,'x':{'y':[1,{'z':null}]}}},'spec':null}",
};

static const char *const vocab_keys[] = {
	"metadata", "spec", "status", "finalizers", "containers", "env", "name", "volumes",
	"conditions", "type", "labels", "$patch", "$retainKeys", "$setElementOrder/containers",
	"$setElementOrder/finalizers", "$deleteFromPrimitiveList/finalizers", "$setElementOrder/env",
	"image", "podCIDRs", "ownerReferences", "uid", "emptyDir", "ports", "containerPort",
};
static const char *const vocab_scalars[] = {
	"\"delete\"", "\"replace\"", "\"merge\"", "\"a\"", "\"app\"", "\"sidecar\"", "\"name\"",
	"1", "80", "1.5", "true", "null", "\"\"", "\"Ready\"", "\"emptyDir\"",
};

static void gen_value(char *buf, size_t cap, size_t *off, int depth)
{
	uint32_t pick = rnd() % (depth > 6 ? 2 : 5);

	if (*off + 64 >= cap)
		pick = 0;
	if (pick < 2) {
		*off += (size_t)snprintf(buf + *off, cap - *off, "%s",
					 vocab_scalars[rnd() % (sizeof(vocab_scalars) / sizeof(vocab_scalars[0]))]);
	} else if (pick < 4) {
		unsigned n = rnd() % 4;

		buf[(*off)++] = '{';
		for (unsigned i = 0; i < n && *off + 64 < cap; i++) {
			*off += (size_t)snprintf(buf + *off, cap - *off, "%s\"%s\":", i ? "," : "",
						 vocab_keys[rnd() % (sizeof(vocab_keys) / sizeof(vocab_keys[0]))]);
			gen_value(buf, cap, off, depth + 1);
		}
		buf[(*off)++] = '}';
	} else {
		unsigned n = rnd() % 4;

		buf[(*off)++] = '[';
		for (unsigned i = 0; i < n && *off + 64 < cap; i++) {
			if (i)
				buf[(*off)++] = ',';
			gen_value(buf, cap, off, depth + 1);
		}
		buf[(*off)++] = ']';
	}
}

static void test_fuzz(void **state)
{
	json_t *pod = json_q(live_pod), *node = json_q("{'metadata':{'finalizers':['a']},'spec':{}}");
	static const char mutants[] = "{}[]\":,$/~-01nulltrue\\";
	char buf[4096];

	for (int iter = 0; iter < 30000; iter++) {
		dv_patch_type type = (dv_patch_type)(rnd() % 3);
		size_t len;

		if (iter % 2) {
			char *s = q(seeds[rnd() % (sizeof(seeds) / sizeof(seeds[0]))]);
			unsigned edits = 1 + rnd() % 4;

			len = strlen(s);
			if (len >= sizeof(buf))
				len = sizeof(buf) - 1;
			memcpy(buf, s, len);
			free(s);
			for (unsigned k = 0; k < edits && len; k++) {
				size_t at = rnd() % len;

				switch (rnd() % 3) {
				case 0: /* overwrite */
					buf[at] = mutants[rnd() % (sizeof(mutants) - 1)];
					break;
				case 1: /* delete */
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
					break;
				default: /* insert */
					if (len + 1 < sizeof(buf)) {
						memmove(buf + at + 1, buf + at, len - at);
						buf[at] = mutants[rnd() % (sizeof(mutants) - 1)];
						len++;
					}
				}
			}
		} else {
			len = 0;
			gen_value(buf, sizeof(buf), &len, 0);
			if (type == DV_PATCH_JSON && rnd() % 2) {
				/* wrap as one operation so more of it gets past parsing */
				char op[sizeof(buf) + 128];
				int n = snprintf(op, sizeof(op), "[{\"op\":\"%s\",\"path\":\"/%s\",\"from\":\"/spec\",\"value\":%.*s}]",
						 (const char *[]){ "add", "remove", "replace", "move", "copy", "test" }[rnd() % 6],
						 rnd() % 2 ? "metadata/finalizers/0" : "spec/containers/-",
						 (int)len, buf);
				if (n > 0 && (size_t)n < sizeof(buf)) {
					memcpy(buf, op, (size_t)n);
					len = (size_t)n;
				}
			}
		}
		check_apply(iter % 5 ? pod : node, buf, len, type, iter % 5 ? "Pod" : "Node");
	}
	json_decref(pod);
	json_decref(node);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_patch_rfc_appendix),
		cmocka_unit_test(test_json_patch_more),
		cmocka_unit_test(test_json_patch_copy_bomb),
		cmocka_unit_test(test_json_patch_too_many_ops),
		cmocka_unit_test(test_json_patch_depth),
		cmocka_unit_test(test_merge_patch_rfc_appendix),
		cmocka_unit_test(test_merge_patch_kubectl),
		cmocka_unit_test(test_strategic_upstream),
		cmocka_unit_test(test_strategic_kubectl),
		cmocka_unit_test(test_strategic_kubectl_apply_captured),
		cmocka_unit_test(test_strategic_kinds),
		cmocka_unit_test(test_strategic_table),
		cmocka_unit_test(test_strategic_errors),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_errors_hide_values),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_api_edges),
		cmocka_unit_test(test_long_lists),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_fuzz),
	};
	int fds = testutil_count_open_fds();
	int failed = cmocka_run_group_tests_name("patch", tests, NULL, NULL);

	return failed + testutil_fd_leak(fds);
}
