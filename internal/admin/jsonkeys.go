package admin

import (
	"bytes"
	"encoding/json"
	"strings"
)

// duplicateKey returns the first key of a JSON object in data, at any
// depth, that repeats a key written before it in the same object, exactly
// or in another case ("name" and "Name"), and that earlier key. encoding/json
// keeps the last of two equal keys and matches struct fields without
// regard to case, so a body with both would quietly mean one of them.
// Syntax errors are left to the decoder: the scan stops at the first one.
func duplicateKey(data []byte) (key, earlier string, found bool) {
	type frame struct {
		object bool
		keys   map[string]string // lower case -> as written
		atKey  bool              // the next token is a key
	}
	var stack []*frame
	// valueDone notes that a value ended inside the innermost container.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].atKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "", false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].atKey {
			top := stack[n-1]
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			k, _ := tok.(string)
			lower := strings.ToLower(k)
			if first, ok := top.keys[lower]; ok {
				return k, first, true
			}
			top.keys[lower] = k
			top.atKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]string{}, atKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}
