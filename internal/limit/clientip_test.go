package limit

import (
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
	}
	proxy := netip.MustParseAddr("10.0.0.1")
	proxy6 := netip.MustParseAddr("fd00::1")
	stranger := netip.MustParseAddr("198.51.100.7")
	cases := []struct {
		name      string
		peer      netip.Addr
		xff       string
		trusted   []netip.Prefix
		rightmost bool
		want      string
	}{
		{"no xff", proxy, "", trusted, true, "10.0.0.1"},
		{"untrusted peer ignores xff", stranger, "203.0.113.5", trusted, true, "198.51.100.7"},
		{"untrusted peer ignores xff leftmost", stranger, "203.0.113.5", trusted, false, "198.51.100.7"},
		{"no trusted proxies ignores xff", proxy, "203.0.113.5", nil, true, "10.0.0.1"},
		{"single entry", proxy, "203.0.113.5", trusted, true, "203.0.113.5"},
		{"rightmost untrusted", proxy, "1.1.1.1, 203.0.113.5", trusted, true, "203.0.113.5"},
		{"rightmost skips trusted hops", proxy, "1.1.1.1, 203.0.113.5, 10.0.0.2, 10.0.0.3", trusted, true, "203.0.113.5"},
		{"leftmost", proxy, "1.1.1.1, 203.0.113.5, 10.0.0.2", trusted, false, "1.1.1.1"},
		{"all trusted gives leftmost", proxy, "10.0.0.7, 10.0.0.8", trusted, true, "10.0.0.7"},
		{"garbage skipped rightmost", proxy, "1.1.1.1, 203.0.113.5, unknown, ,", trusted, true, "203.0.113.5"},
		{"garbage skipped leftmost", proxy, "not-an-ip,,  999.1.1.1 , 203.0.113.5, 1.1.1.1", trusted, false, "203.0.113.5"},
		{"only garbage gives peer", proxy, "unknown, _hidden, ", trusted, true, "10.0.0.1"},
		{"only garbage gives peer leftmost", proxy, "unknown", trusted, false, "10.0.0.1"},
		{"entry with port", proxy, "203.0.113.5:4711", trusted, true, "203.0.113.5"},
		{"spaces and tabs", proxy, " \t203.0.113.5\t ", trusted, true, "203.0.113.5"},
		{"ipv6 peer and entries", proxy6, "2001:db8::1, 2001:db8::2, fd00::9", trusted, true, "2001:db8::2"},
		{"ipv6 leftmost", proxy6, "2001:db8::1, 2001:db8::2", trusted, false, "2001:db8::1"},
		{"ipv6 entry with port", proxy6, "[2001:db8::3]:443", trusted, true, "2001:db8::3"},
		{"ipv6 entry with zone loses zone", proxy6, "fe80::1%eth0", trusted, true, "fe80::1"},
		{"ipv4-mapped entry is unmapped", proxy, "::ffff:203.0.113.5", trusted, true, "203.0.113.5"},
		{"ipv4-mapped peer is trusted and unmapped", netip.MustParseAddr("::ffff:10.0.0.1"), "203.0.113.5", trusted, true, "203.0.113.5"},
		{"ipv4-mapped untrusted peer is unmapped", netip.MustParseAddr("::ffff:198.51.100.7"), "", trusted, true, "198.51.100.7"},
		{"invalid peer", netip.Addr{}, "203.0.113.5", trusted, true, "invalid IP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ClientIP(c.peer, []byte(c.xff), c.trusted, c.rightmost)
			if got.String() != c.want {
				t.Errorf("ClientIP(%v, %q, rightmost=%t) = %v, want %s", c.peer, c.xff, c.rightmost, got, c.want)
			}
		})
	}
}

func BenchmarkClientIP(b *testing.B) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	peer := netip.MustParseAddr("10.0.0.1")
	xff := []byte("1.1.1.1, 203.0.113.5, 10.0.0.2")
	b.ReportAllocs()
	for b.Loop() {
		ClientIP(peer, xff, trusted, true)
	}
}
