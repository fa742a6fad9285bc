// Package jsonextra keeps the members of a JSON object that a typed Go
// struct does not name, so that a request decoded into the struct and
// encoded again loses none of them. The wire-format packages
// (internal/openai, internal/anthropic) use it in their UnmarshalJSON and
// MarshalJSON methods; it is a leaf.
package jsonextra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Split returns the members of the JSON object b whose keys are not in
// named, or nil when there are none.
func Split(b []byte, named []string) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for _, k := range named {
		delete(all, k)
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

// Append splices the members of extra (sorted by key, skipping those in
// skip and those with empty values) into the JSON object b.
func Append(b []byte, extra map[string]json.RawMessage, skip []string) ([]byte, error) {
	if len(extra) == 0 {
		return b, nil
	}
	keys := make([]string, 0, len(extra))
	for k, v := range extra {
		if len(v) > 0 && !slices.Contains(skip, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return b, nil
	}
	slices.Sort(keys)
	out := bytes.TrimRight(b, " \n")
	out = out[:len(out)-1] // the closing brace
	for _, k := range keys {
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		if !json.Valid(extra[k]) {
			return nil, fmt.Errorf("extra field %q: invalid JSON", k)
		}
		out = append(append(append(out, kb...), ':'), extra[k]...)
	}
	return append(out, '}'), nil
}
