package config

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file holds the generic walking of yaml.Node trees: mappings with
// duplicate and merge keys, lists, and scalars with ${VAR} expansion.

// decodeFunc decodes the value n of the setting at path.
type decodeFunc func(n *yaml.Node, path string)

// fields maps every key valid in a block to the function decoding its value.
type fields map[string]decodeFunc

// resolve follows YAML aliases (*name) to the node they refer to.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

// pathKey returns the path of key inside the mapping at base: base.key, or
// base["key"] when key is not a plain word.
func pathKey(base, key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c == '_' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return base + "[" + strconv.Quote(key) + "]"
	case base == "":
		return key
	default:
		return base + "." + key
	}
}

// pathIndex returns the path of item i of the list at base.
func pathIndex(base string, i int) string { return base + "[" + strconv.Itoa(i) + "]" }

// parentPath returns the path of the block or list holding path; "" at the top.
func parentPath(path string) string {
	switch {
	case strings.HasSuffix(path, `"]`):
		if i := strings.LastIndex(path, `["`); i >= 0 {
			return path[:i]
		}
	case strings.HasSuffix(path, "]"):
		if i := strings.LastIndex(path, "["); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// entry is one key/value pair of a mapping.
type entry struct {
	key     string
	keyNode *yaml.Node
	value   *yaml.Node
}

// entries returns the pairs of mapping n in order, with YAML merge keys
// (<<: *defaults) expanded; written keys win over merged ones. A key written
// twice is an error at its second occurrence.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	var out, merged []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "mapping keys must be plain strings, got %s", kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeEntries(v, path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p := pathKey(path, k.Value)
			d.errorf(k, p, "duplicate key %s (first defined at line %d)", quote(k.Value), first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{k.Value, k, v})
	}
	for _, e := range merged {
		if _, dup := seen[e.key]; !dup {
			seen[e.key] = e.keyNode
			out = append(out, e)
		}
	}
	return out
}

// mergeEntries returns the pairs a merge key's value brings in: a mapping,
// or a list of mappings where earlier ones win.
func (d *decoder) mergeEntries(v *yaml.Node, path string) []entry {
	switch v.Kind {
	case yaml.MappingNode:
		return d.entries(v, path)
	case yaml.SequenceNode:
		var out []entry
		for _, item := range v.Content {
			if item = resolve(item); item.Kind != yaml.MappingNode {
				d.errorf(item, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", kindName(item))
				continue
			}
			out = append(out, d.entries(item, path)...)
		}
		return out
	}
	d.errorf(v, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", kindName(v))
	return nil
}

// mapping decodes the block at n with fs. block names the block for the
// continuum-router table (see routerOnly). A null value leaves the defaults.
func (d *decoder) mapping(n *yaml.Node, path, block string, fs fields) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	for _, e := range d.entries(n, path) {
		p := pathKey(path, e.key)
		if f, ok := fs[e.key]; ok {
			d.record(p, e.value)
			f(e.value, p)
			continue
		}
		if isRouterOnly(block, e.key) {
			d.warns = append(d.warns, d.diag(e.keyNode, p,
				fmt.Sprintf("key %q is a continuum-router setting that Continuum does not support yet; ignored", p)))
			continue
		}
		keys := make([]string, 0, len(fs))
		for k := range fs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if looksSecret(e.key) {
			// A secret written as a key: name the block, not the key.
			d.errs = append(d.errs, d.diag(e.keyNode, path, prefixed(path, "unknown key "+quote(e.key))))
			continue
		}
		d.errs = append(d.errs, d.diag(e.keyNode, p, fmt.Sprintf("unknown key %q%s", p, didYouMean(e.key, keys))))
	}
}

// sequence calls item for each element of the list at n. A null value
// leaves the default.
func (d *decoder) sequence(n *yaml.Node, path string, item func(n *yaml.Node, path string)) bool {
	if isNull(n) {
		return false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, got %s", kindName(n))
		return false
	}
	for i, it := range n.Content {
		it = resolve(it)
		p := pathIndex(path, i)
		d.record(p, it)
		item(it, p)
	}
	return true
}

// scalar returns the text of n with ${VAR} references expanded. ok is false
// when n is null, or is not a scalar (an error is reported then).
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected a single value, got %s", kindName(n))
		return "", false
	}
	if isNull(n) {
		return "", false
	}
	v, unset, err := expand(n.Value, d.lookup)
	if err != nil {
		// The text of a secret setting is never quoted, even unexpanded.
		if secretPath(path) {
			d.errorf(n, path, "%v", err)
		} else {
			d.errorf(n, path, "%v in %s", err, quote(n.Value))
		}
		return "", false
	}
	for _, name := range unset {
		d.warnf(n, path, "environment variable %q is not set; using \"\"", name)
	}
	return v, true
}

// typed returns the expanded text of n for a non-string setting. ok is false
// when n is null or expands to "", which keep the default.
func (d *decoder) typed(n *yaml.Node, path string) (string, bool) {
	v, ok := d.scalar(n, path)
	return v, ok && strings.TrimSpace(v) != ""
}

func (d *decoder) str(dst *string) decodeFunc {
	return func(n *yaml.Node, path string) {
		if v, ok := d.scalar(n, path); ok {
			*dst = v
		}
	}
}

// normalized decodes a string and stores norm(value).
func (d *decoder) normalized(dst *string, norm func(string) string) decodeFunc {
	return func(n *yaml.Node, path string) {
		if v, ok := d.scalar(n, path); ok {
			*dst = norm(v)
		}
	}
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// parsed returns a decodeFunc that parses a scalar with parse into *dst,
// reporting format (with the value, quoted or masked by quote, as its %s
// argument) when parse fails.
func parsed[T any](d *decoder, dst *T, parse func(string) (T, error), format string) decodeFunc {
	return func(n *yaml.Node, path string) {
		v, ok := d.typed(n, path)
		if !ok {
			return
		}
		x, err := parse(v)
		if err != nil {
			d.errorf(n, path, format, quote(v))
			return
		}
		*dst = x
	}
}

var errOutOfRange = errors.New("out of range")

func (d *decoder) integer(dst *int) decodeFunc {
	return parsed(d, dst, func(v string) (int, error) {
		i, err := parseInt(v)
		if err == nil && int64(int(i)) != i {
			err = errOutOfRange
		}
		return int(i), err
	}, "invalid integer %s")
}

// workers decodes server.workers: an integer, or "auto" for one worker per
// CPU. The range is checked by Validate.
func (d *decoder) workers(dst *int) decodeFunc {
	return parsed(d, dst, func(v string) (int, error) {
		if strings.EqualFold(strings.TrimSpace(v), "auto") {
			return runtime.NumCPU(), nil
		}
		i, err := parseInt(v)
		if err == nil && int64(int(i)) != i {
			err = errOutOfRange
		}
		return int(i), err
	}, "invalid worker count %s (use a whole number, or auto for one per CPU)")
}

func (d *decoder) float(dst *float64) decodeFunc {
	return parsed(d, dst, parseFloat, "invalid number %s")
}

func (d *decoder) boolean(dst *bool) decodeFunc {
	return parsed(d, dst, parseBool, "invalid boolean %s (use true or false)")
}

func (d *decoder) duration(dst *time.Duration) decodeFunc {
	return parsed(d, dst, parseDuration, "invalid duration %s (use e.g. 500ms, 30s, 5m)")
}

func (d *decoder) size(dst *int64) decodeFunc {
	return parsed(d, dst, parseSize, "invalid size %s (use e.g. 1024, 512KiB, 10MB, 32MiB)")
}

func (d *decoder) fileMode(dst *uint32) decodeFunc {
	return parsed(d, dst, func(v string) (uint32, error) {
		m, err := strconv.ParseUint(strings.TrimSpace(v), 0, 32)
		return uint32(m), err
	}, "invalid file mode %s (use octal, e.g. 0o660)")
}

func (d *decoder) timestamp(dst *time.Time) decodeFunc {
	return parsed(d, dst, parseTime, "invalid time %s (use RFC 3339, e.g. 2025-12-31T23:59:59Z)")
}

// strings decodes a list of strings; it replaces the default list.
func (d *decoder) strings(dst *[]string) decodeFunc {
	return func(n *yaml.Node, path string) {
		var out []string
		if d.sequence(n, path, func(n *yaml.Node, p string) {
			if v, ok := d.scalar(n, p); ok {
				out = append(out, v)
			}
		}) {
			*dst = out
		}
	}
}

// stringOrList decodes a single string or a list of strings.
func (d *decoder) stringOrList(dst *[]string) decodeFunc {
	return func(n *yaml.Node, path string) {
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			if v, ok := d.scalar(n, path); ok {
				*dst = []string{v}
			}
			return
		}
		d.strings(dst)(n, path)
	}
}

// stringMap decodes a mapping of strings to strings.
func (d *decoder) stringMap(dst *map[string]string) decodeFunc {
	return func(n *yaml.Node, path string) {
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "expected a mapping, got %s", kindName(n))
			return
		}
		out := map[string]string{}
		for _, e := range d.entries(n, path) {
			p := pathKey(path, e.key)
			d.record(p, e.value)
			if v, ok := d.scalar(e.value, p); ok {
				out[e.key] = v
			}
		}
		*dst = out
	}
}

// listMap decodes a mapping of strings to lists of strings.
func (d *decoder) listMap(dst *map[string][]string) decodeFunc {
	return func(n *yaml.Node, path string) {
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "expected a mapping, got %s", kindName(n))
			return
		}
		out := map[string][]string{}
		for _, e := range d.entries(n, path) {
			p := pathKey(path, e.key)
			d.record(p, e.value)
			var list []string
			d.strings(&list)(e.value, p)
			out[e.key] = list
		}
		*dst = out
	}
}

// anyMap decodes free-form data (model metadata), expanding ${VAR} in its
// scalars.
func (d *decoder) anyMap(dst *map[string]any) decodeFunc {
	return func(n *yaml.Node, path string) {
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "expected a mapping, got %s", kindName(n))
			return
		}
		if m, ok := d.anyValue(n, path).(map[string]any); ok {
			*dst = m
		}
	}
}

func (d *decoder) anyValue(n *yaml.Node, path string) any {
	if d.values++; d.values > maxExpandedNodes {
		if d.values == maxExpandedNodes+1 {
			d.errorf(n, path, "with its aliases expanded the value holds more than %d nodes", maxExpandedNodes)
		}
		return nil
	}
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, e := range d.entries(n, path) {
			p := pathKey(path, e.key)
			d.record(p, e.value)
			m[e.key] = d.anyValue(e.value, p)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, it := range n.Content {
			s = append(s, d.anyValue(it, pathIndex(path, i)))
		}
		return s
	}
	if isNull(n) {
		return nil
	}
	v, ok := d.scalar(n, path)
	if !ok {
		return nil
	}
	tmp := n
	if v != n.Value {
		// Re-resolve the expanded text: a plain ${N} may now be a number.
		tmp = &yaml.Node{Kind: yaml.ScalarNode, Style: n.Style, Value: v}
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			tmp.Tag = "!!str"
		}
	}
	var out any
	if err := tmp.Decode(&out); err != nil {
		d.errorf(n, path, "%v", err)
		return nil
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
