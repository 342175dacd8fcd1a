package schemaregistry

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// protobufFormat is the PROTOBUF schema type. github.com/bufbuild/protocompile
// parses and links each schema, resolving imports against its references
// (by reference name) and the well-known types; compatibility follows
// Confluent's protobuf diff (SchemaDiff.java): removing a message, changing
// the package, a field's kind, scalar type or message/enum type, the label
// of a numeric field, adding or removing a proto2 required field, removing
// a field from a oneof, or moving several existing fields into one oneof is
// incompatible; adding, removing and renaming fields, messages and enums
// is compatible.
//
// Like Confluent's ProtobufSchema, a schema (or a referenced one) that is
// not .proto source is also accepted as a base64-encoded
// FileDescriptorProto, the form Confluent's Python and Go serializers
// register.
type protobufFormat struct{}

// protobufRoot is the file name the schema itself is compiled as.
const protobufRoot = "skein-registry-schema.proto"

type protobufSchema struct {
	file  protoreflect.FileDescriptor
	canon string
}

func (s *protobufSchema) canonical() string { return s.canon }

func (protobufFormat) parse(schema string, deps []dependency) (parsedSchema, error) {
	files := map[string]string{protobufRoot: schema}
	for _, d := range deps {
		if d.name == protobufRoot {
			return nil, fmt.Errorf("reference name %q is reserved", d.name)
		}
		files[d.name] = d.schema
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(files),
		}),
	}
	out, err := c.Compile(context.Background(), protobufRoot)
	if err != nil {
		// Not .proto source: try each file as a serialized descriptor.
		descs := map[string]*descriptorpb.FileDescriptorProto{}
		for name, text := range files {
			if fdp := decodeDescriptor(text); fdp != nil {
				fdp.Name = proto.String(name)
				descs[name] = fdp
			}
		}
		if descs[protobufRoot] == nil {
			return nil, err
		}
		c.Resolver = descriptorResolver{descs: descs, next: c.Resolver}
		var derr error
		out, derr = c.Compile(context.Background(), protobufRoot)
		if derr != nil {
			return nil, derr
		}
	}
	fd := out[0]
	// The descriptor without its file name and source positions: comments
	// and layout do not make a different schema.
	fdp := protodesc.ToFileDescriptorProto(fd)
	fdp.Name = nil
	fdp.SourceCodeInfo = nil
	canon, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return nil, err
	}
	return &protobufSchema{file: fd, canon: string(canon)}, nil
}

// decodeDescriptor returns the FileDescriptorProto that schema encodes in
// base64, or nil when it is not one.
func decodeDescriptor(schema string) *descriptorpb.FileDescriptorProto {
	raw, err := base64.StdEncoding.DecodeString(schema)
	if err != nil || len(raw) == 0 {
		return nil
	}
	fdp := &descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(raw, fdp); err != nil {
		return nil
	}
	// protoc always fills json_name in and the linker relies on it, but a
	// descriptor built at run time (descriptor_pb2, DynamicMessage) may
	// leave it out: use the default, as protoc would.
	var fill func(fields []*descriptorpb.FieldDescriptorProto)
	fill = func(fields []*descriptorpb.FieldDescriptorProto) {
		for _, f := range fields {
			if f.GetJsonName() == "" {
				f.JsonName = proto.String(defaultJSONName(f.GetName()))
			}
		}
	}
	var walk func(ms []*descriptorpb.DescriptorProto)
	walk = func(ms []*descriptorpb.DescriptorProto) {
		for _, m := range ms {
			fill(m.Field)
			fill(m.Extension)
			walk(m.NestedType)
		}
	}
	walk(fdp.MessageType)
	fill(fdp.Extension)
	return fdp
}

// defaultJSONName is protoc's ToJsonName: underscores dropped, the letter
// after each upper-cased.
func defaultJSONName(name string) string {
	out := make([]byte, 0, len(name))
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			upper = true
			continue
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		upper = false
		out = append(out, c)
	}
	return string(out)
}

// descriptorResolver serves the files given as descriptors and asks next
// for the others.
type descriptorResolver struct {
	descs map[string]*descriptorpb.FileDescriptorProto
	next  protocompile.Resolver
}

func (r descriptorResolver) FindFileByPath(path string) (protocompile.SearchResult, error) {
	if fdp, ok := r.descs[path]; ok {
		return protocompile.SearchResult{Proto: fdp}, nil
	}
	return r.next.FindFileByPath(path)
}

// serialized is the schema as Confluent's format=serialized gives it: its
// FileDescriptorProto in base64.
func (s *protobufSchema) serialized() (string, error) {
	fdp := protodesc.ToFileDescriptorProto(s.file)
	fdp.SourceCodeInfo = nil
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// compatible compares as Confluent does for a backward check: the writer
// is the original schema and the reader the update.
func (protobufFormat) compatible(reader, writer parsedSchema) []string {
	return protobufDiff(writer.(*protobufSchema).file, reader.(*protobufSchema).file)
}

func protobufDiff(original, update protoreflect.FileDescriptor) []string {
	var out []string
	if original.Package() != update.Package() {
		out = append(out, fmt.Sprintf("PACKAGE_CHANGED: %q to %q", original.Package(), update.Package()))
	}
	orig, upd := messagesByName(original), messagesByName(update)
	for _, name := range sortedMessageNames(orig) {
		um, ok := upd[name]
		if !ok {
			out = append(out, fmt.Sprintf("MESSAGE_REMOVED: %s", name))
			continue
		}
		out = append(out, messageDiff(orig[name], um)...)
	}
	return out
}

// messagesByName collects the file's messages, nested ones included, by
// full name; map entry types are left out.
func messagesByName(fd protoreflect.FileDescriptor) map[protoreflect.FullName]protoreflect.MessageDescriptor {
	out := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	var walk func(ms protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			out[m.FullName()] = m
			walk(m.Messages())
		}
	}
	walk(fd.Messages())
	return out
}

func sortedMessageNames(m map[protoreflect.FullName]protoreflect.MessageDescriptor) []protoreflect.FullName {
	out := make([]protoreflect.FullName, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func messageDiff(orig, upd protoreflect.MessageDescriptor) []string {
	var out []string
	name := orig.FullName()
	movedInto := map[protoreflect.FullName]int{}
	of, uf := orig.Fields(), upd.Fields()
	for i := range of.Len() {
		f := of.Get(i)
		g := uf.ByNumber(f.Number())
		if g == nil {
			if oneof := realOneof(f); oneof != nil {
				out = append(out, fmt.Sprintf("ONEOF_FIELD_REMOVED: %s field %d from oneof %s", name, f.Number(), oneof.Name()))
			}
			if f.Cardinality() == protoreflect.Required {
				out = append(out, fmt.Sprintf("REQUIRED_FIELD_REMOVED: %s field %d", name, f.Number()))
			}
			continue
		}
		out = append(out, fieldDiff(name, f, g)...)
		fo, go_ := realOneof(f), realOneof(g)
		switch {
		case fo != nil && go_ == nil:
			out = append(out, fmt.Sprintf("ONEOF_FIELD_REMOVED: %s field %d left oneof %s", name, f.Number(), fo.Name()))
		case fo == nil && go_ != nil:
			movedInto[go_.FullName()]++
		}
	}
	for oneof, n := range movedInto {
		if n > 1 {
			out = append(out, fmt.Sprintf("MULTIPLE_FIELDS_MOVED_TO_ONEOF: %s: %d existing fields moved into oneof %s", name, n, oneof.Name()))
		}
	}
	for i := range uf.Len() {
		g := uf.Get(i)
		if of.ByNumber(g.Number()) == nil && g.Cardinality() == protoreflect.Required {
			out = append(out, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s field %d", name, g.Number()))
		}
	}
	return out
}

// realOneof returns the field's oneof, ignoring proto3 optional's
// synthetic ones.
func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	o := f.ContainingOneof()
	if o == nil || o.IsSynthetic() {
		return nil
	}
	return o
}

type fieldKind int

const (
	kindScalar fieldKind = iota
	kindMessage
	kindEnum
	kindMap
)

func kindOf(f protoreflect.FieldDescriptor) fieldKind {
	switch {
	case f.IsMap():
		return kindMap
	case f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind:
		return kindMessage
	case f.Kind() == protoreflect.EnumKind:
		return kindEnum
	}
	return kindScalar
}

func fieldDiff(msg protoreflect.FullName, f, g protoreflect.FieldDescriptor) []string {
	var out []string
	fk, gk := kindOf(f), kindOf(g)
	switch {
	case fk != gk:
		out = append(out, fmt.Sprintf("FIELD_KIND_CHANGED: %s field %d", msg, f.Number()))
	case fk == kindScalar && f.Kind() != g.Kind():
		out = append(out, fmt.Sprintf("FIELD_SCALAR_KIND_CHANGED: %s field %d from %s to %s", msg, f.Number(), f.Kind(), g.Kind()))
	case fk == kindMessage && f.Message().FullName() != g.Message().FullName():
		out = append(out, fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s field %d from %s to %s", msg, f.Number(), f.Message().FullName(), g.Message().FullName()))
	case fk == kindEnum && f.Enum().FullName() != g.Enum().FullName():
		out = append(out, fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s field %d from %s to %s", msg, f.Number(), f.Enum().FullName(), g.Enum().FullName()))
	case fk == kindMap:
		out = append(out, fieldDiff(msg, f.MapKey(), g.MapKey())...)
		out = append(out, fieldDiff(msg, f.MapValue(), g.MapValue())...)
	}
	if fk == gk && fk != kindMap && f.IsList() != g.IsList() {
		switch f.Kind() {
		case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
			// Length-delimited on the wire either way.
		default:
			out = append(out, fmt.Sprintf("FIELD_NUMERIC_LABEL_CHANGED: %s field %d", msg, f.Number()))
		}
	}
	if (f.Cardinality() == protoreflect.Required) != (g.Cardinality() == protoreflect.Required) {
		if g.Cardinality() == protoreflect.Required {
			out = append(out, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s field %d", msg, f.Number()))
		} else {
			out = append(out, fmt.Sprintf("REQUIRED_FIELD_REMOVED: %s field %d", msg, f.Number()))
		}
	}
	return out
}
