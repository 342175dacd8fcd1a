package schemaregistry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

const protoPrescription = `syntax = "proto3";
package rx;

message Prescription {
  string prescription_id = 1;
  int64 patient_id = 2;
}
`

// prescriptionDescriptor is protoPrescription as a base64 FileDescriptorProto,
// the form Confluent's Python serializer registers; extra adds field 3,
// idType changes field 1's type, and jsonNames fills json_name in as protoc
// does (descriptors built at run time leave it out).
func prescriptionDescriptor(t *testing.T, extra bool, idType descriptorpb.FieldDescriptorProto_Type, jsonNames bool) string {
	t.Helper()
	field := func(name, jsonName string, number int32, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{
			Name:   proto.String(name),
			Number: proto.Int32(number),
			Label:  descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type:   typ.Enum(),
		}
		if jsonNames {
			f.JsonName = proto.String(jsonName)
		}
		return f
	}
	msg := &descriptorpb.DescriptorProto{
		Name: proto.String("Prescription"),
		Field: []*descriptorpb.FieldDescriptorProto{
			field("prescription_id", "prescriptionId", 1, idType),
			field("patient_id", "patientId", 2, descriptorpb.FieldDescriptorProto_TYPE_INT64),
		},
	}
	if extra {
		msg.Field = append(msg.Field, field("refills", "refills", 3, descriptorpb.FieldDescriptorProto_TYPE_INT32))
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("rx/prescription.proto"),
		Package:     proto.String("rx"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{msg},
	}
	raw, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func protoBody(schema string) map[string]any {
	return map[string]any{"schema": schema, "schemaType": "PROTOBUF"}
}

// decodeSerialized reads a response's "schema" as a base64
// FileDescriptorProto.
func decodeSerialized(t *testing.T, body string) *descriptorpb.FileDescriptorProto {
	t.Helper()
	var resp struct {
		Schema string `json:"schema"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	raw, err := base64.StdEncoding.DecodeString(resp.Schema)
	if err != nil {
		t.Fatalf("schema %q is not base64: %v", resp.Schema, err)
	}
	fdp := &descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(raw, fdp); err != nil {
		t.Fatalf("schema is not a FileDescriptorProto: %v", err)
	}
	return fdp
}

// TestProtobufSerializedDescriptor: a PROTOBUF schema may be registered as
// a base64 FileDescriptorProto (Confluent's Python serializer does, with
// descriptors that may lack json_name), is the same schema as its .proto
// text, is checked for compatibility like one, and ?format=serialized
// answers any PROTOBUF schema in that form (Confluent's Python
// deserializer asks for it).
func TestProtobufSerializedDescriptor(t *testing.T) {
	_, u := startMemory(t, nil, true, "")
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING
	expect(t, u, "POST", "/subjects/rx-value/versions", protoBody(prescriptionDescriptor(t, false, str, false)), 200, `{"id":1}`)
	// The same schema as protoc would describe it, and as source.
	expect(t, u, "POST", "/subjects/rx-value/versions", protoBody(prescriptionDescriptor(t, false, str, true)), 200, `{"id":1}`)
	expect(t, u, "POST", "/subjects/rx-text/versions", protoBody(protoPrescription), 200, `{"id":1}`)
	expect(t, u, "POST", "/subjects/rx-value/versions", protoBody(prescriptionDescriptor(t, true, str, false)), 200, `{"id":2}`)
	expect(t, u, "GET", "/subjects/rx-value/versions", nil, 200, `[1,2]`)
	expectCode(t, u, "POST", "/subjects/rx-value/versions", protoBody(prescriptionDescriptor(t, true, descriptorpb.FieldDescriptorProto_TYPE_INT64, false)), 409, 409)
	// Neither source nor a descriptor.
	expectCode(t, u, "POST", "/subjects/rx-value/versions", protoBody("bm90IGEgZGVzY3JpcHRvcg=="+"!"), 422, 42201)

	// A schema registered as source, asked for serialized.
	const text = "syntax = \"proto3\";\npackage lab;\nmessage Result {\n  string test_code = 1;\n  double value = 2;\n}\n"
	expect(t, u, "POST", "/subjects/lab-value/versions", protoBody(text), 200, `{"id":3}`)
	for _, path := range []string{"/schemas/ids/3?format=serialized", "/subjects/lab-value/versions/1?format=serialized", "/subjects/lab-value/versions/latest?format=serialized"} {
		status, body := call(t, u, "GET", path, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		fdp := decodeSerialized(t, body)
		if len(fdp.MessageType) != 1 || fdp.MessageType[0].GetName() != "Result" || len(fdp.MessageType[0].Field) != 2 ||
			fdp.GetPackage() != "lab" || fdp.MessageType[0].Field[0].GetName() != "test_code" {
			t.Errorf("GET %s: descriptor %v", path, fdp)
		}
		// The serialized form registers as the same schema.
		var resp struct {
			Schema string `json:"schema"`
		}
		_ = json.Unmarshal([]byte(body), &resp)
		expect(t, u, "POST", "/subjects/lab-value/versions", protoBody(resp.Schema), 200, `{"id":3}`)
	}
	// Without format, the text as registered; other types ignore format.
	wantText, _ := json.Marshal(text)
	expect(t, u, "GET", "/schemas/ids/3", nil, 200, fmt.Sprintf(`{"schemaType":"PROTOBUF","schema":%s}`, wantText))
	expect(t, u, "POST", "/subjects/users-value/versions", schemaBody(avroUser), 200, `{"id":4}`)
	status, body := call(t, u, "GET", "/schemas/ids/4?format=serialized", nil)
	if status != 200 || !contains(body, `\"name\":\"User\"`) {
		t.Errorf("GET /schemas/ids/4?format=serialized: %d %s", status, body)
	}
}
