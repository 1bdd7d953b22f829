package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// proxy answers DynamoDB JSON API requests with minidyn's handler behind it, and corrects
// where minidyn v0.8.2 answers differently from DynamoDB:
//
//   - Requests are serialised: minidyn's CreateTable/DeleteTable/DescribeTable/UpdateTable
//     touch its table map without its lock, and Go's HTTP server runs requests concurrently
//     (a concurrent CreateTable and PutItem crash the process with a map race).
//   - Table descriptions carry TableStatus (CREATING from CreateTable, ACTIVE from
//     DescribeTable, DELETING from DeleteTable), TableArn, TableId, CreationDateTime,
//     AttributeDefinitions, BillingModeSummary, ProvisionedThroughput and TableSizeBytes.
//     minidyn sends none of them, so the SDK's table-exists waiter never succeeds.
//   - UpdateContinuousBackups, DescribeContinuousBackups and ListTables are answered here;
//     other operations minidyn lacks get DynamoDB's UnknownOperationException instead of a
//     text/plain 400.
//   - The 400 KB item size limit: PutItem, BatchWriteItem and transaction puts are refused
//     with ValidationException; an UpdateItem (or transaction update) whose result is too
//     large is undone and refused (ValidationException / TransactionCanceledException with
//     ValidationError).
//   - TransactWriteItems runs here (see transactWrite), without minidyn's copy of the whole
//     table: more than 100 actions is a ValidationException; a cancellation reports every
//     failed condition (minidyn stops at the first and reports None for the rest), returns the
//     old item for ReturnValuesOnConditionCheckFailure=ALL_OLD on puts (minidyn drops it), and
//     lists every reason in the message as DynamoDB does.
//   - BatchGetItem and BatchWriteItem refuse duplicate keys ("Provided list of item keys
//     contains duplicates").
//   - Query and Scan pages stop at 1 MB of items with a LastEvaluatedKey (minidyn returns
//     every match in one page).
//   - An expression using a :value that ExpressionAttributeValues lacks is a ValidationException
//     (minidyn takes the value as absent: a condition fails, an update sets NULL, a key
//     condition matches nothing).
//   - PutItem answers with the replaced item for ReturnValues=ALL_OLD and nothing otherwise
//     (minidyn returns the new item either way).
//   - minidyn keys items by "<hash>.<range>", so (PK "a.b", SK "c") and (PK "a", SK "b.c")
//     would be one item: a write of a key that collides with a stored item is refused with a
//     ValidationException naming both keys, and reads of such a key find nothing.
type proxy struct {
	mu        sync.Mutex
	inner     http.Handler
	tables    map[string]*tableMeta
	accessLog *log.Logger
	requests  atomic.Uint64
}

type keySchema struct {
	hash, rng string
}

type tableMeta struct {
	created     time.Time
	id          string
	attrDefs    json.RawMessage
	billingMode string
	provisioned map[string]any
	keys        keySchema
	pitr        bool
	pitrSince   time.Time
}

func newProxy(inner http.Handler) *proxy {
	return &proxy{inner: inner, tables: map[string]*tableMeta{}}
}

const (
	errPrefix        = "com.amazonaws.dynamodb.v20120810#"
	itemTooLarge     = "Item size has exceeded the maximum allowed size"
	updateTooLarge   = "Item size to update has exceeded the maximum allowed size"
	duplicateKeys    = "Provided list of item keys contains duplicates"
	conditionFailed  = "ConditionalCheckFailed"
	conditionMessage = "The conditional request failed"
	maxTransactItems = 100
)

// answer is a response body with its HTTP status.
type answer struct {
	status int
	body   []byte
}

// marshal is json.Marshal without HTML escaping (as DynamoDB and minidyn answer).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func apiError(status int, typ, msg string) answer {
	body, _ := marshal(map[string]string{"__type": errPrefix + typ, "message": msg})
	return answer{status, body}
}

func validation(msg string) answer {
	return apiError(http.StatusBadRequest, "ValidationException", msg)
}

func okJSON(v any) answer {
	body, err := marshal(v)
	if err != nil {
		return apiError(http.StatusInternalServerError, "InternalServerError", err.Error())
	}
	return answer{http.StatusOK, body}
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		// DynamoDB answers GET / with a health line; `scripts/stack` uses it as a probe.
		_, _ = io.WriteString(w, "healthy: minidyn "+minidynVersion()+"\n")
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}

	p.mu.Lock()
	a := p.handle(op, regionOf(r), body)
	p.mu.Unlock()

	n := p.requests.Add(1)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("minidyn-%016x", n))
	w.Header().Set("x-amz-crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(a.body)), 10))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
	if p.accessLog != nil {
		p.accessLog.Printf("%s %d %dB %v", op, a.status, len(a.body), time.Since(started).Round(time.Microsecond))
	}
}

// regionOf takes the region from the SigV4 credential scope (default us-east-1).
func regionOf(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if i := strings.Index(auth, "Credential="); i >= 0 {
		scope := strings.SplitN(auth[i+len("Credential="):], "/", 5)
		if len(scope) >= 3 && scope[2] != "" {
			return scope[2]
		}
	}
	return "us-east-1"
}

func (p *proxy) handle(op, region string, body []byte) answer {
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan":
		var req struct {
			KeyConditionExpression, UpdateExpression, ConditionExpression, FilterExpression string
			ExpressionAttributeValues                                                       item
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return validation(err.Error())
		}
		if a, bad := undefinedValue(req.ExpressionAttributeValues, map[string]string{
			"KeyConditionExpression": req.KeyConditionExpression,
			"UpdateExpression":       req.UpdateExpression,
			"ConditionExpression":    req.ConditionExpression,
			"FilterExpression":       req.FilterExpression,
		}); bad {
			return a
		}
	}
	switch op {
	case "CreateTable":
		return p.createTable(region, body)
	case "DescribeTable", "UpdateTable", "DeleteTable":
		return p.tableCall(op, region, body)
	case "ListTables":
		return p.listTables(body)
	case "UpdateContinuousBackups", "DescribeContinuousBackups":
		return p.continuousBackups(op, body)
	case "PutItem":
		return p.putItem(body)
	case "UpdateItem":
		return p.updateItem(body)
	case "DeleteItem":
		return p.deleteItem(body)
	case "GetItem":
		return p.getItemCall(body)
	case "BatchWriteItem":
		return p.batchWrite(body)
	case "BatchGetItem":
		return p.batchGet(body)
	case "TransactWriteItems":
		return p.transactWrite(body)
	case "Query", "Scan":
		return p.search(op, body)
	case "TransactGetItems":
		return p.call(op, body)
	default:
		return apiError(http.StatusBadRequest, "UnknownOperationException", "minidyn does not implement "+op)
	}
}

// call runs one request through minidyn.
func (p *proxy) call(op string, req any) answer {
	body, ok := req.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return apiError(http.StatusInternalServerError, "InternalServerError", err.Error())
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	rec := httptest.NewRecorder()
	p.inner.ServeHTTP(rec, r)
	return answer{rec.Code, bytes.TrimRight(rec.Body.Bytes(), "\n")}
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

func (p *proxy) createTable(region string, body []byte) answer {
	var in struct {
		TableName             string
		AttributeDefinitions  json.RawMessage
		KeySchema             []struct{ AttributeName, KeyType string }
		BillingMode           string
		ProvisionedThroughput map[string]any
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	a := p.call("CreateTable", body)
	if a.status != http.StatusOK {
		return a
	}
	meta := &tableMeta{
		created:     time.Now(),
		id:          newTableID(),
		attrDefs:    in.AttributeDefinitions,
		billingMode: in.BillingMode,
		provisioned: in.ProvisionedThroughput,
	}
	if meta.billingMode == "" {
		meta.billingMode = "PROVISIONED"
	}
	for _, k := range in.KeySchema {
		switch k.KeyType {
		case "HASH":
			meta.keys.hash = k.AttributeName
		case "RANGE":
			meta.keys.rng = k.AttributeName
		}
	}
	p.tables[in.TableName] = meta
	return p.describe(a, "TableDescription", in.TableName, region, meta, "CREATING")
}

func (p *proxy) tableCall(op, region string, body []byte) answer {
	var in struct {
		TableName   string
		BillingMode string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	a := p.call(op, body)
	if a.status != http.StatusOK {
		return a
	}
	meta := p.meta(in.TableName)
	switch op {
	case "DescribeTable":
		return p.describe(a, "Table", in.TableName, region, meta, "ACTIVE")
	case "UpdateTable":
		if in.BillingMode != "" {
			meta.billingMode = in.BillingMode
		}
		return p.describe(a, "TableDescription", in.TableName, region, meta, "ACTIVE")
	default: // DeleteTable
		delete(p.tables, in.TableName)
		return p.describe(a, "TableDescription", in.TableName, region, meta, "DELETING")
	}
}

// meta is what the proxy knows of a table minidyn has (created through this proxy).
func (p *proxy) meta(table string) *tableMeta {
	if m, ok := p.tables[table]; ok {
		return m
	}
	m := &tableMeta{created: time.Now(), id: newTableID(), billingMode: "PROVISIONED"}
	p.tables[table] = m
	return m
}

// describe completes minidyn's table description (under field) with what DynamoDB sends.
func (p *proxy) describe(a answer, field, table, region string, meta *tableMeta, status string) answer {
	var out map[string]map[string]any
	if err := json.Unmarshal(a.body, &out); err != nil || out[field] == nil {
		return a
	}
	d := out[field]
	// minidyn encodes the SDK's TableDescription: every absent field as null, enums as "".
	for k, v := range d {
		if v == nil || v == "" {
			delete(d, k)
		}
	}
	d["TableName"] = table
	d["TableStatus"] = status
	d["TableArn"] = "arn:aws:dynamodb:" + region + ":000000000000:table/" + table
	d["TableId"] = meta.id
	d["CreationDateTime"] = float64(meta.created.UnixMilli()) / 1000
	d["DeletionProtectionEnabled"] = false
	if len(meta.attrDefs) > 0 {
		d["AttributeDefinitions"] = meta.attrDefs
	}
	if _, ok := d["ItemCount"]; !ok {
		d["ItemCount"] = 0
	}
	d["TableSizeBytes"] = p.tableSize(table)
	throughput := map[string]any{"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0}
	if meta.billingMode == "PAY_PER_REQUEST" {
		d["BillingModeSummary"] = map[string]any{
			"BillingMode":                       "PAY_PER_REQUEST",
			"LastUpdateToPayPerRequestDateTime": float64(meta.created.UnixMilli()) / 1000,
		}
	} else {
		for k, v := range meta.provisioned {
			throughput[k] = v
		}
	}
	d["ProvisionedThroughput"] = throughput
	if meta.keys.hash == "" {
		meta.keys = keysFromDescription(d["KeySchema"])
	}
	return okJSON(out)
}

// tableSize is the total item size of a table (one Scan; only called for table descriptions).
func (p *proxy) tableSize(table string) int {
	a := p.call("Scan", map[string]any{"TableName": table})
	var out struct{ Items []item }
	if a.status != http.StatusOK || json.Unmarshal(a.body, &out) != nil {
		return 0
	}
	n := 0
	for _, it := range out.Items {
		n += itemSize(it)
	}
	return n
}

func keysFromDescription(v any) keySchema {
	var ks keySchema
	list, _ := v.([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		name, _ := m["AttributeName"].(string)
		switch m["KeyType"] {
		case "HASH":
			ks.hash = name
		case "RANGE":
			ks.rng = name
		}
	}
	return ks
}

var tableIDs atomic.Uint64

func newTableID() string {
	n := tableIDs.Add(1)
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", n)
}

func (p *proxy) listTables(body []byte) answer {
	var in struct {
		ExclusiveStartTableName string
		Limit                   int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	if in.Limit <= 0 || in.Limit > 100 {
		in.Limit = 100
	}
	names := make([]string, 0, len(p.tables))
	for name := range p.tables {
		if name > in.ExclusiveStartTableName {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := map[string]any{"TableNames": names}
	if len(names) > in.Limit {
		out["TableNames"] = names[:in.Limit]
		out["LastEvaluatedTableName"] = names[in.Limit-1]
	}
	return okJSON(out)
}

// continuousBackups answers UpdateContinuousBackups and DescribeContinuousBackups: the
// point-in-time recovery flag is kept per table (nothing is backed up).
func (p *proxy) continuousBackups(op string, body []byte) answer {
	var in struct {
		TableName                        string
		PointInTimeRecoverySpecification *struct {
			PointInTimeRecoveryEnabled bool
			RecoveryPeriodInDays       int
		}
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	meta, exists := p.tables[in.TableName]
	if !exists {
		return apiError(http.StatusBadRequest, "TableNotFoundException", "Table not found: "+in.TableName)
	}
	if op == "UpdateContinuousBackups" {
		if in.PointInTimeRecoverySpecification == nil {
			return validation("1 validation error detected: Value null at 'pointInTimeRecoverySpecification' failed to satisfy constraint: Member must not be null")
		}
		if in.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled && !meta.pitr {
			meta.pitrSince = time.Now()
		}
		meta.pitr = in.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled
	}
	pitr := map[string]any{"PointInTimeRecoveryStatus": "DISABLED"}
	if meta.pitr {
		now := float64(time.Now().UnixMilli()) / 1000
		pitr = map[string]any{
			"PointInTimeRecoveryStatus":  "ENABLED",
			"RecoveryPeriodInDays":       35,
			"EarliestRestorableDateTime": float64(meta.pitrSince.UnixMilli()) / 1000,
			"LatestRestorableDateTime":   now,
		}
	}
	return okJSON(map[string]any{"ContinuousBackupsDescription": map[string]any{
		"ContinuousBackupsStatus":        "ENABLED",
		"PointInTimeRecoveryDescription": pitr,
	}})
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

// keyOf takes a table's key attributes from an item or key.
func (p *proxy) keyOf(table string, it item) (item, bool) {
	meta, ok := p.tables[table]
	if !ok || meta.keys.hash == "" {
		return nil, false
	}
	key := item{}
	for _, name := range []string{meta.keys.hash, meta.keys.rng} {
		if name == "" {
			continue
		}
		v, ok := it[name]
		if !ok {
			return nil, false
		}
		key[name] = v
	}
	return key, true
}

// keyID identifies a key within one table (for duplicate checks).
func keyID(key item) string {
	names := make([]string, 0, len(key))
	for name := range key {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		var v any
		_ = json.Unmarshal(key[name], &v)
		canonical, _ := json.Marshal(v)
		b.WriteString(name)
		b.WriteByte(0)
		b.Write(canonical)
		b.WriteByte(0)
	}
	return b.String()
}

func sameValue(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// getItem reads one item through minidyn (nil if absent), as minidyn stores it under key.
func (p *proxy) getItem(table string, key item) item {
	a := p.call("GetItem", map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
	var out struct{ Item item }
	if a.status != http.StatusOK || json.Unmarshal(a.body, &out) != nil || len(out.Item) == 0 {
		return nil
	}
	return out.Item
}

// collision is the key of the stored item that minidyn would take for key, if that is another
// key (minidyn joins hash and range values with "."; only keys with a "." can collide).
func (p *proxy) collision(table string, key item) item {
	meta, ok := p.tables[table]
	if !ok || meta.keys.rng == "" || len(key) < 2 {
		return nil
	}
	if !bytes.ContainsRune(key[meta.keys.hash], '.') && !bytes.ContainsRune(key[meta.keys.rng], '.') {
		return nil
	}
	stored := p.getItem(table, key)
	if stored == nil {
		return nil
	}
	storedKey, _ := p.keyOf(table, stored)
	for name, v := range key {
		if !sameValue(v, storedKey[name]) {
			return storedKey
		}
	}
	return nil
}

func collisionError(table string, key, other item) answer {
	k, _ := json.Marshal(key)
	o, _ := json.Marshal(other)
	return validation(fmt.Sprintf("minidyn cannot store key %s in table %s: it keys items by <hash>.<range> and the stored item %s has the same (Ferry's minidyn wrapper refuses instead of overwriting it)", k, table, o))
}

// ---------------------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------------------

func (p *proxy) putItem(body []byte) answer {
	var in struct {
		TableName    string
		Item         item
		ReturnValues string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	if itemSize(in.Item) > maxItemBytes {
		return validation(itemTooLarge)
	}
	key, known := p.keyOf(in.TableName, in.Item)
	if known {
		if other := p.collision(in.TableName, key); other != nil {
			return collisionError(in.TableName, key, other)
		}
	}
	var before item
	if in.ReturnValues == "ALL_OLD" && known {
		before = p.getItem(in.TableName, key)
	}
	a := p.call("PutItem", body)
	if a.status != http.StatusOK {
		return a
	}
	// minidyn answers with the new item whatever ReturnValues says; DynamoDB with nothing, or
	// with the replaced item for ALL_OLD.
	if before != nil {
		return okJSON(map[string]any{"Attributes": before})
	}
	return okJSON(map[string]any{})
}

func (p *proxy) deleteItem(body []byte) answer {
	var in struct {
		TableName string
		Key       item
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	if other := p.collision(in.TableName, in.Key); other != nil {
		return collisionError(in.TableName, in.Key, other)
	}
	return p.call("DeleteItem", body)
}

func (p *proxy) getItemCall(body []byte) answer {
	var in struct {
		TableName string
		Key       item
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	if other := p.collision(in.TableName, in.Key); other != nil {
		return okJSON(map[string]any{})
	}
	return p.call("GetItem", body)
}

// restore puts back an item as it was before a write (nil: it did not exist).
func (p *proxy) restore(table string, key, before item) {
	if before == nil {
		p.call("DeleteItem", map[string]any{"TableName": table, "Key": key})
		return
	}
	p.call("PutItem", map[string]any{"TableName": table, "Item": before})
}

func (p *proxy) updateItem(body []byte) answer {
	var in struct {
		TableName string
		Key       item
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	if other := p.collision(in.TableName, in.Key); other != nil {
		return collisionError(in.TableName, in.Key, other)
	}
	before := p.getItem(in.TableName, in.Key)
	a := p.call("UpdateItem", body)
	if a.status != http.StatusOK {
		return a
	}
	if after := p.getItem(in.TableName, in.Key); itemSize(after) > maxItemBytes {
		p.restore(in.TableName, in.Key, before)
		return validation(updateTooLarge)
	}
	return a
}

type writeRequest struct {
	PutRequest    *struct{ Item item }
	DeleteRequest *struct{ Key item }
}

func (p *proxy) batchWrite(body []byte) answer {
	var in struct{ RequestItems map[string][]writeRequest }
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	for table, reqs := range in.RequestItems {
		seen := map[string]bool{}
		for _, r := range reqs {
			var key item
			var ok bool
			switch {
			case r.PutRequest != nil:
				if itemSize(r.PutRequest.Item) > maxItemBytes {
					return validation(itemTooLarge)
				}
				key, ok = p.keyOf(table, r.PutRequest.Item)
			case r.DeleteRequest != nil:
				key, ok = r.DeleteRequest.Key, true
			}
			if !ok {
				continue
			}
			id := keyID(key)
			if seen[id] {
				return validation(duplicateKeys)
			}
			seen[id] = true
			if other := p.collision(table, key); other != nil {
				return collisionError(table, key, other)
			}
		}
	}
	return p.call("BatchWriteItem", body)
}

func (p *proxy) batchGet(body []byte) answer {
	var in struct {
		RequestItems map[string]struct{ Keys []item }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	mayCollide := false
	for table, req := range in.RequestItems {
		seen := map[string]bool{}
		for _, key := range req.Keys {
			id := keyID(key)
			if seen[id] {
				return validation(duplicateKeys)
			}
			seen[id] = true
			if !mayCollide && p.collision(table, key) != nil {
				mayCollide = true
			}
		}
	}
	a := p.call("BatchGetItem", body)
	if a.status != http.StatusOK || !mayCollide {
		return a
	}
	// Drop items minidyn found under a colliding key: they are not the ones asked for.
	var out map[string]json.RawMessage
	var responses map[string][]item
	if json.Unmarshal(a.body, &out) != nil || json.Unmarshal(out["Responses"], &responses) != nil {
		return a
	}
	for table, items := range responses {
		asked := map[string]bool{}
		for _, key := range in.RequestItems[table].Keys {
			asked[keyID(key)] = true
		}
		kept := items[:0]
		for _, it := range items {
			if key, ok := p.keyOf(table, it); !ok || asked[keyID(key)] {
				kept = append(kept, it)
			}
		}
		responses[table] = kept
	}
	out["Responses"], _ = json.Marshal(responses)
	return okJSON(out)
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

type txAction struct {
	TableName                           string
	Item                                item              `json:",omitempty"`
	Key                                 item              `json:",omitempty"`
	UpdateExpression                    string            `json:",omitempty"`
	ConditionExpression                 string            `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           item              `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
}

type txOp struct {
	kind   string // Put, Update, Delete, ConditionCheck
	action *txAction
	key    item // nil if the table is unknown or the key incomplete
}

type cancellation struct {
	Code    string
	Message string `json:",omitempty"`
	Item    item   `json:",omitempty"`
}

func cancelled(reasons []cancellation) answer {
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = r.Code
	}
	body, _ := marshal(map[string]any{
		"__type":              errPrefix + "TransactionCanceledException",
		"message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
		"CancellationReasons": reasons,
	})
	return answer{http.StatusBadRequest, body}
}

// transactWrite runs a transaction here rather than in minidyn, whose TransactWriteItems deep-copies
// every table it touches (O(table): 7 ms of a 6-action transaction on 3,000 items). Requests are
// serialised, so applying the actions one by one as single-item writes, each with its condition,
// and putting back what they replaced if one fails, is atomic and isolated; each condition only
// concerns its own item and no item occurs twice, so checking it after the earlier actions is
// checking it before the transaction, as DynamoDB does.
func (p *proxy) transactWrite(body []byte) answer {
	var in struct{ TransactItems []map[string]*txAction }
	if err := json.Unmarshal(body, &in); err != nil {
		return validation(err.Error())
	}
	if n := len(in.TransactItems); n == 0 || n > maxTransactItems {
		return validation(fmt.Sprintf("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", maxTransactItems))
	}
	ops := make([]txOp, 0, len(in.TransactItems))
	seen := map[string]bool{}
	for _, entry := range in.TransactItems {
		var op txOp
		for kind, action := range entry {
			if action != nil {
				op = txOp{kind: kind, action: action}
			}
		}
		switch op.kind {
		case "Put":
			if itemSize(op.action.Item) > maxItemBytes {
				return validation(itemTooLarge)
			}
			op.key, _ = p.keyOf(op.action.TableName, op.action.Item)
		case "Update", "Delete", "ConditionCheck":
			op.key, _ = p.keyOf(op.action.TableName, op.action.Key)
		}
		if op.key == nil {
			// An unknown table, an incomplete key or a malformed action: minidyn names the error.
			return p.call("TransactWriteItems", body)
		}
		if a, bad := undefinedValue(op.action.ExpressionAttributeValues, map[string]string{
			"UpdateExpression":    op.action.UpdateExpression,
			"ConditionExpression": op.action.ConditionExpression,
		}); bad {
			return a
		}
		id := op.action.TableName + "\x00" + keyID(op.key)
		if seen[id] {
			return validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		if other := p.collision(op.action.TableName, op.key); other != nil {
			return collisionError(op.action.TableName, op.key, other)
		}
		ops = append(ops, op)
	}

	before := make([]item, len(ops))
	for i, op := range ops {
		before[i] = p.getItem(op.action.TableName, op.key)
	}
	undo := func(n int) {
		for j := n - 1; j >= 0; j-- {
			if ops[j].kind != "ConditionCheck" {
				p.restore(ops[j].action.TableName, ops[j].key, before[j])
			}
		}
	}
	for i, op := range ops {
		a := p.apply(op, before[i])
		if a.status == http.StatusOK {
			continue
		}
		undo(i)
		if !isConditionFailure(a) {
			return a
		}
		// Every failed condition is named, as DynamoDB checks them all (actions before i passed).
		reasons := make([]cancellation, len(ops))
		for j := range ops {
			switch {
			case j == i:
				reasons[j] = failedCondition(op, before[j])
			case j > i && ops[j].action.ConditionExpression != "" && !p.conditionHolds(ops[j], before[j]):
				reasons[j] = failedCondition(ops[j], before[j])
			default:
				reasons[j] = cancellation{Code: "None"}
			}
		}
		return cancelled(reasons)
	}
	for i, op := range ops {
		if op.kind == "Update" && itemSize(p.getItem(op.action.TableName, op.key)) > maxItemBytes {
			undo(len(ops))
			reasons := make([]cancellation, len(ops))
			for j := range reasons {
				reasons[j] = cancellation{Code: "None"}
			}
			reasons[i] = cancellation{Code: "ValidationError", Message: updateTooLarge}
			return cancelled(reasons)
		}
	}
	return okJSON(map[string]any{})
}

// apply runs one transaction action as a single-item write with its condition. A
// ConditionCheck writes back the item it checks (or deletes the absent item): no change.
func (p *proxy) apply(op txOp, before item) answer {
	req := *op.action
	req.ReturnValuesOnConditionCheckFailure = ""
	switch op.kind {
	case "Put":
		return p.call("PutItem", req)
	case "Update":
		return p.call("UpdateItem", req)
	case "Delete":
		return p.call("DeleteItem", req)
	default: // ConditionCheck
		return p.checkCondition(op, before)
	}
}

// checkCondition evaluates an action's condition on its item without changing it.
func (p *proxy) checkCondition(op txOp, before item) answer {
	used := map[string]bool{}
	for _, name := range placeholder.FindAllString(op.action.ConditionExpression, -1) {
		used[name] = true
	}
	req := map[string]any{"TableName": op.action.TableName, "ConditionExpression": op.action.ConditionExpression}
	names := map[string]string{}
	for k, v := range op.action.ExpressionAttributeNames {
		if used[k] {
			names[k] = v
		}
	}
	if len(names) > 0 {
		req["ExpressionAttributeNames"] = names
	}
	values := item{}
	for k, v := range op.action.ExpressionAttributeValues {
		if used[k] {
			values[k] = v
		}
	}
	if len(values) > 0 {
		req["ExpressionAttributeValues"] = values
	}
	if before != nil {
		req["Item"] = before
		return p.call("PutItem", req)
	}
	req["Key"] = op.key
	return p.call("DeleteItem", req)
}

func (p *proxy) conditionHolds(op txOp, before item) bool {
	return !isConditionFailure(p.checkCondition(op, before))
}

var (
	placeholder      = regexp.MustCompile(`[:#][A-Za-z0-9_]+`)
	valuePlaceholder = regexp.MustCompile(`:[A-Za-z0-9_]+`)
)

// undefinedValue refuses an expression that uses a :value missing from
// ExpressionAttributeValues, as DynamoDB does (minidyn takes it as absent: a condition fails, an
// update sets NULL, a key condition matches nothing).
func undefinedValue(values item, expressions map[string]string) (answer, bool) {
	for _, field := range []string{"KeyConditionExpression", "UpdateExpression", "ConditionExpression", "FilterExpression"} {
		for _, v := range valuePlaceholder.FindAllString(expressions[field], -1) {
			if _, ok := values[v]; !ok {
				return validation("Invalid " + field + ": An expression attribute value used in expression is not defined; attribute value: " + v), true
			}
		}
	}
	return answer{}, false
}

func isConditionFailure(a answer) bool {
	var e struct {
		Type string `json:"__type"`
	}
	return a.status != http.StatusOK && json.Unmarshal(a.body, &e) == nil &&
		strings.HasSuffix(e.Type, "ConditionalCheckFailedException")
}

func failedCondition(op txOp, before item) cancellation {
	r := cancellation{Code: conditionFailed, Message: conditionMessage}
	if op.action.ReturnValuesOnConditionCheckFailure == "ALL_OLD" {
		r.Item = before
	}
	return r
}

// ---------------------------------------------------------------------------------------------
// Query and Scan
// ---------------------------------------------------------------------------------------------

// search passes a Query or Scan through and cuts its page at 1 MB of items, as DynamoDB does.
func (p *proxy) search(op string, body []byte) answer {
	a := p.call(op, body)
	if a.status != http.StatusOK || len(a.body) <= maxPageBytes {
		// DynamoDB JSON is never smaller than the item sizes it encodes.
		return a
	}
	var in struct{ TableName, IndexName string }
	var out map[string]json.RawMessage
	var items []item
	if json.Unmarshal(body, &in) != nil || json.Unmarshal(a.body, &out) != nil || json.Unmarshal(out["Items"], &items) != nil {
		return a
	}
	total, cut := 0, len(items)
	for i, it := range items {
		total += itemSize(it)
		if total > maxPageBytes && i > 0 {
			cut = i
			break
		}
	}
	if cut == len(items) {
		return a
	}
	names := p.pageKeyNames(in.TableName, in.IndexName)
	last := item{}
	for _, name := range names {
		v, ok := items[cut-1][name]
		if !ok {
			return a // projected away: cannot name the page's end, keep minidyn's page
		}
		last[name] = v
	}
	out["Items"], _ = json.Marshal(items[:cut])
	out["Count"], _ = json.Marshal(cut)
	out["ScannedCount"] = out["Count"]
	out["LastEvaluatedKey"], _ = json.Marshal(last)
	return okJSON(out)
}

// pageKeyNames are the attributes of a LastEvaluatedKey: the table's key, plus the index's.
func (p *proxy) pageKeyNames(table, index string) []string {
	var names []string
	if meta, ok := p.tables[table]; ok {
		names = append(names, meta.keys.hash)
		if meta.keys.rng != "" {
			names = append(names, meta.keys.rng)
		}
	}
	if index == "" {
		return names
	}
	a := p.call("DescribeTable", map[string]any{"TableName": table})
	var out struct {
		Table struct {
			GlobalSecondaryIndexes, LocalSecondaryIndexes []struct {
				IndexName string
				KeySchema []struct{ AttributeName string }
			}
		}
	}
	if json.Unmarshal(a.body, &out) != nil {
		return names
	}
	for _, idx := range append(out.Table.GlobalSecondaryIndexes, out.Table.LocalSecondaryIndexes...) {
		if idx.IndexName != index {
			continue
		}
		for _, k := range idx.KeySchema {
			if !contains(names, k.AttributeName) {
				names = append(names, k.AttributeName)
			}
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
