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
//     a field folded over lines (obs-fold), or a line ended by a bare LF
//     instead of CRLF, all of which fasthttp accepts and other hops may
//     read otherwise (one hop's "X-A: 1\nContent-Length: 5" is another's
//     single field): 400.
func framing(raw []byte) (int, openai.Error) {
	var lengths, encodings int
	chunked := true
	tabs := bytes.IndexByte(raw, '\t') >= 0 // rare: look for them in names only then
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
			if len(line) == 0 || line[len(line)-1] != '\r' {
				return 400, openai.NewError(openai.TypeInvalidRequest, CodeMalformed, "",
					"the request ends a header line with a bare LF (use CRLF)")
			}
		} else {
			raw = nil
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return 400, openai.NewError(openai.TypeInvalidRequest, CodeMalformed, "",
				"the request folds a header field over lines (obsolete line folding)")
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := line[:colon]
		if bytes.IndexByte(name, ' ') >= 0 || (tabs && bytes.IndexByte(name, '\t') >= 0) {
			return 400, openai.NewError(openai.TypeInvalidRequest, CodeMalformed, "",
				"the request has a header field name with white space in it")
		}
		switch {
		case len(name) == len(fasthttp.HeaderContentLength) && equalFoldASCII(name, fasthttp.HeaderContentLength):
			lengths++
		case len(name) == len(fasthttp.HeaderTransferEncoding) && equalFoldASCII(name, fasthttp.HeaderTransferEncoding):
			encodings++
			chunked = chunked && bytes.EqualFold(bytes.Trim(line[colon+1:], " \t\r"), []byte("chunked"))
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

// equalFoldASCII compares b with the ASCII name s, of the same length,
// ignoring case.
func equalFoldASCII(b []byte, s string) bool {
	for i := 0; i < len(b); i++ {
		c, n := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= n && n <= 'Z' {
			n += 'a' - 'A'
		}
		if c != n {
			return false
		}
	}
	return true
}
