package limit

import (
	"bytes"
	"net/netip"
)

// ClientIP returns the client address of a request that arrived from peer
// carrying the X-Forwarded-For value xff (entries separated by commas; several
// header lines joined with commas are fine).
//
// When peer is not in trusted (the proxies you trust), the header may be
// forged and peer is returned. Otherwise the header is used: when rightmost
// is true, the rightmost entry that is not itself in trusted (walking left
// past your own proxies; the safe choice, since a client can write anything
// on the left), or the leftmost entry when all are trusted; when rightmost is
// false, the leftmost entry (what the original client claims). Entries that
// are not addresses ("unknown", garbage) are skipped; an entry may carry a
// port ("192.0.2.1:443", "[2001:db8::1]:443"). When no entry is usable, peer
// is returned.
//
// The result is unmapped (an IPv4-mapped IPv6 address becomes IPv4) and has
// no zone, so that one client always has one address.
func ClientIP(peer netip.Addr, xff []byte, trusted []netip.Prefix, rightmost bool) netip.Addr {
	peer = canonical(peer)
	if len(xff) == 0 || !contains(trusted, peer) {
		return peer
	}
	var leftmost netip.Addr
	for rest := xff; len(rest) > 0; {
		var field []byte
		if rightmost {
			i := bytes.LastIndexByte(rest, ',')
			field, rest = rest[i+1:], rest[:max(i, 0)]
		} else {
			field, rest, _ = bytes.Cut(rest, []byte{','})
		}
		addr, ok := parseForwarded(field)
		if !ok {
			continue
		}
		if !rightmost || !contains(trusted, addr) {
			return addr
		}
		leftmost = addr
	}
	if leftmost.IsValid() {
		return leftmost
	}
	return peer
}

// parseForwarded parses one X-Forwarded-For entry: an address, possibly with
// a port, possibly surrounded by spaces.
func parseForwarded(field []byte) (netip.Addr, bool) {
	field = bytes.Trim(field, " \t")
	if len(field) == 0 {
		return netip.Addr{}, false
	}
	s := string(field)
	if addr, err := netip.ParseAddr(s); err == nil {
		return canonical(addr), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return canonical(ap.Addr()), true
	}
	return netip.Addr{}, false
}

func canonical(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
