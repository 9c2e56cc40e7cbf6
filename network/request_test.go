package network

import (
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	good := map[string]Publish{
		"8080:80":               {HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		"127.0.0.1:8080:80/udp": {HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "udp"},
		"0.0.0.0:1:65535/tcp":   {HostPort: 1, ContainerPort: 65535, Protocol: "tcp"},
	}
	for in, want := range good {
		if got, err := ParsePublish(in); err != nil || got != want {
			t.Errorf("ParsePublish(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "80", "x:80", ":80", "80:", "0:80", "8080:0", "70000:80", "+1:80", "8080:80/sctp",
		"1:2:3:4", "300.1.1.1:1:2", "01.2.3.4:1:2", "[::1]:1:2", "::1:1:2", "1.2.3:1:2", "1.2.3.4.5:1:2"} {
		if p, err := ParsePublish(in); err == nil {
			t.Errorf("ParsePublish(%q) = %+v; want an error", in, p)
		}
	}
}

func TestPrefix(t *testing.T) {
	p, ok := parsePrefix("10.213.7.9/16")
	if !ok || p.masked().String() != "10.213.0.0/16" || formatIPv4(p.masked().ip+1) != "10.213.0.1" {
		t.Fatalf("parsePrefix: %v %v", p, ok)
	}
	for _, c := range []struct {
		a, b string
		want bool
	}{{"10.1.0.0/16", "10.1.2.0/24", true}, {"10.1.0.0/16", "10.2.0.0/16", false}, {"0.0.0.0/0", "1.2.3.4/32", true}, {"10.1.2.128/25", "10.1.2.0/25", false}} {
		a, _ := parsePrefix(c.a)
		b, _ := parsePrefix(c.b)
		if a.overlaps(b) != c.want || b.overlaps(a) != c.want {
			t.Errorf("%s overlaps %s: want %v", c.a, c.b, c.want)
		}
	}
	for _, bad := range []string{"10.0.0.0", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/+8", "a.b.c.d/8"} {
		if _, ok := parsePrefix(bad); ok {
			t.Errorf("parsePrefix(%q) accepted", bad)
		}
	}
}

func TestHostResolvConfDropsLoopback(t *testing.T) {
	out := string(hostResolvConf())
	for _, bad := range []string{"nameserver 127.", "nameserver ::1"} {
		if strings.Contains(out, bad) {
			t.Errorf("resolv.conf for containers has a loopback server: %q", out)
		}
	}
	if !strings.Contains(out, "nameserver ") {
		t.Errorf("resolv.conf for containers has no server: %q", out)
	}
}
