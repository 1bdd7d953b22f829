package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	miniserver "github.com/truora/minidyn/server"
)

// Each test states the DynamoDB behaviour the proxy gives and, where it helps, what minidyn
// v0.8.2 answers alone ("raw"): when a minidyn upgrade fixes one of those, the raw assertion
// fails and the correction in proxy.go can go.

type reply struct {
	status int
	body   map[string]any
	text   string
}

func call(t *testing.T, h http.Handler, op string, req any) reply {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	out := reply{status: w.Code, text: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &out.body)
	return out
}

func (r reply) errorType() string {
	typ, _ := r.body["__type"].(string)
	return typ[strings.LastIndexByte(typ, '#')+1:]
}

func mustOK(t *testing.T, r reply) reply {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.text)
	}
	return r
}

func str(v string) map[string]any { return map[string]any{"S": v} }
func num(v int) map[string]any    { return map[string]any{"N": fmt.Sprint(v)} }

func key(pk, sk string) map[string]any { return map[string]any{"PK": str(pk), "SK": str(sk)} }

func createTable(t *testing.T, h http.Handler, name string) reply {
	t.Helper()
	return mustOK(t, call(t, h, "CreateTable", map[string]any{
		"TableName": name,
		"KeySchema": []map[string]string{
			{"AttributeName": "PK", "KeyType": "HASH"},
			{"AttributeName": "SK", "KeyType": "RANGE"},
		},
		"AttributeDefinitions": []map[string]string{
			{"AttributeName": "PK", "AttributeType": "S"},
			{"AttributeName": "SK", "AttributeType": "S"},
		},
		"BillingMode": "PAY_PER_REQUEST",
	}))
}

func newTable(t *testing.T) http.Handler {
	t.Helper()
	h := newProxy(miniserver.NewServer())
	createTable(t, h, "t")
	return h
}

func put(t *testing.T, h http.Handler, it map[string]any) reply {
	t.Helper()
	return call(t, h, "PutItem", map[string]any{"TableName": "t", "Item": it})
}

func get(t *testing.T, h http.Handler, pk, sk string) map[string]any {
	t.Helper()
	r := mustOK(t, call(t, h, "GetItem", map[string]any{"TableName": "t", "Key": key(pk, sk), "ConsistentRead": true}))
	it, _ := r.body["Item"].(map[string]any)
	return it
}

func withAttrs(pk, sk string, attrs map[string]any) map[string]any {
	it := key(pk, sk)
	for k, v := range attrs {
		it[k] = v
	}
	return it
}

func TestTableDescriptionsCarryStatus(t *testing.T) {
	h := newProxy(miniserver.NewServer())
	created := createTable(t, h, "t")
	desc := created.body["TableDescription"].(map[string]any)
	if desc["TableStatus"] != "CREATING" || desc["TableArn"] != "arn:aws:dynamodb:us-east-1:000000000000:table/t" {
		t.Fatalf("CreateTable: %v", desc)
	}
	table := mustOK(t, call(t, h, "DescribeTable", map[string]any{"TableName": "t"})).body["Table"].(map[string]any)
	if table["TableStatus"] != "ACTIVE" || table["AttributeDefinitions"] == nil {
		t.Fatalf("DescribeTable: %v", table)
	}
	if mode := table["BillingModeSummary"].(map[string]any)["BillingMode"]; mode != "PAY_PER_REQUEST" {
		t.Fatalf("billing mode %v", mode)
	}
	if r := call(t, h, "CreateTable", map[string]any{"TableName": "t"}); r.errorType() != "ResourceInUseException" {
		t.Fatalf("second CreateTable: %s", r.text)
	}
	gone := mustOK(t, call(t, h, "DeleteTable", map[string]any{"TableName": "t"})).body["TableDescription"].(map[string]any)
	if gone["TableStatus"] != "DELETING" {
		t.Fatalf("DeleteTable: %v", gone)
	}
	if r := call(t, h, "DescribeTable", map[string]any{"TableName": "t"}); r.errorType() != "ResourceNotFoundException" {
		t.Fatalf("DescribeTable after delete: %s", r.text)
	}

	raw := miniserver.NewServer()
	createTable(t, raw, "t")
	rawTable := mustOK(t, call(t, raw, "DescribeTable", map[string]any{"TableName": "t"})).body["Table"].(map[string]any)
	if rawTable["TableStatus"] != "" {
		t.Fatalf("raw minidyn now sends TableStatus: %v", rawTable)
	}
}

func TestContinuousBackupsAndUnknownOperations(t *testing.T) {
	h := newTable(t)
	r := mustOK(t, call(t, h, "UpdateContinuousBackups", map[string]any{
		"TableName":                        "t",
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
	}))
	pitr := r.body["ContinuousBackupsDescription"].(map[string]any)["PointInTimeRecoveryDescription"].(map[string]any)
	if pitr["PointInTimeRecoveryStatus"] != "ENABLED" {
		t.Fatalf("UpdateContinuousBackups: %s", r.text)
	}
	r = mustOK(t, call(t, h, "DescribeContinuousBackups", map[string]any{"TableName": "t"}))
	if !strings.Contains(r.text, `"PointInTimeRecoveryStatus":"ENABLED"`) {
		t.Fatalf("DescribeContinuousBackups: %s", r.text)
	}
	if r := call(t, h, "DescribeContinuousBackups", map[string]any{"TableName": "nope"}); r.errorType() != "TableNotFoundException" {
		t.Fatalf("missing table: %s", r.text)
	}
	if r := call(t, h, "DescribeTimeToLive", map[string]any{"TableName": "t"}); r.status != 400 || r.errorType() != "UnknownOperationException" {
		t.Fatalf("unknown operation: %d %s", r.status, r.text)
	}
	if r := mustOK(t, call(t, h, "ListTables", map[string]any{})); !strings.Contains(r.text, `"TableNames":["t"]`) {
		t.Fatalf("ListTables: %s", r.text)
	}
	if r := call(t, miniserver.NewServer(), "UpdateContinuousBackups", map[string]any{"TableName": "t"}); r.body != nil {
		t.Fatalf("raw minidyn now answers UpdateContinuousBackups: %s", r.text)
	}
}

func TestItemSizeLimit(t *testing.T) {
	h := newTable(t)
	// PK "p" + SK "s" + attribute "doc": 2 + 2 + 3 bytes of names and key values.
	fits := strings.Repeat("x", maxItemBytes-len("PKpSKsdoc"))
	mustOK(t, put(t, h, withAttrs("p", "s", map[string]any{"doc": str(fits)})))
	if r := put(t, h, withAttrs("p", "s", map[string]any{"doc": str(fits + "x")})); r.errorType() != "ValidationException" || !strings.Contains(r.text, itemTooLarge) {
		t.Fatalf("401 KB PutItem: %d %s", r.status, r.text)
	}

	// An update that makes the item too large is refused and changes nothing.
	half := strings.Repeat("y", maxItemBytes/2)
	mustOK(t, put(t, h, withAttrs("q", "s", map[string]any{"a": str(half), "n": num(1)})))
	r := call(t, h, "UpdateItem", map[string]any{
		"TableName":                 "t",
		"Key":                       key("q", "s"),
		"UpdateExpression":          "SET b = :b, n = :n",
		"ExpressionAttributeValues": map[string]any{":b": str(half), ":n": num(2)},
	})
	if r.errorType() != "ValidationException" || !strings.Contains(r.text, updateTooLarge) {
		t.Fatalf("oversized UpdateItem: %d %s", r.status, r.text)
	}
	if it := get(t, h, "q", "s"); it["b"] != nil || it["n"].(map[string]any)["N"] != "1" {
		t.Fatalf("item changed: n=%v b set=%v", it["n"], it["b"] != nil)
	}

	// The same inside a transaction: cancelled with ValidationError, every action undone.
	r = call(t, h, "TransactWriteItems", map[string]any{"TransactItems": []any{
		map[string]any{"Put": map[string]any{"TableName": "t", "Item": withAttrs("new", "s", nil)}},
		map[string]any{"Update": map[string]any{
			"TableName":                 "t",
			"Key":                       key("q", "s"),
			"UpdateExpression":          "SET b = :b",
			"ExpressionAttributeValues": map[string]any{":b": str(half)},
		}},
	}})
	if r.errorType() != "TransactionCanceledException" || !strings.Contains(r.text, "[None, ValidationError]") {
		t.Fatalf("oversized transaction update: %d %s", r.status, r.text)
	}
	if get(t, h, "new", "s") != nil || get(t, h, "q", "s")["b"] != nil {
		t.Fatal("transaction not undone")
	}
	if r := call(t, h, "BatchWriteItem", map[string]any{"RequestItems": map[string]any{"t": []any{
		map[string]any{"PutRequest": map[string]any{"Item": withAttrs("r", "s", map[string]any{"doc": str(fits + "x")})}},
	}}}); r.errorType() != "ValidationException" {
		t.Fatalf("oversized BatchWriteItem put: %s", r.text)
	}

	raw := miniserver.NewServer()
	createTable(t, raw, "t")
	if r := put(t, raw, withAttrs("p", "s", map[string]any{"doc": str(fits + "x")})); r.status != http.StatusOK {
		t.Fatalf("raw minidyn now enforces the item size limit: %s", r.text)
	}
}

func progressUpdate(pk string, expected int) map[string]any {
	return map[string]any{"Update": map[string]any{
		"TableName":                 "t",
		"Key":                       key(pk, "PROGRESS"),
		"UpdateExpression":          "SET next_source = :ns",
		"ConditionExpression":       "next_source = :es",
		"ExpressionAttributeValues": map[string]any{":ns": num(expected + 10), ":es": num(expected)},
	}}
}

func TestTransactionCancellationReasons(t *testing.T) {
	h := newTable(t)
	for _, pk := range []string{"a", "b", "c"} {
		mustOK(t, put(t, h, withAttrs(pk, "PROGRESS", map[string]any{"next_source": num(5)})))
	}
	// b and c are stale: DynamoDB names both.
	r := call(t, h, "TransactWriteItems", map[string]any{"TransactItems": []any{
		progressUpdate("a", 5),
		map[string]any{"Put": map[string]any{"TableName": "t", "Item": withAttrs("a", "SEG#1", nil)}},
		progressUpdate("b", 4),
		progressUpdate("c", 3),
	}})
	if r.errorType() != "TransactionCanceledException" {
		t.Fatalf("%d %s", r.status, r.text)
	}
	if msg := r.body["message"]; msg != "Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ConditionalCheckFailed, ConditionalCheckFailed]" {
		t.Fatalf("message %q", msg)
	}
	if get(t, h, "a", "SEG#1") != nil || get(t, h, "a", "PROGRESS")["next_source"].(map[string]any)["N"] != "5" {
		t.Fatal("transaction not undone")
	}

	// A failed put condition returns the old item when asked to.
	r = call(t, h, "TransactWriteItems", map[string]any{"TransactItems": []any{
		map[string]any{"Put": map[string]any{
			"TableName":                           "t",
			"Item":                                withAttrs("a", "PROGRESS", map[string]any{"next_source": num(0)}),
			"ConditionExpression":                 "attribute_not_exists(PK)",
			"ReturnValuesOnConditionCheckFailure": "ALL_OLD",
		}},
		map[string]any{"Put": map[string]any{"TableName": "t", "Item": withAttrs("a", "SEG#0", nil)}},
	}})
	reasons, _ := r.body["CancellationReasons"].([]any)
	if len(reasons) != 2 {
		t.Fatalf("%s", r.text)
	}
	old, _ := reasons[0].(map[string]any)["Item"].(map[string]any)
	if old["next_source"].(map[string]any)["N"] != "5" {
		t.Fatalf("old item not returned: %s", r.text)
	}

	items := make([]any, maxTransactItems+1)
	for i := range items {
		items[i] = map[string]any{"Put": map[string]any{"TableName": "t", "Item": withAttrs("x", fmt.Sprint(i), nil)}}
	}
	if r := call(t, h, "TransactWriteItems", map[string]any{"TransactItems": items}); r.errorType() != "ValidationException" {
		t.Fatalf("101 actions: %s", r.text)
	}
}

func TestTransactionsAreAllOrNothing(t *testing.T) {
	h := newTable(t)
	mustOK(t, put(t, h, withAttrs("a", "PROGRESS", map[string]any{"next_source": num(5)})))
	mustOK(t, put(t, h, withAttrs("d", "x", map[string]any{"v": num(1)})))
	check := func(pk, cond string) map[string]any {
		return map[string]any{"ConditionCheck": map[string]any{"TableName": "t", "Key": key(pk, "PROGRESS"), "ConditionExpression": cond}}
	}
	deleteD := map[string]any{"Delete": map[string]any{
		"TableName": "t", "Key": key("d", "x"), "ConditionExpression": "v = :one",
		"ExpressionAttributeValues": map[string]any{":one": num(1)},
	}}
	putE := map[string]any{"Put": map[string]any{"TableName": "t", "Item": withAttrs("e", "x", nil)}}
	assertUnchanged := func(what string) {
		t.Helper()
		if get(t, h, "d", "x") == nil || get(t, h, "e", "x") != nil || get(t, h, "a", "PROGRESS")["next_source"].(map[string]any)["N"] != "5" {
			t.Fatalf("%s: the transaction was not undone", what)
		}
	}

	// A failed ConditionCheck (on an absent item) after a delete and a put: both undone.
	r := call(t, h, "TransactWriteItems", map[string]any{"TransactItems": []any{deleteD, putE, check("missing", "attribute_exists(PK)")}})
	if !strings.Contains(r.text, "[None, None, ConditionalCheckFailed]") {
		t.Fatalf("failed ConditionCheck: %s", r.text)
	}
	assertUnchanged("failed ConditionCheck")

	// An invalid update expression after a delete: ValidationException, the delete undone.
	r = call(t, h, "TransactWriteItems", map[string]any{"TransactItems": []any{deleteD, map[string]any{"Update": map[string]any{
		"TableName": "t", "Key": key("a", "PROGRESS"), "UpdateExpression": "SET = :x",
		"ExpressionAttributeValues": map[string]any{":x": num(1)},
	}}}})
	if r.errorType() != "ValidationException" {
		t.Fatalf("invalid update: %d %s", r.status, r.text)
	}
	assertUnchanged("invalid update")

	// The same item twice.
	r = call(t, h, "TransactWriteItems", map[string]any{"TransactItems": []any{putE, map[string]any{"Delete": map[string]any{"TableName": "t", "Key": key("e", "x")}}}})
	if r.errorType() != "ValidationException" || !strings.Contains(r.text, "multiple operations on one item") {
		t.Fatalf("one item twice: %s", r.text)
	}
	assertUnchanged("one item twice")

	// An undefined :value is a ValidationException, not a failed condition.
	r = call(t, h, "TransactWriteItems", map[string]any{"TransactItems": []any{deleteD, check("a", "next_source = :five")}})
	if r.errorType() != "ValidationException" || !strings.Contains(r.text, "attribute value: :five") {
		t.Fatalf("undefined value: %s", r.text)
	}
	assertUnchanged("undefined value")

	// Passing ConditionChecks (existing and absent items) change nothing; the rest applies.
	five := check("a", "next_source = :five")
	five["ConditionCheck"].(map[string]any)["ExpressionAttributeValues"] = map[string]any{":five": num(5)}
	mustOK(t, call(t, h, "TransactWriteItems", map[string]any{"TransactItems": []any{
		five, check("missing", "attribute_not_exists(PK)"), deleteD, putE,
	}}))
	if get(t, h, "d", "x") != nil || get(t, h, "e", "x") == nil || get(t, h, "missing", "PROGRESS") != nil {
		t.Fatal("passing transaction not applied as asked")
	}
}

func TestUndefinedExpressionValues(t *testing.T) {
	h := newTable(t)
	mustOK(t, put(t, h, withAttrs("a", "b", map[string]any{"v": num(1)})))
	for op, req := range map[string]map[string]any{
		"PutItem":    {"TableName": "t", "Item": key("a", "b"), "ConditionExpression": "v = :zz"},
		"UpdateItem": {"TableName": "t", "Key": key("a", "b"), "UpdateExpression": "SET w = :w"},
		"DeleteItem": {"TableName": "t", "Key": key("a", "b"), "ConditionExpression": "v = :zz"},
		"Query":      {"TableName": "t", "KeyConditionExpression": "PK = :p"},
	} {
		if r := call(t, h, op, req); r.errorType() != "ValidationException" || !strings.Contains(r.text, "is not defined") {
			t.Errorf("%s: %d %s", op, r.status, r.text)
		}
	}
	if it := get(t, h, "a", "b"); it["w"] != nil || it["v"] == nil {
		t.Fatalf("item changed: %v", it)
	}
	raw := miniserver.NewServer()
	createTable(t, raw, "t")
	mustOK(t, put(t, raw, key("a", "b")))
	mustOK(t, call(t, raw, "UpdateItem", map[string]any{"TableName": "t", "Key": key("a", "b"), "UpdateExpression": "SET w = :w"}))
	if !strings.Contains(mustOK(t, call(t, raw, "GetItem", map[string]any{"TableName": "t", "Key": key("a", "b")})).text, `"w":{"NULL":true}`) {
		t.Fatal("raw minidyn no longer sets NULL for an undefined value")
	}
}

func TestPutItemReturnValues(t *testing.T) {
	h := newTable(t)
	if r := mustOK(t, put(t, h, withAttrs("a", "b", map[string]any{"v": num(1)}))); len(r.body) != 0 {
		t.Fatalf("PutItem without ReturnValues: %s", r.text)
	}
	r := mustOK(t, call(t, h, "PutItem", map[string]any{
		"TableName": "t", "Item": withAttrs("a", "b", map[string]any{"v": num(2)}), "ReturnValues": "ALL_OLD",
	}))
	if !strings.Contains(r.text, `"v":{"N":"1"}`) {
		t.Fatalf("PutItem ALL_OLD: %s", r.text)
	}
	raw := miniserver.NewServer()
	createTable(t, raw, "t")
	if r := mustOK(t, put(t, raw, withAttrs("a", "b", nil))); r.body["Attributes"] == nil {
		t.Fatalf("raw minidyn now answers PutItem without the new item: %s", r.text)
	}
}

func TestBatchDuplicateKeys(t *testing.T) {
	h := newTable(t)
	r := call(t, h, "BatchGetItem", map[string]any{"RequestItems": map[string]any{
		"t": map[string]any{"Keys": []any{key("a", "b"), key("a", "b")}},
	}})
	if r.errorType() != "ValidationException" || !strings.Contains(r.text, duplicateKeys) {
		t.Fatalf("BatchGetItem: %s", r.text)
	}
	r = call(t, h, "BatchWriteItem", map[string]any{"RequestItems": map[string]any{"t": []any{
		map[string]any{"PutRequest": map[string]any{"Item": key("a", "b")}},
		map[string]any{"DeleteRequest": map[string]any{"Key": key("a", "b")}},
	}}})
	if r.errorType() != "ValidationException" {
		t.Fatalf("BatchWriteItem: %s", r.text)
	}
}

func TestQueryPagesStopAtOneMegabyte(t *testing.T) {
	h := newTable(t)
	big := strings.Repeat("z", 100*1024)
	for i := 0; i < 25; i++ {
		mustOK(t, put(t, h, withAttrs("p", fmt.Sprintf("SEG#%02d", i), map[string]any{"doc": str(big)})))
	}
	var seen []string
	var start any
	pages := 0
	for {
		req := map[string]any{
			"TableName":                 "t",
			"KeyConditionExpression":    "PK = :pk",
			"ExpressionAttributeValues": map[string]any{":pk": str("p")},
		}
		if start != nil {
			req["ExclusiveStartKey"] = start
		}
		r := mustOK(t, call(t, h, "Query", req))
		pages++
		items, _ := r.body["Items"].([]any)
		if len(items) > 10 {
			t.Fatalf("page of %d items of 100 KB", len(items))
		}
		for _, it := range items {
			seen = append(seen, it.(map[string]any)["SK"].(map[string]any)["S"].(string))
		}
		start = r.body["LastEvaluatedKey"]
		if start == nil {
			break
		}
	}
	if pages < 3 || len(seen) != 25 || seen[0] != "SEG#00" || seen[24] != "SEG#24" {
		t.Fatalf("%d pages: %v", pages, seen)
	}
}

func TestKeysThatMinidynWouldConfuse(t *testing.T) {
	h := newTable(t)
	mustOK(t, put(t, h, withAttrs("a.b", "c", map[string]any{"v": num(1)})))
	r := put(t, h, withAttrs("a", "b.c", map[string]any{"v": num(2)}))
	if r.errorType() != "ValidationException" || !strings.Contains(r.text, "<hash>.<range>") {
		t.Fatalf("colliding put: %s", r.text)
	}
	if get(t, h, "a", "b.c") != nil {
		t.Fatal("GetItem of the other key found the stored item")
	}
	if get(t, h, "a.b", "c")["v"].(map[string]any)["N"] != "1" {
		t.Fatal("stored item changed")
	}

	raw := miniserver.NewServer()
	createTable(t, raw, "t")
	mustOK(t, put(t, raw, withAttrs("a.b", "c", map[string]any{"v": num(1)})))
	mustOK(t, put(t, raw, withAttrs("a", "b.c", map[string]any{"v": num(2)})))
	if it := get(t, raw, "a.b", "c"); it["PK"].(map[string]any)["S"] == "a.b" {
		t.Fatal("raw minidyn now keeps both items")
	}
}

// Table operations race with item operations inside minidyn (run with -race): the proxy
// serialises every request.
func TestConcurrentRequests(t *testing.T) {
	srv := httptest.NewServer(newProxy(miniserver.NewServer()))
	defer srv.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			table := fmt.Sprintf("t%d", g)
			send := func(op string, req any) {
				body, _ := json.Marshal(req)
				r, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
				r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Error(err)
					return
				}
				_ = resp.Body.Close()
			}
			for i := 0; i < 20; i++ {
				send("CreateTable", map[string]any{
					"TableName":            table,
					"KeySchema":            []map[string]string{{"AttributeName": "PK", "KeyType": "HASH"}},
					"AttributeDefinitions": []map[string]string{{"AttributeName": "PK", "AttributeType": "S"}},
					"BillingMode":          "PAY_PER_REQUEST",
				})
				send("PutItem", map[string]any{"TableName": table, "Item": map[string]any{"PK": str("x")}})
				send("DescribeTable", map[string]any{"TableName": table})
				send("DeleteTable", map[string]any{"TableName": table})
			}
		}(g)
	}
	wg.Wait()
}

func TestItemSizes(t *testing.T) {
	for _, c := range []struct {
		json string
		want int
	}{
		{`{"a": {"S": "hello"}}`, 1 + 5},
		{`{"n": {"N": "12345"}}`, 1 + 4},
		{`{"n": {"N": "-0.00100"}}`, 1 + 2},
		{`{"b": {"B": "AAEC"}}`, 1 + 3},
		{`{"t": {"BOOL": true}, "z": {"NULL": true}}`, 2 + 2},
		{`{"l": {"L": [{"S": "ab"}, {"N": "1"}]}}`, 1 + 3 + (1 + 2) + (1 + 2)},
		{`{"m": {"M": {"k": {"S": "v"}}}}`, 1 + 3 + 1 + 1 + 1},
		{`{"s": {"SS": ["a", "bc"]}}`, 1 + 3},
	} {
		var it item
		if err := json.Unmarshal([]byte(c.json), &it); err != nil {
			t.Fatal(err)
		}
		if got := itemSize(it); got != c.want {
			t.Errorf("%s: %d, want %d", c.json, got, c.want)
		}
	}
}

// Overhead of the proxy over minidyn alone (in process, no HTTP), on a 3,000-item table:
// go test -run '^$' -bench . -benchtime 2000x
func benchTable(b *testing.B, h http.Handler) {
	t := &testing.T{}
	createTable(t, h, "t")
	for i := 0; i < 3000; i++ {
		put(t, h, withAttrs(fmt.Sprintf("TP#bench#%d", i%25), fmt.Sprintf("SEG#%020d", i), map[string]any{"source_start": num(i)}))
	}
	for p := 0; p < 25; p++ {
		put(t, h, withAttrs(fmt.Sprintf("TP#bench#%d", p), "PROGRESS", map[string]any{"next_source": num(0)}))
	}
}

func benchmarkUpdate(b *testing.B, h http.Handler) {
	benchTable(b, h)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := call(&testing.T{}, h, "UpdateItem", progressUpdate("TP#bench#0", 10*i)["Update"])
		if r.status != http.StatusOK {
			b.Fatal(r.text)
		}
	}
}

func benchmarkTransact(b *testing.B, h http.Handler) {
	benchTable(b, h)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		actions := []any{}
		for p := 1; p <= 3; p++ {
			pk := fmt.Sprintf("TP#bench#%d", p)
			actions = append(actions, progressUpdate(pk, 10*i),
				map[string]any{"Put": map[string]any{"TableName": "t", "Item": withAttrs(pk, fmt.Sprintf("SEG#9%019d", i), nil)}})
		}
		if r := call(&testing.T{}, h, "TransactWriteItems", map[string]any{"TransactItems": actions}); r.status != http.StatusOK {
			b.Fatal(r.text)
		}
	}
}

func BenchmarkUpdateItemRaw(b *testing.B)   { benchmarkUpdate(b, miniserver.NewServer()) }
func BenchmarkUpdateItemProxy(b *testing.B) { benchmarkUpdate(b, newProxy(miniserver.NewServer())) }
func BenchmarkTransactRaw(b *testing.B)     { benchmarkTransact(b, miniserver.NewServer()) }
func BenchmarkTransactProxy(b *testing.B)   { benchmarkTransact(b, newProxy(miniserver.NewServer())) }
