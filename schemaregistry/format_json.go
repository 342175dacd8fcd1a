package schemaregistry

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// jsonFormat is the JSON schema type. github.com/santhosh-tekuri/jsonschema/v6
// validates each schema against its draft's meta-schema (draft-07 when
// $schema is absent, as Confluent) and resolves its $refs; compatibility
// is checked structurally: a reader is compatible with a writer when every
// document the writer accepts, the reader accepts too. That gives
// Confluent's rules for the open and closed content models: a property
// added to an open model, or removed from a closed one, is incompatible;
// added to a closed model, or removed from an open one, is compatible.
type jsonFormat struct{}

// jsonBase is the base URL of a schema without $id, and of references
// whose names are relative.
const jsonBase = "https://schemas.skein.invalid/"

type jsonSchema struct {
	doc   any
	canon string
	// docs maps each reference's absolute URL, and its name, to its
	// document, for resolving $refs during compatibility checks.
	docs map[string]any
}

func (s *jsonSchema) canonical() string { return s.canon }

// refusingLoader keeps the compiler from fetching anything: every $ref
// must point inside the schema or at one of its references.
type refusingLoader struct{}

func (refusingLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("reference %q is not among the schema's references", u)
}

func jsonURL(name string) string {
	if u, err := url.Parse(name); err == nil && u.IsAbs() {
		return name
	}
	return jsonBase + strings.TrimPrefix(name, "/")
}

func (jsonFormat) parse(schema string, deps []dependency) (parsedSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		return nil, err
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, fmt.Errorf("a JSON schema is an object or a boolean")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(refusingLoader{})
	docs := map[string]any{}
	for _, d := range deps {
		dd, err := jsonschema.UnmarshalJSON(strings.NewReader(d.schema))
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", d.name, err)
		}
		u := jsonURL(d.name)
		if _, seen := docs[u]; seen {
			continue
		}
		if err := c.AddResource(u, dd); err != nil {
			return nil, fmt.Errorf("reference %q: %w", d.name, err)
		}
		docs[u], docs[d.name] = dd, dd
	}
	main := jsonBase + "schema.json"
	if m, ok := doc.(map[string]any); ok {
		if id, ok := m["$id"].(string); ok && id != "" {
			if u, err := url.Parse(id); err == nil && u.IsAbs() {
				main = id
			}
		}
	}
	if _, taken := docs[main]; !taken {
		if err := c.AddResource(main, doc); err != nil {
			return nil, err
		}
	}
	if _, err := c.Compile(main); err != nil {
		return nil, err
	}
	canon, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return &jsonSchema{doc: doc, canon: string(canon), docs: docs}, nil
}

func (jsonFormat) compatible(reader, writer parsedSchema) []string {
	r, w := reader.(*jsonSchema), writer.(*jsonSchema)
	c := &jsonCompat{reader: r, writer: w, seen: map[[2]string]bool{}}
	return c.check("#", w.doc, r.doc, 0)
}

// jsonCompat checks that every document a writer schema accepts, a reader
// schema accepts too. It errs on the side of reporting incompatibility
// for constructs it cannot compare (differing "not", "if").
type jsonCompat struct {
	reader, writer *jsonSchema
	// seen breaks cycles through recursive $refs.
	seen map[[2]string]bool
}

const jsonDepthMax = 64

func (c *jsonCompat) check(path string, w, r any, depth int) []string {
	if depth > jsonDepthMax {
		return nil
	}
	var wRef, rRef string
	w, wRef = c.deref(c.writer, w)
	r, rRef = c.deref(c.reader, r)
	if wRef != "" || rRef != "" {
		key := [2]string{wRef + "|" + fmt.Sprint(depth > 0), rRef}
		if c.seen[key] {
			return nil
		}
		c.seen[key] = true
	}
	if acceptsAll(r) || acceptsNothing(w) {
		return nil
	}
	if acceptsNothing(r) {
		return []string{fmt.Sprintf("%s: the reader accepts no value", path)}
	}
	if acceptsAll(w) {
		return []string{fmt.Sprintf("%s: the reader constrains values the writer left open", path)}
	}
	wm, rm := w.(map[string]any), r.(map[string]any)

	// The writer's alternatives each must be readable.
	for _, kw := range []string{"anyOf", "oneOf"} {
		if branches, ok := wm[kw].([]any); ok {
			rest := without(wm, kw)
			var out []string
			for i, b := range branches {
				out = append(out, c.check(fmt.Sprintf("%s/%s/%d", path, kw, i), merge(rest, b), r, depth+1)...)
			}
			return out
		}
	}
	// The reader's alternatives: one must read the writer.
	for _, kw := range []string{"anyOf", "oneOf"} {
		if branches, ok := rm[kw].([]any); ok {
			rest := without(rm, kw)
			for _, b := range branches {
				if len(c.check(path, w, merge(rest, b), depth+1)) == 0 {
					return nil
				}
			}
			return []string{fmt.Sprintf("%s: no %s branch of the reader reads the writer's values", path, kw)}
		}
	}
	if branches, ok := rm["allOf"].([]any); ok {
		out := c.check(path, w, without(rm, "allOf"), depth+1)
		for _, b := range branches {
			out = append(out, c.check(path, w, b, depth+1)...)
		}
		return out
	}
	if branches, ok := wm["allOf"].([]any); ok {
		var merged any = without(wm, "allOf")
		for _, b := range branches {
			m, ok := merged.(map[string]any)
			if !ok {
				break
			}
			merged = merge(m, b)
		}
		return c.check(path, merged, r, depth+1)
	}
	for _, kw := range []string{"not", "if", "then", "else", "dependencies", "dependentSchemas", "dependentRequired"} {
		if rv, ok := rm[kw]; ok && !reflect.DeepEqual(rv, wm[kw]) {
			return []string{fmt.Sprintf("%s: %q differs", path, kw)}
		}
	}

	var out []string
	wTypes, rTypes := jsonTypes(wm), jsonTypes(rm)
	for _, t := range wTypes {
		if !typeIn(t, rTypes) {
			out = append(out, fmt.Sprintf("%s: type %s is no longer accepted", path, t))
		}
	}
	out = append(out, c.checkValues(path, wm, rm)...)
	out = append(out, checkBounds(path, wm, rm)...)
	if hasType(wTypes, "object") {
		out = append(out, c.checkObject(path, wm, rm, depth)...)
	}
	if hasType(wTypes, "array") {
		out = append(out, c.checkArray(path, wm, rm, depth)...)
	}
	return out
}

// deref follows $ref chains in s's document set and returns the schema
// and the last reference followed.
func (c *jsonCompat) deref(s *jsonSchema, v any) (any, string) {
	last := ""
	for range jsonDepthMax {
		m, ok := v.(map[string]any)
		if !ok {
			return v, last
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, last
		}
		last = ref
		docPart, frag, _ := strings.Cut(ref, "#")
		root := s.doc
		if docPart != "" {
			d, ok := s.docs[docPart]
			if !ok {
				d, ok = s.docs[jsonURL(docPart)]
			}
			if !ok {
				return true, last
			}
			root = d
		}
		target, ok := jsonPointer(root, frag)
		if !ok {
			return true, last
		}
		// Keywords beside $ref (draft 2019+) still apply.
		v = merge(without(m, "$ref"), target)
	}
	return v, last
}

func jsonPointer(doc any, frag string) (any, bool) {
	if frag == "" || frag == "/" {
		return doc, true
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if t, err := url.PathUnescape(tok); err == nil {
			tok = t
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[tok]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// acceptsAll reports whether s is true or has no constraining keyword.
func acceptsAll(s any) bool {
	switch v := s.(type) {
	case bool:
		return v
	case map[string]any:
		for k := range v {
			if !annotation[k] {
				return false
			}
		}
		return true
	}
	return false
}

func acceptsNothing(s any) bool { b, ok := s.(bool); return ok && !b }

// annotation lists keywords that do not constrain values.
var annotation = map[string]bool{
	"$schema": true, "$id": true, "id": true, "title": true, "description": true, "default": true,
	"examples": true, "$comment": true, "definitions": true, "$defs": true, "readOnly": true,
	"writeOnly": true, "deprecated": true, "$anchor": true,
}

func without(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// merge combines the keywords of a and b, b's winning; a boolean b
// replaces a unless it is true.
func merge(a map[string]any, b any) any {
	bm, ok := b.(map[string]any)
	if !ok {
		if bb, isBool := b.(bool); isBool && bb {
			return a
		}
		return b
	}
	out := make(map[string]any, len(a)+len(bm))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range bm {
		out[k] = v
	}
	return out
}

var allJSONTypes = []string{"null", "boolean", "object", "array", "number", "string"}

// jsonTypes returns the types a schema allows, all when it names none.
func jsonTypes(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return allJSONTypes
}

func typeIn(t string, set []string) bool {
	return slices.Contains(set, t) || (t == "integer" && slices.Contains(set, "number"))
}

func hasType(set []string, t string) bool { return slices.Contains(set, t) }

// checkValues compares enum and const.
func (c *jsonCompat) checkValues(path string, wm, rm map[string]any) []string {
	rVals, rHas := allowedValues(rm)
	if !rHas {
		return nil
	}
	wVals, wHas := allowedValues(wm)
	if !wHas {
		return []string{fmt.Sprintf("%s: the reader restricts values to an enum the writer does not have", path)}
	}
	var out []string
	for _, v := range wVals {
		if !slices.ContainsFunc(rVals, func(x any) bool { return reflect.DeepEqual(x, v) }) {
			out = append(out, fmt.Sprintf("%s: enum value %v is no longer accepted", path, v))
		}
	}
	return out
}

func allowedValues(m map[string]any) ([]any, bool) {
	if v, ok := m["const"]; ok {
		return []any{v}, true
	}
	if e, ok := m["enum"].([]any); ok {
		return e, true
	}
	return nil, false
}

// Lower and upper bound keywords: a reader's bound must be no tighter
// than the writer's.
var (
	lowerBounds = []string{"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"}
	upperBounds = []string{"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"}
)

func checkBounds(path string, wm, rm map[string]any) []string {
	var out []string
	cmp := func(kw string, lower bool) {
		rv, ok := number(rm[kw])
		if !ok {
			return
		}
		wv, ok := number(wm[kw])
		if !ok || (lower && wv.Cmp(rv) < 0) || (!lower && wv.Cmp(rv) > 0) {
			out = append(out, fmt.Sprintf("%s: %s narrowed", path, kw))
		}
	}
	for _, kw := range lowerBounds {
		cmp(kw, true)
	}
	for _, kw := range upperBounds {
		cmp(kw, false)
	}
	for _, kw := range []string{"pattern", "format", "multipleOf", "uniqueItems", "contentEncoding", "contentMediaType"} {
		if rv, ok := rm[kw]; ok && !equalJSON(rv, wm[kw]) {
			out = append(out, fmt.Sprintf("%s: %s changed", path, kw))
		}
	}
	return out
}

func number(v any) (*big.Float, bool) {
	switch n := v.(type) {
	case json.Number:
		f, _, err := big.ParseFloat(string(n), 10, 128, big.ToNearestEven)
		return f, err == nil
	case float64:
		return big.NewFloat(n), true
	case int:
		return big.NewFloat(float64(n)), true
	}
	return nil, false
}

func equalJSON(a, b any) bool {
	if na, ok := number(a); ok {
		nb, ok := number(b)
		return ok && na.Cmp(nb) == 0
	}
	return reflect.DeepEqual(a, b)
}

func properties(m map[string]any) map[string]any {
	p, _ := m["properties"].(map[string]any)
	return p
}

func (c *jsonCompat) checkObject(path string, wm, rm map[string]any, depth int) []string {
	var out []string
	wProps, rProps := properties(wm), properties(rm)
	wAdd, rAdd := wm["additionalProperties"], rm["additionalProperties"]
	if wAdd == nil {
		wAdd = true
	}
	if rAdd == nil {
		rAdd = true
	}
	for _, name := range sortedKeys(rProps) {
		p := path + "/properties/" + name
		if wp, ok := wProps[name]; ok {
			out = append(out, c.check(p, wp, rProps[name], depth+1)...)
			continue
		}
		if acceptsNothing(wAdd) {
			continue // property added to a closed content model
		}
		if msgs := c.check(p, wAdd, rProps[name], depth+1); len(msgs) > 0 {
			out = append(out, fmt.Sprintf("%s: property %q added to an open content model", path, name))
		}
	}
	for _, name := range sortedKeys(wProps) {
		if _, ok := rProps[name]; ok {
			continue
		}
		if acceptsNothing(rAdd) {
			out = append(out, fmt.Sprintf("%s: property %q removed from a closed content model", path, name))
			continue
		}
		out = append(out, c.check(path+"/properties/"+name, wProps[name], rAdd, depth+1)...)
	}
	if !acceptsNothing(wAdd) {
		if acceptsNothing(rAdd) {
			out = append(out, fmt.Sprintf("%s: the reader closes the content model the writer left open", path))
		} else {
			out = append(out, c.check(path+"/additionalProperties", wAdd, rAdd, depth+1)...)
		}
	}
	wReq := stringSet(wm["required"])
	for _, name := range stringSet(rm["required"]) {
		if !slices.Contains(wReq, name) {
			out = append(out, fmt.Sprintf("%s: property %q became required", path, name))
		}
	}
	if rp, ok := rm["patternProperties"]; ok && !reflect.DeepEqual(rp, wm["patternProperties"]) {
		out = append(out, fmt.Sprintf("%s: patternProperties changed", path))
	}
	return out
}

func (c *jsonCompat) checkArray(path string, wm, rm map[string]any, depth int) []string {
	wItems, rItems := wm["items"], rm["items"]
	if wItems == nil {
		wItems = true
	}
	if rItems == nil {
		rItems = true
	}
	wTuple, wIsTuple := wItems.([]any)
	rTuple, rIsTuple := rItems.([]any)
	switch {
	case !wIsTuple && !rIsTuple:
		return c.check(path+"/items", wItems, rItems, depth+1)
	case wIsTuple && rIsTuple:
		var out []string
		for i := range max(len(wTuple), len(rTuple)) {
			var wi, ri any = wm["additionalItems"], rm["additionalItems"]
			if i < len(wTuple) {
				wi = wTuple[i]
			}
			if i < len(rTuple) {
				ri = rTuple[i]
			}
			if wi == nil {
				wi = true
			}
			if ri == nil {
				ri = true
			}
			out = append(out, c.check(fmt.Sprintf("%s/items/%d", path, i), wi, ri, depth+1)...)
		}
		return out
	default:
		if reflect.DeepEqual(wItems, rItems) {
			return nil
		}
		return []string{fmt.Sprintf("%s: items changed between a list and a tuple", path)}
	}
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func stringSet(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
