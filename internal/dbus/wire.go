package dbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
)

// The D-Bus wire format, little-endian only (what berth sends and what
// systemd answers a little-endian caller with). Each type is aligned to
// its size in the message; the Go values are:
//
//	sig  Go value          alignment  wire
//	y    byte              1          the byte
//	b    bool              4          uint32 0 or 1
//	i u  int32 uint32      4          the number
//	x t  int64 uint64      8          the number
//	s    string            4          uint32 length, bytes, NUL
//	o    ObjectPath        4          as s
//	g    Signature         1          byte length, bytes, NUL
//	v    Variant           1          g, then the value of that signature
//	a    a slice           4          uint32 byte length of the elements
//	                                  (padding to the element's alignment
//	                                  after it not counted), the elements
//	(    a struct's fields 8          the fields in order
//	     in order, or []any
//
// Decoding gives the same types back, with []any for arrays and structs.

// ObjectPath is a D-Bus object path ("o").
type ObjectPath string

// Signature is a D-Bus type signature ("g").
type Signature string

// Variant is a value with its own signature ("v").
type Variant struct {
	Sig   string
	Value any
}

func alignOf(c byte) int {
	switch c {
	case 'y', 'g', 'v':
		return 1
	case 'x', 't', 'd', '(', '{':
		return 8
	}
	return 4
}

// first splits sig into its first complete type and the rest.
func first(sig string) (string, string, error) {
	if sig == "" {
		return "", "", errors.New("dbus: signature ends early")
	}
	switch sig[0] {
	case 'a':
		elem, rest, err := first(sig[1:])
		return "a" + elem, rest, err
	case '(', '{':
		depth := 0
		for i := 0; i < len(sig); i++ {
			switch sig[i] {
			case '(', '{':
				depth++
			case ')', '}':
				if depth--; depth == 0 {
					return sig[:i+1], sig[i+1:], nil
				}
			}
		}
		return "", "", fmt.Errorf("dbus: signature %q: unbalanced", sig)
	case 'y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g', 'v', 'h':
		return sig[:1], sig[1:], nil
	}
	return "", "", fmt.Errorf("dbus: signature %q: unknown type %q", sig, sig[0])
}

type encoder struct {
	b   []byte
	err error // the first error: the rest is not worth encoding
}

func (e *encoder) align(n int) {
	for len(e.b)%n != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) u32(v uint32) { e.align(4); e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.align(8); e.b = binary.LittleEndian.AppendUint64(e.b, v) }

// values appends vals, one per complete type of sig.
func (e *encoder) values(sig string, vals ...any) error {
	for _, v := range vals {
		t, rest, err := first(sig)
		if err != nil {
			return err
		}
		if err := e.value(t, v); err != nil {
			return err
		}
		sig = rest
	}
	if sig != "" {
		return fmt.Errorf("dbus: signature %q left without values", sig)
	}
	return nil
}

// value appends v as the single complete type t.
func (e *encoder) value(t string, v any) error {
	var ok bool
	switch t[0] {
	case 'y':
		var x byte
		x, ok = v.(byte)
		e.b = append(e.b, x)
	case 'b':
		var x bool
		x, ok = v.(bool)
		n := uint32(0)
		if x {
			n = 1
		}
		e.u32(n)
	case 'i':
		var x int32
		x, ok = v.(int32)
		e.u32(uint32(x))
	case 'u':
		var x uint32
		x, ok = v.(uint32)
		e.u32(x)
	case 'x':
		var x int64
		x, ok = v.(int64)
		e.u64(uint64(x))
	case 't':
		var x uint64
		x, ok = v.(uint64)
		e.u64(x)
	case 's', 'o':
		var s string
		switch x := v.(type) {
		case string:
			s, ok = x, t == "s"
		case ObjectPath:
			s, ok = string(x), t == "o"
		}
		e.u32(uint32(len(s)))
		e.b = append(append(e.b, s...), 0)
	case 'g':
		var s Signature
		s, ok = v.(Signature)
		e.b = append(append(append(e.b, byte(len(s))), s...), 0)
	case 'v':
		var x Variant
		if x, ok = v.(Variant); ok {
			e.b = append(append(append(e.b, byte(len(x.Sig))), x.Sig...), 0)
			if e.err == nil {
				e.err = e.values(x.Sig, x.Value)
			}
		}
	case 'a':
		ok = e.array(t[1:], v)
	case '(':
		ok = e.fields(t[1:len(t)-1], v)
	}
	if !ok && e.err == nil {
		e.err = fmt.Errorf("dbus: %T is not a %q", v, t)
	}
	return e.err
}

func (e *encoder) array(elem string, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return false
	}
	e.u32(0)
	at := len(e.b) - 4
	e.align(alignOf(elem[0]))
	start := len(e.b)
	for i := 0; i < rv.Len() && e.err == nil; i++ {
		e.value(elem, rv.Index(i).Interface())
	}
	binary.LittleEndian.PutUint32(e.b[at:], uint32(len(e.b)-start))
	return true
}

func (e *encoder) fields(sig string, v any) bool {
	e.align(8)
	vals, ok := v.([]any)
	if rv := reflect.ValueOf(v); !ok && rv.Kind() == reflect.Struct {
		vals, ok = make([]any, rv.NumField()), true
		for i := range vals {
			vals[i] = rv.Field(i).Interface()
		}
	}
	if ok && e.err == nil {
		e.err = e.values(sig, vals...)
	}
	return ok
}

type decoder struct {
	b   []byte
	off int
}

var errShort = errors.New("dbus: message ends early")

func (d *decoder) align(n int) error {
	for d.off%n != 0 {
		if d.off >= len(d.b) {
			return errShort
		}
		d.off++
	}
	return nil
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || len(d.b)-d.off < n {
		return nil, errShort
	}
	d.off += n
	return d.b[d.off-n : d.off], nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.align(4); err != nil {
		return 0, err
	}
	p, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

// values decodes one value per complete type of sig.
func (d *decoder) values(sig string) ([]any, error) {
	var out []any
	for sig != "" {
		t, rest, err := first(sig)
		if err != nil {
			return nil, err
		}
		v, err := d.value(t)
		if err != nil {
			return nil, err
		}
		out, sig = append(out, v), rest
	}
	return out, nil
}

func (d *decoder) value(t string) (any, error) {
	switch t[0] {
	case 'y':
		p, err := d.take(1)
		if err != nil {
			return nil, err
		}
		return p[0], nil
	case 'b', 'i', 'u', 'h':
		n, err := d.u32()
		switch t[0] {
		case 'b':
			return n != 0, err
		case 'i':
			return int32(n), err
		}
		return n, err
	case 'x', 't', 'd':
		if err := d.align(8); err != nil {
			return nil, err
		}
		p, err := d.take(8)
		if err != nil {
			return nil, err
		}
		if t[0] == 'x' {
			return int64(binary.LittleEndian.Uint64(p)), nil
		}
		return binary.LittleEndian.Uint64(p), nil
	case 'n', 'q':
		if err := d.align(2); err != nil {
			return nil, err
		}
		p, err := d.take(2)
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.Uint16(p), nil
	case 's', 'o':
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		p, err := d.take(int(n) + 1)
		if err != nil {
			return nil, err
		}
		if t[0] == 'o' {
			return ObjectPath(p[:n]), nil
		}
		return string(p[:n]), nil
	case 'g', 'v':
		return d.sigOrVariant(t[0] == 'v')
	case 'a':
		return d.array(t[1:])
	case '(', '{':
		if err := d.align(8); err != nil {
			return nil, err
		}
		return d.values(t[1 : len(t)-1])
	}
	return nil, fmt.Errorf("dbus: cannot decode %q", t)
}

func (d *decoder) sigOrVariant(variant bool) (any, error) {
	p, err := d.take(1)
	if err != nil {
		return nil, err
	}
	s, err := d.take(int(p[0]) + 1)
	if err != nil {
		return nil, err
	}
	sig := string(s[:p[0]])
	if !variant {
		return Signature(sig), nil
	}
	t, rest, err := first(sig)
	if err != nil || rest != "" {
		return nil, fmt.Errorf("dbus: variant signature %q is not one type", sig)
	}
	v, err := d.value(t)
	return Variant{Sig: sig, Value: v}, err
}

func (d *decoder) array(elem string) (any, error) {
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	if err := d.align(alignOf(elem[0])); err != nil {
		return nil, err
	}
	end := d.off + int(n)
	if end > len(d.b) {
		return nil, errShort
	}
	out := []any{}
	for d.off < end {
		v, err := d.value(elem)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Marshal encodes vals with signature sig, as a message body.
func Marshal(sig string, vals ...any) ([]byte, error) {
	var e encoder
	err := e.values(sig, vals...)
	return e.b, err
}
