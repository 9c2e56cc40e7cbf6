package network

import (
	"strconv"
	"strings"
)

// IPv4 addresses and subnets, the little of them berth needs: net/netip
// brings the unique package and its hash-trie map into every berth process.

// parseIPv4 parses a dotted quad (no leading zeros, as net/netip).
func parseIPv4(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return 0, false
	}
	var ip uint32
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 || p[0] == '+' || len(p) > 1 && p[0] == '0' {
			return 0, false
		}
		ip = ip<<8 | uint32(n)
	}
	return ip, true
}

func formatIPv4(ip uint32) string {
	return strconv.Itoa(int(ip>>24)) + "." + strconv.Itoa(int(ip>>16&0xff)) + "." +
		strconv.Itoa(int(ip>>8&0xff)) + "." + strconv.Itoa(int(ip&0xff))
}

// prefix is an IPv4 subnet.
type prefix struct {
	ip   uint32
	bits int
}

func parsePrefix(s string) (prefix, bool) {
	addr, bits, ok := strings.Cut(s, "/")
	ip, ok4 := parseIPv4(addr)
	n, err := strconv.Atoi(bits)
	if !ok || !ok4 || err != nil || n < 0 || n > 32 || bits[0] == '+' {
		return prefix{}, false
	}
	return prefix{ip, n}, true
}

func (p prefix) mask() uint32 {
	if p.bits == 0 {
		return 0
	}
	return ^uint32(0) << (32 - p.bits)
}

func (p prefix) masked() prefix { return prefix{p.ip & p.mask(), p.bits} }

func (p prefix) String() string { return formatIPv4(p.ip) + "/" + strconv.Itoa(p.bits) }

// overlaps reports whether two subnets share an address.
func (p prefix) overlaps(o prefix) bool {
	bits := min(p.bits, o.bits)
	m := prefix{0, bits}.mask()
	return p.ip&m == o.ip&m
}
