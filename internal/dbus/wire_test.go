package dbus

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type prop struct {
	Name  string
	Value Variant
}

type aux struct {
	Name  string
	Props []prop
}

// The byte sequences follow the D-Bus specification's marshaling rules
// ("Marshaling (Wire Format)"), written out by hand.
func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		sig  string
		vals []any
		want []byte
	}{
		{"s", []any{"hi"}, []byte{2, 0, 0, 0, 'h', 'i', 0}},
		{"o", []any{ObjectPath("/a")}, []byte{2, 0, 0, 0, '/', 'a', 0}},
		{"g", []any{Signature("as")}, []byte{2, 'a', 's', 0}},
		{"yu", []any{byte(1), uint32(2)}, []byte{1, 0, 0, 0, 2, 0, 0, 0}},
		{"bi", []any{true, int32(-1)}, []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
		{"yt", []any{byte(7), uint64(0x0102)}, []byte{7, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0}},
		{"ay", []any{[]byte{1, 2, 3}}, []byte{3, 0, 0, 0, 1, 2, 3}},
		// The length (8) does not count the padding to 8 after it.
		{"at", []any{[]uint64{1}}, []byte{8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}},
		{"at", []any{[]uint64{}}, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{"v", []any{Variant{"u", uint32(5)}}, []byte{1, 'u', 0, 0, 5, 0, 0, 0}},
		{"a(sv)", []any{[]prop{{"A", Variant{"b", true}}}}, []byte{
			16, 0, 0, 0, 0, 0, 0, 0, // length 16, padding to the struct's 8
			1, 0, 0, 0, 'A', 0, // "A"
			1, 'b', 0, 0, 0, 0, // variant signature "b", padding to 4
			1, 0, 0, 0, // true
		}},
		{"a(sa(sv))", []any{[]aux{}}, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
	} {
		var e encoder
		if err := e.values(tc.sig, tc.vals...); err != nil {
			t.Errorf("%s: %v", tc.sig, err)
			continue
		}
		if !bytes.Equal(e.b, tc.want) {
			t.Errorf("%s %v:\n got % x\nwant % x", tc.sig, tc.vals, e.b, tc.want)
		}
	}
}

func TestEncodeRefusesWrongType(t *testing.T) {
	for _, tc := range []struct {
		sig string
		val any
	}{{"s", 1}, {"o", "not-a-path-type"}, {"u", int32(1)}, {"at", []uint32{1}}, {"(s)", 1}, {"v", "x"}} {
		var e encoder
		if err := e.values(tc.sig, tc.val); err == nil {
			t.Errorf("%s %T: no error", tc.sig, tc.val)
		}
	}
	var e encoder
	if err := e.values("ss", "a"); err == nil || !strings.Contains(err.Error(), "left without values") {
		t.Errorf("short values: %v", err)
	}
}

// A call with path "/" and member "M", by hand: the header fields are
// structs aligned to 8, each a code and a variant.
func TestMarshalCall(t *testing.T) {
	got, err := marshalCall(1, "", "/", "", "M", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0,
		1, 1, 'o', 0, 1, 0, 0, 0, '/', 0, 0, 0, 0, 0, 0, 0, // PATH "/", padding
		3, 1, 's', 0, 1, 0, 0, 0, 'M', 0, 0, 0, 0, 0, 0, 0, // MEMBER "M", header padding to 8
	}
	if !bytes.Equal(got, want) {
		t.Errorf("\n got % x\nwant % x", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	sig := "sobutixyayaya(sv)a(sa(sv))atv"
	vals := []any{"unit", ObjectPath("/o"), true, uint32(3), uint64(1 << 40), int32(-4), int64(-5), byte(6),
		[]byte{}, []byte{9, 8},
		[]prop{{"MemoryMax", Variant{"t", uint64(1 << 30)}}, {"PIDs", Variant{"au", []uint32{42}}}},
		[]aux{{"x", []prop{{"Delegate", Variant{"b", true}}}}},
		[]uint64{1, 2}, Variant{"s", "active"},
	}
	var e encoder
	if err := e.values(sig, vals...); err != nil {
		t.Fatal(err)
	}
	d := &decoder{b: e.b}
	got, err := d.values(sig)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"unit", ObjectPath("/o"), true, uint32(3), uint64(1 << 40), int32(-4), int64(-5), byte(6),
		[]any{}, []any{byte(9), byte(8)},
		[]any{[]any{"MemoryMax", Variant{"t", uint64(1 << 30)}}, []any{"PIDs", Variant{"au", []any{uint32(42)}}}},
		[]any{[]any{"x", []any{[]any{"Delegate", Variant{"b", true}}}}},
		[]any{uint64(1), uint64(2)}, Variant{"s", "active"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %#v\nwant %#v", got, want)
	}
	if d.off != len(e.b) {
		t.Errorf("decoded %d of %d bytes", d.off, len(e.b))
	}
	for n := 0; n < len(e.b); n++ {
		if _, err := (&decoder{b: e.b[:n]}).values(sig); err == nil {
			t.Fatalf("%d of %d bytes decoded without error", n, len(e.b))
		}
	}
}

func TestParseSplitMessage(t *testing.T) {
	msg, err := marshalCall(7, "org.x", "/p", "org.x.I", "Get", "ss", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if m, n, err := parse(msg[:len(msg)-1]); m != nil || n != 0 || err != nil {
		t.Fatalf("partial message: %v %d %v", m, n, err)
	}
	m, n, err := parse(msg)
	if err != nil || n != len(msg) {
		t.Fatalf("parse: %d %v", n, err)
	}
	if m.typ != typeCall || m.serial != 7 || m.fields[fieldMember] != "Get" || m.fields[fieldDestination] != "org.x" ||
		m.fields[fieldPath] != ObjectPath("/p") || !reflect.DeepEqual(m.body, []any{"a", "b"}) {
		t.Errorf("parsed %+v", m)
	}
}

// reply builds a message from the server's side.
func reply(t *testing.T, typ byte, serial, replyTo uint32, fields map[byte]Variant, sig string, body ...any) []byte {
	t.Helper()
	var b encoder
	if err := b.values(sig, body...); err != nil {
		t.Fatal(err)
	}
	var fl []any
	fl = append(fl, []any{byte(fieldReplySerial), Variant{"u", replyTo}})
	for code, v := range fields {
		fl = append(fl, []any{code, v})
	}
	if sig != "" {
		fl = append(fl, []any{byte(fieldSignature), Variant{"g", Signature(sig)}})
	}
	var e encoder
	if err := e.values("yyyyuua(yv)", byte('l'), typ, byte(0), byte(1), uint32(len(b.b)), serial, fl); err != nil {
		t.Fatal(err)
	}
	e.align(8)
	return append(e.b, b.b...)
}

// A fake peer: it checks the authentication, then answers the first call
// with a signal and a return, and the second with an error.
func TestConn(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "private")
	lfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	unix.Listen(lfd, 1)
	done := make(chan string, 1)
	go func() {
		fd, _, err := unix.Accept(lfd)
		if err != nil {
			done <- err.Error()
			return
		}
		f := os.NewFile(uintptr(fd), "peer")
		defer f.Close()
		buf := make([]byte, 4096)
		n, _ := f.Read(buf)
		auth := string(buf[:n])
		f.Write([]byte("OK 0123456789abcdef\r\n"))
		var in []byte
		for calls := 0; calls < 2; {
			n, err := f.Read(buf)
			if err != nil {
				done <- err.Error()
				return
			}
			in = append(in, buf[:n]...)
			if i := bytes.Index(in, []byte("BEGIN\r\n")); i == 0 {
				in = in[7:]
			}
			m, used, err := parse(in)
			if err != nil || m == nil {
				continue
			}
			in = in[used:]
			calls++
			if calls == 1 {
				f.Write(reply(t, typeSignal, 100, 0, map[byte]Variant{fieldMember: {"s", "JobRemoved"}}, "uos", uint32(1), ObjectPath("/j"), "x.scope"))
				f.Write(reply(t, typeReturn, 101, m.serial, nil, "o", ObjectPath("/job/1")))
			} else {
				f.Write(reply(t, typeError, 102, m.serial, map[byte]Variant{fieldErrorName: {"s", "org.freedesktop.systemd1.NoSuchUnit"}}, "s", "Unit x.scope not loaded."))
			}
		}
		done <- auth
	}()
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var signals []string
	c.Signal = func(member string, body []any) { signals = append(signals, member+" "+body[2].(string)) }
	got, err := c.Call("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StopUnit", "ss", "x.scope", "replace")
	if err != nil || !reflect.DeepEqual(got, []any{ObjectPath("/job/1")}) {
		t.Fatalf("StopUnit: %v %v", got, err)
	}
	if !reflect.DeepEqual(signals, []string{"JobRemoved x.scope"}) {
		t.Errorf("signals: %q", signals)
	}
	_, err = c.Call("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "GetUnit", "s", "x.scope")
	if err == nil || err.Error() != "org.freedesktop.systemd1.NoSuchUnit: Unit x.scope not loaded." {
		t.Fatalf("GetUnit: %v", err)
	}
	if auth := <-done; auth != "\x00AUTH EXTERNAL "+hexUID()+"\r\n" {
		t.Errorf("auth: %q", auth)
	}
}

// hexUID is the uid's decimal digits, each in hex: "0" is "30".
func hexUID() string {
	var b strings.Builder
	for _, c := range strconv.Itoa(os.Geteuid()) {
		b.WriteString("3" + string(c))
	}
	return b.String()
}
