// Package jsonlite decodes JSON into plain Go structs the way encoding/json
// does, without what encoding/json does first: on the first decode of a
// type it builds an encoder for every type the type can reach (typeFields
// does so on the decode path too). For specs.Spec that is ~60 types, 0.2 MB
// of allocations and ~5% of all CPU time when 100 containers start at once
// (docs/performance.md); berth decodes one config per process.
//
// It handles structs (json tags, exact then case-insensitive key match,
// embedded structs), pointers, slices, string-keyed maps, strings, bools,
// numbers and json.RawMessage. Anything else it hands to encoding/json for
// that value: interfaces, other map keys, types with their own
// UnmarshalJSON or UnmarshalText, strings with escapes or non-ASCII bytes.
// On any error, the whole input is decoded again by encoding/json, so the
// result and the error are always encoding/json's own.
package jsonlite

import (
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Unmarshal is json.Unmarshal for a v that points to a zero value (berth
// always decodes into a fresh one): before it falls back, it zeroes *v,
// which json.Unmarshal would have merged into.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return json.Unmarshal(data, v)
	}
	d := &decoder{data: data}
	d.skipSpace()
	if err := d.value(rv.Elem()); err == nil {
		if d.skipSpace(); d.pos == len(d.data) {
			return nil
		}
	}
	rv.Elem().SetZero()
	return json.Unmarshal(data, v)
}

// errFallback: this input is for encoding/json to decode (and judge).
var errFallback = errors.New("jsonlite: fall back to encoding/json")

type decoder struct {
	data []byte
	pos  int
}

var (
	rawMessage      = reflect.TypeFor[json.RawMessage]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value decodes the value at d.pos into v.
func (d *decoder) value(v reflect.Value) error {
	if d.pos >= len(d.data) {
		return errFallback
	}
	t := v.Type()
	if t == rawMessage {
		start := d.pos
		if err := d.skipValue(); err != nil {
			return err
		}
		v.SetBytes(append([]byte(nil), d.data[start:d.pos]...))
		return nil
	}
	if d.data[d.pos] == 'n' { // null: nil for what can be nil, nothing else
		if err := d.literal("null"); err != nil {
			return err
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			v.SetZero()
		}
		return nil
	}
	if t.Kind() != reflect.Pointer && (reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		return d.delegate(v)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.value(v.Elem())
	case reflect.Struct:
		return d.object(v, fieldsOf(t))
	case reflect.Map:
		if t.Key().Kind() != reflect.String || t.Key() != reflect.TypeFor[string]() {
			return d.delegate(v)
		}
		return d.object(v, nil)
	case reflect.Slice:
		return d.array(v)
	case reflect.String:
		s, err := d.str()
		if err == nil {
			v.SetString(s)
		}
		return err
	case reflect.Bool:
		switch d.data[d.pos] {
		case 't':
			v.SetBool(true)
			return d.literal("true")
		case 'f':
			v.SetBool(false)
			return d.literal("false")
		}
		return errFallback
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(d.number(), 10, 64)
		if err != nil || v.OverflowInt(n) {
			return errFallback
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(d.number(), 10, 64)
		if err != nil || v.OverflowUint(n) {
			return errFallback
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(d.number(), v.Type().Bits())
		if err != nil || v.OverflowFloat(f) {
			return errFallback
		}
		v.SetFloat(f)
	default:
		return d.delegate(v)
	}
	return nil
}

// delegate has encoding/json decode the one value at d.pos into v.
func (d *decoder) delegate(v reflect.Value) error {
	start := d.pos
	if err := d.skipValue(); err != nil {
		return err
	}
	if err := json.Unmarshal(d.data[start:d.pos], v.Addr().Interface()); err != nil {
		return errFallback
	}
	return nil
}

func (d *decoder) literal(word string) error {
	if !strings.HasPrefix(string(d.data[d.pos:min(len(d.data), d.pos+len(word))]), word) {
		return errFallback
	}
	d.pos += len(word)
	return nil
}

// number returns the number literal at d.pos ("" if there is none).
func (d *decoder) number() string {
	start := d.pos
	for d.pos < len(d.data) && strings.IndexByte("+-0123456789.eE", d.data[d.pos]) >= 0 {
		d.pos++
	}
	if !json.Valid(d.data[start:d.pos]) {
		return "" // not JSON's number syntax: encoding/json decides
	}
	return string(d.data[start:d.pos])
}

// str decodes a string without escapes or non-ASCII bytes; any other is
// decoded by encoding/json.
func (d *decoder) str() (string, error) {
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return "", errFallback
	}
	for i := d.pos + 1; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			s := string(d.data[d.pos+1 : i])
			d.pos = i + 1
			return s, nil
		case c == '\\' || c < 0x20 || c >= 0x80:
			var s string
			start := d.pos
			if err := d.skipValue(); err != nil {
				return "", err
			}
			if json.Unmarshal(d.data[start:d.pos], &s) != nil {
				return "", errFallback
			}
			return s, nil
		}
	}
	return "", errFallback
}

// object decodes {...} into a struct (fields non-nil) or a string-keyed map.
func (d *decoder) object(v reflect.Value, fields *structFields) error {
	if d.data[d.pos] != '{' {
		return errFallback
	}
	d.pos++
	if fields == nil && v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for first := true; ; first = false {
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == '}' && first {
			d.pos++
			return nil
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if d.skipSpace(); d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return errFallback
		}
		d.pos++
		d.skipSpace()
		if fields == nil {
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(elem); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
		} else if f := fields.lookup(key); f != nil {
			if f.quoted { // ",string": encoding/json's own rules
				return errFallback
			}
			if err := d.value(fieldByIndex(v, f.index)); err != nil {
				return err
			}
		} else if err := d.skipValue(); err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return errFallback
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return nil
		default:
			return errFallback
		}
	}
}

// array decodes [...] into a slice, as encoding/json does: a new slice of
// the decoded elements (an empty one for []).
func (d *decoder) array(v reflect.Value) error {
	if d.data[d.pos] != '[' {
		return errFallback
	}
	d.pos++
	out := reflect.MakeSlice(v.Type(), 0, 0)
	for first := true; ; first = false {
		d.skipSpace()
		if d.pos < len(d.data) && d.data[d.pos] == ']' && first {
			d.pos++
			break
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(elem); err != nil {
			return err
		}
		out = reflect.Append(out, elem)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return errFallback
		}
		if d.data[d.pos] == ']' {
			d.pos++
			break
		}
		if d.data[d.pos] != ',' {
			return errFallback
		}
		d.pos++
	}
	v.Set(out)
	return nil
}

// skipValue moves past one value, which must be valid JSON: encoding/json
// checks the whole input before it decodes any of it.
func (d *decoder) skipValue() error {
	start := d.pos
	if err := d.skipSpan(); err != nil {
		return err
	}
	if !json.Valid(d.data[start:d.pos]) { // encoding/json checks it all
		return errFallback
	}
	return nil
}

func (d *decoder) skipSpan() error {
	depth := 0
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; c {
		case '"':
			i := d.pos + 1
			for ; i < len(d.data) && d.data[i] != '"'; i++ {
				if d.data[i] == '\\' {
					i++
				}
			}
			if i >= len(d.data) {
				return errFallback
			}
			d.pos = i + 1
		case '{', '[':
			depth++
			d.pos++
			continue
		case '}', ']':
			if depth == 0 {
				return errFallback
			}
			depth--
			d.pos++
		default:
			if depth > 0 {
				d.pos++
				continue
			}
			begin := d.pos // a literal or a number
			for d.pos < len(d.data) && strings.IndexByte(",:}] \t\n\r", d.data[d.pos]) < 0 {
				d.pos++
			}
			if d.pos == begin {
				return errFallback
			}
		}
		if depth == 0 {
			return nil
		}
	}
	return errFallback
}

// fieldByIndex is v.FieldByIndex, allocating nil embedded pointers.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

type field struct {
	name   string
	index  []int
	quoted bool // the ",string" option: left to encoding/json
}

type structFields struct {
	exact map[string]*field
	list  []*field
}

// lookup is encoding/json's: the exact name, else the first case-folded one.
func (s *structFields) lookup(key string) *field {
	if f := s.exact[key]; f != nil {
		return f
	}
	for _, f := range s.list {
		if strings.EqualFold(f.name, key) {
			return f
		}
	}
	return nil
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf lists t's JSON fields, embedded structs' fields promoted, by
// encoding/json's rules: a tagged or shallower field hides others of its
// name; names that tie are dropped.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	type cand struct {
		field
		depth  int
		tagged bool
	}
	byName := map[string][]cand{}
	var order []string
	var walk func(t reflect.Type, index []int, depth int)
	walk = func(t reflect.Type, index []int, depth int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			ft := sf.Type
			if sf.Anonymous && name == "" {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, idx, depth+1)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			if _, seen := byName[name]; !seen {
				order = append(order, name)
			}
			quoted := strings.Contains(","+opts+",", ",string,")
			byName[name] = append(byName[name], cand{field{name, idx, quoted}, depth, tagged})
		}
	}
	walk(t, nil, 0)
	s := &structFields{exact: map[string]*field{}}
	for _, name := range order {
		cs := byName[name]
		best, tie := cs[0], false
		for _, c := range cs[1:] {
			switch {
			case c.depth < best.depth || c.depth == best.depth && c.tagged && !best.tagged:
				best, tie = c, false
			case c.depth == best.depth && c.tagged == best.tagged:
				tie = true
			}
		}
		if !tie {
			f := best.field
			s.exact[name] = &f
			s.list = append(s.list, &f)
		}
	}
	fieldCache.Store(t, s)
	return s
}
