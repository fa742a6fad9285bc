package server

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/continuumhq/continuum/internal/openai"
)

// framing checks how the request says where its body ends, on the header
// block as received: fasthttp folds these fields before the handler sees
// them (a Transfer-Encoding: chunked hides a Content-Length, "identity" is
// dropped). It returns 0 when the framing is sound, else the status and
// error to answer with, the connection then being closed (RFC 9112 §6.1,
// §6.3):
//
//   - both Content-Length and Transfer-Encoding: 400. Another hop could
//     read the body by the other field, and take the rest of it for a
//     second request (request smuggling).
//   - Content-Length more than once: 400, even when the values agree
//     (fasthttp rejects these itself; this check holds should it stop).
//   - a transfer coding other than chunked (identity, gzip, …) or more
//     than one Transfer-Encoding field: 501.
//   - a field name with white space in it ("Transfer Encoding: chunked"),
//     or a field folded over lines (obs-fold), both of which fasthttp
//     accepts and other hops may read otherwise: 400.
func framing(raw []byte) (int, openai.Error) {
	var lengths, encodings int
	chunked := true
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return 400, openai.NewError(openai.TypeInvalidRequest, CodeMalformed, "",
				"the request folds a header field over lines (obsolete line folding)")
		}
		if name, _, ok := bytes.Cut(line, []byte(":")); ok && bytes.ContainsAny(name, " \t") {
			return 400, openai.NewError(openai.TypeInvalidRequest, CodeMalformed, "",
				"the request has a header field name with white space in it")
		}
		if len(line) <= len(fasthttp.HeaderContentLength) {
			continue
		}
		switch line[0] | 0x20 {
		case 'c':
			if _, ok := fieldValue(line, fasthttp.HeaderContentLength); ok {
				lengths++
			}
		case 't':
			if v, ok := fieldValue(line, fasthttp.HeaderTransferEncoding); ok {
				encodings++
				chunked = chunked && bytes.EqualFold(v, []byte("chunked"))
			}
		}
	}
	switch {
	case encodings > 0 && lengths > 0:
		return 400, openai.NewError(openai.TypeInvalidRequest, CodeAmbiguousFraming, "",
			"the request has both Content-Length and Transfer-Encoding")
	case lengths > 1:
		return 400, openai.NewError(openai.TypeInvalidRequest, CodeAmbiguousFraming, "",
			"the request has more than one Content-Length header field")
	case encodings > 1 || !chunked:
		return 501, unsupportedTransferEncoding()
	}
	return 0, openai.Error{}
}

// fieldValue returns the trimmed value of a header line "Name: value" when
// its name is name (in any case).
func fieldValue(line []byte, name string) ([]byte, bool) {
	if len(line) <= len(name) || line[len(name)] != ':' {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		c := line[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		n := name[i]
		if 'A' <= n && n <= 'Z' {
			n += 'a' - 'A'
		}
		if c != n {
			return nil, false
		}
	}
	return bytes.Trim(line[len(name)+1:], " \t\r"), true
}
