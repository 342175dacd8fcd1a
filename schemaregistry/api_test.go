package schemaregistry

import (
	"net/http"
	"testing"
)

const (
	avroUser   = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	avroUserV2 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	avroFixed  = `{"type":"fixed","name":"F","size":4}`
	avroUserV3 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
)

// TestRegisterAndRead covers registration and every read endpoint on one
// writer over a memory log: ids, versions, dedup and the raw schema forms.
func TestRegisterAndRead(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	expect(t, u, "GET", "/subjects", nil, 200, `[]`)
	expect(t, u, "GET", "/schemas/types", nil, 200, `["JSON","PROTOBUF","AVRO"]`)
	expect(t, u, "POST", "/subjects/users-value/versions", schemaBody(avroUser), 200, `{"id":1}`)
	// The same schema, differently spaced, is the same schema.
	expect(t, u, "POST", "/subjects/users-value/versions", schemaBody(`{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]}`), 200, `{"id":1}`)
	expect(t, u, "POST", "/subjects/users-value/versions", schemaBody(avroUserV2), 200, `{"id":2}`)
	// The same schema under another subject keeps its id.
	expect(t, u, "POST", "/subjects/other/versions", schemaBody(avroUser), 200, `{"id":1}`)
	expect(t, u, "GET", "/subjects", nil, 200, `["other","users-value"]`)
	expect(t, u, "GET", "/subjects?subjectPrefix=us", nil, 200, `["users-value"]`)
	expect(t, u, "GET", "/subjects/users-value/versions", nil, 200, `[1,2]`)
	expect(t, u, "GET", "/subjects/users-value/versions/1", nil, 200, `{"subject":"users-value","version":1,"id":1,"schema":"{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"}]}"}`)
	expect(t, u, "GET", "/subjects/users-value/versions/latest", nil, 200, `{"subject":"users-value","version":2,"id":2,"schema":"{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"age\",\"type\":\"int\",\"default\":0}]}"}`)
	expect(t, u, "GET", "/subjects/users-value/versions/-1/schema", nil, 200, avroUserV2)
	expect(t, u, "GET", "/schemas/ids/1", nil, 200, `{"schema":"{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"}]}"}`)
	expect(t, u, "GET", "/schemas/ids/1/schema", nil, 200, avroUser)
	expect(t, u, "GET", "/schemas/ids/1/versions", nil, 200, `[{"subject":"other","version":1},{"subject":"users-value","version":1}]`)
	expect(t, u, "GET", "/schemas/ids/1/subjects", nil, 200, `["other","users-value"]`)
	expect(t, u, "POST", "/subjects/users-value", schemaBody(avroUser), 200, `{"subject":"users-value","version":1,"id":1,"schema":"{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"}]}"}`)
	expect(t, u, "GET", "/", nil, 200, `{}`)
}

// TestErrorCodes checks each error code against Confluent's.
func TestErrorCodes(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	expect(t, u, "GET", "/subjects/nope/versions", nil, 404, `{"error_code":40401,"message":"Subject 'nope' not found."}`)
	expectCode(t, u, "GET", "/subjects/nope/versions/1", nil, 404, 40401)
	expectCode(t, u, "POST", "/subjects/nope", schemaBody(avroUser), 404, 40401)
	expect(t, u, "POST", "/subjects/s/versions", schemaBody(avroUser), 200, `{"id":1}`)
	expect(t, u, "GET", "/subjects/s/versions/7", nil, 404, `{"error_code":40402,"message":"Version 7 not found."}`)
	expect(t, u, "GET", "/schemas/ids/99", nil, 404, `{"error_code":40403,"message":"Schema 99 not found"}`)
	expectCode(t, u, "POST", "/subjects/s", schemaBody(`"string"`), 404, 40403)
	for _, v := range []string{"0", "abc", "-2", "2147483648"} {
		expectCode(t, u, "GET", "/subjects/s/versions/"+v, nil, 422, 42202)
	}
	expectCode(t, u, "POST", "/subjects/s/versions", schemaBody(`{"type":"record"}`), 422, 42201)
	expectCode(t, u, "POST", "/subjects/s/versions", schemaBody(``), 422, 42201)
	expectCode(t, u, "POST", "/subjects/s/versions", schemaBody(`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`), 422, 42201)
	// A subject with an escaped slash is one path segment.
	expect(t, u, "POST", "/subjects/a%2Fb/versions", schemaBody(`"string"`), 200, `{"id":2}`)
	expect(t, u, "GET", "/subjects/a%2Fb/versions", nil, 200, `[1]`)
	expectCode(t, u, "POST", "/subjects/s/versions", map[string]any{"schema": avroUser, "schemaType": "XML"}, 422, 42201)
	expectCode(t, u, "POST", "/subjects/s/versions", map[string]any{"schema": avroUser, "references": []Reference{{Name: "x", Subject: "missing", Version: 1}}}, 422, 42201)
	expectCode(t, u, "POST", "/subjects/s/versions", `{not json`, 422, 422)
	expectCode(t, u, "PUT", "/config", map[string]string{"compatibility": "SIDEWAYS"}, 422, 42203)
	expectCode(t, u, "PUT", "/mode", map[string]string{"mode": "WRITEONLY"}, 422, 42204)
	// An incompatible schema: 409 with error_code 409.
	status, body := call(t, u, "POST", "/subjects/s/versions", schemaBody(avroUserV3))
	if status != 409 || !contains(body, `"error_code":409`) || !contains(body, `Schema being registered is incompatible with an earlier schema for subject \"s\"`) {
		t.Errorf("incompatible register: %d %s", status, body)
	}
	expectCode(t, u, "GET", "/no/such/path", nil, 404, 404)
	expectCode(t, u, "PATCH", "/subjects", nil, 405, 405)
	status, _ = callWithType(t, u, "POST", "/subjects/s/versions", "text/plain", `{"schema":"\"string\""}`)
	if status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: status %d", status)
	}
	if status, _ := callWithType(t, u, "POST", "/subjects/s2/versions", "application/json", `{"schema":"\"string\""}`); status != 200 {
		t.Errorf("application/json body: status %d", status)
	}
}

// TestDelete covers soft and hard deletion of versions and subjects and
// their error codes, and that ids keep resolving after a soft delete.
func TestDelete(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	expect(t, u, "PUT", "/config", map[string]string{"compatibility": "NONE"}, 200, `{"compatibility":"NONE"}`)
	expect(t, u, "POST", "/subjects/s/versions", schemaBody(avroUser), 200, `{"id":1}`)
	expect(t, u, "POST", "/subjects/s/versions", schemaBody(avroUserV2), 200, `{"id":2}`)
	expect(t, u, "POST", "/subjects/s/versions", schemaBody(avroUserV3), 200, `{"id":3}`)

	expectCode(t, u, "DELETE", "/subjects/s/versions/1?permanent=true", nil, 404, 40407)
	expect(t, u, "DELETE", "/subjects/s/versions/1", nil, 200, `1`)
	expectCode(t, u, "DELETE", "/subjects/s/versions/1", nil, 404, 40406)
	expect(t, u, "GET", "/subjects/s/versions", nil, 200, `[2,3]`)
	expect(t, u, "GET", "/subjects/s/versions?deleted=true", nil, 200, `[1,2,3]`)
	expectCode(t, u, "GET", "/subjects/s/versions/1", nil, 404, 40402)
	expect(t, u, "GET", "/subjects/s/versions/1/schema?deleted=true", nil, 200, avroUser)
	expect(t, u, "GET", "/schemas/ids/1/schema", nil, 200, avroUser)
	expect(t, u, "DELETE", "/subjects/s/versions/latest", nil, 200, `3`)
	expect(t, u, "DELETE", "/subjects/s/versions/1?permanent=true", nil, 200, `1`)
	expectCode(t, u, "DELETE", "/subjects/s/versions/1", nil, 404, 40402)
	expectCode(t, u, "GET", "/schemas/ids/1", nil, 404, 40403)
	expectCode(t, u, "DELETE", "/subjects/s/versions/9", nil, 404, 40402)
	expectCode(t, u, "DELETE", "/subjects/zz/versions/1", nil, 404, 40401)
	expectCode(t, u, "DELETE", "/subjects/s/versions/x", nil, 422, 42202)

	expectCode(t, u, "DELETE", "/subjects/s?permanent=true", nil, 404, 40405)
	expect(t, u, "DELETE", "/subjects/s", nil, 200, `[2]`)
	expectCode(t, u, "DELETE", "/subjects/s", nil, 404, 40404)
	expect(t, u, "GET", "/subjects", nil, 200, `[]`)
	expect(t, u, "GET", "/subjects?deleted=true", nil, 200, `["s"]`)
	// Re-registering a soft-deleted schema makes a new version, same id.
	expect(t, u, "POST", "/subjects/s/versions", schemaBody(avroUserV2), 200, `{"id":2}`)
	expect(t, u, "GET", "/subjects/s/versions", nil, 200, `[4]`)
	expect(t, u, "DELETE", "/subjects/s", nil, 200, `[4]`)
	expect(t, u, "DELETE", "/subjects/s?permanent=true", nil, 200, `[2,3,4]`)
	expect(t, u, "GET", "/subjects?deleted=true", nil, 200, `[]`)
	expectCode(t, u, "DELETE", "/subjects/s", nil, 404, 40401)
	// Ids are not reused after a hard delete.
	expect(t, u, "POST", "/subjects/t/versions", schemaBody(`"string"`), 200, `{"id":4}`)
}

// TestConfigAndMode covers /config and /mode, global and per subject,
// and that READONLY and IMPORT modes govern registration.
func TestConfigAndMode(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	expect(t, u, "GET", "/config", nil, 200, `{"compatibilityLevel":"BACKWARD"}`)
	expect(t, u, "PUT", "/config", map[string]string{"compatibility": "full"}, 200, `{"compatibility":"FULL"}`)
	expect(t, u, "GET", "/config", nil, 200, `{"compatibilityLevel":"FULL"}`)
	expect(t, u, "POST", "/subjects/s/versions", schemaBody(avroUser), 200, `{"id":1}`)
	expect(t, u, "GET", "/config/s", nil, 404, `{"error_code":40408,"message":"Subject 's' does not have subject-level compatibility configured"}`)
	expect(t, u, "GET", "/config/s?defaultToGlobal=true", nil, 200, `{"compatibilityLevel":"FULL"}`)
	expect(t, u, "PUT", "/config/s", map[string]string{"compatibility": "NONE"}, 200, `{"compatibility":"NONE"}`)
	expect(t, u, "GET", "/config/s", nil, 200, `{"compatibilityLevel":"NONE"}`)
	expect(t, u, "POST", "/subjects/s/versions", schemaBody(avroUserV3), 200, `{"id":2}`)
	expect(t, u, "DELETE", "/config/s", nil, 200, `{"compatibilityLevel":"NONE"}`)
	expectCode(t, u, "GET", "/config/s", nil, 404, 40408)
	expectCode(t, u, "DELETE", "/config/unknown", nil, 404, 40401)
	expect(t, u, "DELETE", "/config", nil, 200, `{"compatibilityLevel":"FULL"}`)
	expect(t, u, "GET", "/config", nil, 200, `{"compatibilityLevel":"BACKWARD"}`)

	expect(t, u, "GET", "/mode", nil, 200, `{"mode":"READWRITE"}`)
	expectCode(t, u, "GET", "/mode/s", nil, 404, 40409)
	expect(t, u, "GET", "/mode/s?defaultToGlobal=true", nil, 200, `{"mode":"READWRITE"}`)
	expect(t, u, "PUT", "/mode/s", map[string]string{"mode": "READONLY"}, 200, `{"mode":"READONLY"}`)
	expectCode(t, u, "POST", "/subjects/s/versions", schemaBody(`"string"`), 422, 42205)
	expectCode(t, u, "DELETE", "/subjects/s", nil, 422, 42205)
	expect(t, u, "DELETE", "/mode/s", nil, 200, `{"mode":"READONLY"}`)
	expectCode(t, u, "PUT", "/mode", map[string]string{"mode": "IMPORT"}, 422, 42205)
	expect(t, u, "PUT", "/mode/fresh", map[string]string{"mode": "IMPORT"}, 200, `{"mode":"IMPORT"}`)
	// IMPORT keeps the given id and version and skips compatibility.
	expect(t, u, "POST", "/subjects/fresh/versions", map[string]any{"schema": avroFixed, "id": 100, "version": 5}, 200, `{"id":100}`)
	expect(t, u, "GET", "/subjects/fresh/versions", nil, 200, `[5]`)
	expectCode(t, u, "POST", "/subjects/fresh/versions", map[string]any{"schema": avroUserV2, "id": 100}, 422, 42207)
	expectCode(t, u, "POST", "/subjects/s/versions", map[string]any{"schema": `"int"`, "id": 7}, 422, 42205)
	expect(t, u, "PUT", "/mode", map[string]string{"mode": "READONLY"}, 200, `{"mode":"READONLY"}`)
	expectCode(t, u, "POST", "/subjects/x/versions", schemaBody(`"string"`), 422, 42205)
	expect(t, u, "DELETE", "/mode", nil, 200, `{"mode":"READONLY"}`)
	// The next id continues after the imported one.
	expect(t, u, "POST", "/subjects/x/versions", schemaBody(`"long"`), 200, `{"id":101}`)
}

// TestCompatibilityEndpoint covers POST /compatibility with and without a
// version and ?verbose=true.
func TestCompatibilityEndpoint(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	expect(t, u, "POST", "/compatibility/subjects/s/versions", schemaBody(avroUser), 200, `{"is_compatible":true}`)
	expectCode(t, u, "POST", "/compatibility/subjects/s/versions/latest", schemaBody(avroUser), 404, 40401)
	expect(t, u, "POST", "/subjects/s/versions", schemaBody(avroUser), 200, `{"id":1}`)
	expect(t, u, "POST", "/compatibility/subjects/s/versions/latest", schemaBody(avroUserV2), 200, `{"is_compatible":true}`)
	expect(t, u, "POST", "/compatibility/subjects/s/versions/1?verbose=true", schemaBody(avroUserV2), 200, `{"is_compatible":true,"messages":[]}`)
	expect(t, u, "POST", "/compatibility/subjects/s/versions/1", schemaBody(avroUserV3), 200, `{"is_compatible":false}`)
	status, body := call(t, u, "POST", "/compatibility/subjects/s/versions/1?verbose=true", schemaBody(avroUserV3))
	if status != 200 || !contains(body, `"is_compatible":false,"messages":["`) {
		t.Errorf("verbose incompatible: %d %s", status, body)
	}
	expectCode(t, u, "POST", "/compatibility/subjects/s/versions/2", schemaBody(avroUserV2), 404, 40402)
	expectCode(t, u, "POST", "/compatibility/subjects/s/versions/zero", schemaBody(avroUserV2), 422, 42202)
	expectCode(t, u, "POST", "/compatibility/subjects/s/versions/1", schemaBody(`{`), 422, 42201)
}

// TestReferences covers Avro references: registration, referencedby, and
// that a referenced version cannot be deleted.
func TestReferences(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	expect(t, u, "POST", "/subjects/address/versions", schemaBody(`{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"street","type":"string"}]}`), 200, `{"id":1}`)
	withRef := map[string]any{
		"schema":     `{"type":"record","name":"Customer","namespace":"acme","fields":[{"name":"home","type":"acme.Address"}]}`,
		"references": []Reference{{Name: "acme.Address", Subject: "address", Version: 1}},
	}
	expect(t, u, "POST", "/subjects/customer/versions", withRef, 200, `{"id":2}`)
	expect(t, u, "POST", "/subjects/customer/versions", withRef, 200, `{"id":2}`)
	expect(t, u, "GET", "/subjects/address/versions/1/referencedby", nil, 200, `[2]`)
	expect(t, u, "GET", "/subjects/customer/versions/1/referencedby", nil, 200, `[]`)
	expect(t, u, "GET", "/schemas/ids/2", nil, 200, `{"references":[{"name":"acme.Address","subject":"address","version":1}],"schema":"{\"type\":\"record\",\"name\":\"Customer\",\"namespace\":\"acme\",\"fields\":[{\"name\":\"home\",\"type\":\"acme.Address\"}]}"}`)
	expectCode(t, u, "DELETE", "/subjects/address/versions/1", nil, 422, 42206)
	expectCode(t, u, "DELETE", "/subjects/address", nil, 422, 42206)
	// Without the reference the type is unknown.
	expectCode(t, u, "POST", "/subjects/c2/versions", schemaBody(`{"type":"record","name":"C","fields":[{"name":"home","type":"acme.Address"}]}`), 422, 42201)
	expect(t, u, "DELETE", "/subjects/customer", nil, 200, `[1]`)
	expect(t, u, "DELETE", "/subjects/address/versions/1", nil, 200, `1`)
}

// TestForwarding checks that a follower forwards writes to the writer
// and reads them back at once, and answers 50004 with no writer.
func TestForwarding(t *testing.T) {
	log := newMemoryLog()
	_, leader := startMemory(t, log, true, "")
	_, follower := startMemory(t, log, false, leader)
	expect(t, follower, "POST", "/subjects/s/versions", schemaBody(avroUser), 200, `{"id":1}`)
	expect(t, follower, "GET", "/subjects/s/versions", nil, 200, `[1]`)
	expect(t, follower, "PUT", "/config/s", map[string]string{"compatibility": "NONE"}, 200, `{"compatibility":"NONE"}`)
	expect(t, follower, "GET", "/config/s", nil, 200, `{"compatibilityLevel":"NONE"}`)
	expectCode(t, follower, "GET", "/subjects/s/versions/9", nil, 404, 40402)
	expect(t, leader, "GET", "/subjects/s/versions/1/schema", nil, 200, avroUser)
	_, orphan := startMemory(t, log, false, "")
	expectCode(t, orphan, "POST", "/subjects/s/versions", schemaBody(avroUser), 500, 50004)
	expect(t, orphan, "GET", "/subjects/s/versions", nil, 200, `[1]`)
}

// TestJSONSchemaRegistration covers JSON schemas through the API: the
// type is kept, references resolve by name, a $ref outside the schema and
// its references is refused, and compatibility applies.
func TestJSONSchemaRegistration(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	address := `{"type":"object","properties":{"street":{"type":"string"}}}`
	expect(t, u, "POST", "/subjects/address/versions", map[string]any{"schemaType": "JSON", "schema": address}, 200, `{"id":1}`)
	customer := map[string]any{
		"schemaType": "JSON",
		"schema":     `{"type":"object","properties":{"home":{"$ref":"address.json"}},"additionalProperties":false}`,
		"references": []Reference{{Name: "address.json", Subject: "address", Version: 1}},
	}
	expect(t, u, "POST", "/subjects/customer/versions", customer, 200, `{"id":2}`)
	expect(t, u, "GET", "/schemas/ids/2", nil, 200, `{"schemaType":"JSON","references":[{"name":"address.json","subject":"address","version":1}],"schema":"{\"type\":\"object\",\"properties\":{\"home\":{\"$ref\":\"address.json\"}},\"additionalProperties\":false}"}`)
	expect(t, u, "GET", "/subjects/address/versions/1", nil, 200, `{"subject":"address","version":1,"id":1,"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"street\":{\"type\":\"string\"}}}"}`)
	expectCode(t, u, "POST", "/subjects/x/versions", map[string]any{"schemaType": "JSON", "schema": `{"$ref":"file:///etc/passwd"}`}, 422, 42201)
	expectCode(t, u, "POST", "/subjects/x/versions", map[string]any{"schemaType": "JSON", "schema": `{"type":"nonsense"}`}, 422, 42201)
	expectCode(t, u, "POST", "/subjects/x/versions", map[string]any{"schemaType": "JSON", "schema": `[1]`}, 422, 42201)
	expect(t, u, "POST", "/subjects/address/versions", map[string]any{"schemaType": "JSON", "schema": `{"type":"object","properties":{"street":{"type":["string","null"]}}}`}, 200, `{"id":3}`)
	expectCode(t, u, "POST", "/subjects/address/versions", map[string]any{"schemaType": "JSON", "schema": `{"type":"object","properties":{"street":{"type":"string"}},"additionalProperties":false}`}, 409, 409)
	status, body := call(t, u, "POST", "/subjects/address/versions", map[string]any{"schemaType": "JSON", "schema": `{"type":"object","properties":{"street":{"type":"integer"}}}`})
	if status != 409 {
		t.Errorf("incompatible JSON schema: %d %s", status, body)
	}
	expectCode(t, u, "POST", "/subjects/address/versions", schemaBody(avroUser), 409, 409)
}

// TestProtobufRegistration covers Protobuf schemas through the API:
// imports resolve through references, comments and layout do not make a
// new schema, and compatibility applies.
func TestProtobufRegistration(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	common := "syntax = \"proto3\";\npackage acme;\nmessage Money { int64 cents = 1; }\n"
	expect(t, u, "POST", "/subjects/money/versions", map[string]any{"schemaType": "PROTOBUF", "schema": common}, 200, `{"id":1}`)
	order := "syntax = \"proto3\";\npackage acme;\nimport \"acme/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\nmessage Order { Money total = 1; google.protobuf.Timestamp at = 2; }\n"
	withRef := map[string]any{"schemaType": "PROTOBUF", "schema": order, "references": []Reference{{Name: "acme/money.proto", Subject: "money", Version: 1}}}
	expect(t, u, "POST", "/subjects/orders-value/versions", withRef, 200, `{"id":2}`)
	commented := map[string]any{"schemaType": "PROTOBUF", "schema": "// Orders.\n" + order, "references": withRef["references"]}
	expect(t, u, "POST", "/subjects/orders-value", commented, 200, `{"subject":"orders-value","version":1,"id":2,"schemaType":"PROTOBUF","references":[{"name":"acme/money.proto","subject":"money","version":1}],"schema":"syntax = \"proto3\";\npackage acme;\nimport \"acme/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\nmessage Order { Money total = 1; google.protobuf.Timestamp at = 2; }\n"}`)
	expectCode(t, u, "POST", "/subjects/x/versions", map[string]any{"schemaType": "PROTOBUF", "schema": order}, 422, 42201)
	expectCode(t, u, "POST", "/subjects/x/versions", map[string]any{"schemaType": "PROTOBUF", "schema": "message {"}, 422, 42201)
	expectCode(t, u, "POST", "/subjects/money/versions", map[string]any{"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\npackage acme;\nmessage Money { string cents = 1; }\n"}, 409, 409)
	expect(t, u, "POST", "/subjects/money/versions", map[string]any{"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\npackage acme;\nmessage Money { int64 cents = 1; string currency = 2; }\n"}, 200, `{"id":3}`)
	expect(t, u, "GET", "/subjects/money/versions/1/referencedby", nil, 200, `[2]`)
}
