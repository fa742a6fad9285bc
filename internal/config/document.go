package config

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Document is a configuration file as a YAML node tree, edited in place so
// that its comments, key order and the way values were written survive an
// edit (the admin API's backend and key changes). It checks nothing but
// the shape it edits: the result is validated by LoadData like any file.
type Document struct {
	doc yaml.Node
}

// Errors of Document edits.
var (
	// ErrNoEntry is returned (wrapped) when the named backend or key is not
	// in the document.
	ErrNoEntry = errors.New("no such entry")
	// ErrExists is returned (wrapped) when a backend of that name is
	// already in the document.
	ErrExists = errors.New("already exists")
)

// ParseDocument parses a configuration file for editing. An empty file is an
// empty mapping.
func ParseDocument(data []byte) (*Document, error) {
	d := &Document{}
	if err := yaml.Unmarshal(data, &d.doc); err != nil {
		return nil, fmt.Errorf("parse configuration: %w", err)
	}
	if d.doc.Kind == 0 {
		d.doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if d.root().Kind != yaml.MappingNode {
		return nil, errors.New("parse configuration: the document is not a mapping")
	}
	return d, nil
}

// Bytes renders the document, indented by two spaces.
func (d *Document) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&d.doc); err != nil {
		return nil, fmt.Errorf("render configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render configuration: %w", err)
	}
	return buf.Bytes(), nil
}

func (d *Document) root() *yaml.Node { return d.doc.Content[0] }

// lookup returns the value of key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return resolve(m.Content[i+1])
		}
	}
	return nil
}

// set sets key to v in mapping m, in place when the key exists (keeping its
// comments), else appended.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v.HeadComment, v.LineComment = m.Content[i+1].HeadComment, m.Content[i+1].LineComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// remove deletes key from mapping m.
func remove(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

// valueNode encodes v (decoded JSON: maps, lists, strings, numbers, bools)
// as a node; mapping keys are sorted, except that first keys come first.
func valueNode(v any, first ...string) (*yaml.Node, error) {
	if m, ok := v.(map[string]any); ok {
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := sortedKeys(m)
		for i := len(first) - 1; i >= 0; i-- {
			if j := slices.Index(keys, first[i]); j > 0 {
				k := keys[j]
				rest := slices.Delete(slices.Clone(keys), j, j+1)
				keys = append([]string{k}, rest...)
			}
		}
		for _, k := range keys {
			c, err := valueNode(m[k])
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, c)
		}
		return n, nil
	}
	n := &yaml.Node{}
	if err := n.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %v: %w", v, err)
	}
	return n, nil
}

// backends returns the backends list, creating it when create is set.
func (d *Document) backends(create bool) (*yaml.Node, error) {
	seq := lookup(d.root(), "backends")
	switch {
	case seq != nil && seq.Kind == yaml.SequenceNode:
		return seq, nil
	case seq != nil && !isNull(seq):
		return nil, errors.New("backends is not a list")
	case !create:
		return nil, nil
	}
	seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	set(d.root(), "backends", seq)
	return seq, nil
}

// backendIndex returns the position of the backend called name, or -1.
func backendIndex(seq *yaml.Node, name string) int {
	if seq == nil {
		return -1
	}
	for i, it := range seq.Content {
		it = resolve(it)
		if it.Kind == yaml.MappingNode {
			if n := lookup(it, "name"); n != nil && n.Value == name {
				return i
			}
		}
	}
	return -1
}

// AddBackend appends a backend entry with the given settings (decoded
// JSON; "name" is required and written first).
func (d *Document) AddBackend(fields map[string]any) error {
	name, _ := fields["name"].(string)
	if name == "" {
		return errors.New("a backend needs a name")
	}
	seq, err := d.backends(true)
	if err != nil {
		return err
	}
	if backendIndex(seq, name) >= 0 {
		return fmt.Errorf("backend %q: %w", name, ErrExists)
	}
	n, err := valueNode(fields, "name", "type", "url")
	if err != nil {
		return err
	}
	seq.Content = append(seq.Content, n)
	return nil
}

// UpdateBackend sets the given settings of the backend called name; a nil
// value removes the setting. Settings not given are kept as written.
func (d *Document) UpdateBackend(name string, fields map[string]any) error {
	seq, err := d.backends(false)
	if err != nil {
		return err
	}
	i := backendIndex(seq, name)
	if i < 0 {
		return fmt.Errorf("backend %q: %w", name, ErrNoEntry)
	}
	entry := resolve(seq.Content[i])
	for _, k := range sortedKeys(fields) {
		if fields[k] == nil {
			remove(entry, k)
			continue
		}
		n, err := valueNode(fields[k])
		if err != nil {
			return err
		}
		set(entry, k, n)
	}
	return nil
}

// RemoveBackend deletes the backend called name.
func (d *Document) RemoveBackend(name string) error {
	seq, err := d.backends(false)
	if err != nil {
		return err
	}
	i := backendIndex(seq, name)
	if i < 0 {
		return fmt.Errorf("backend %q: %w", name, ErrNoEntry)
	}
	seq.Content = slices.Delete(seq.Content, i, i+1)
	return nil
}

// keys returns the inline API key list (api_keys.api_keys, or api_keys
// itself in the short form), creating it when create is set.
func (d *Document) keys(create bool) (*yaml.Node, error) {
	ak := lookup(d.root(), "api_keys")
	switch {
	case ak != nil && ak.Kind == yaml.SequenceNode:
		return ak, nil
	case ak != nil && ak.Kind == yaml.MappingNode:
		seq := lookup(ak, "api_keys")
		if seq != nil && seq.Kind == yaml.SequenceNode {
			return seq, nil
		}
		if !create {
			return nil, nil
		}
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		set(ak, "api_keys", seq)
		return seq, nil
	case ak != nil && !isNull(ak):
		return nil, errors.New("api_keys is neither a mapping nor a list")
	case !create:
		return nil, nil
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	set(d.root(), "api_keys", &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "api_keys"}, seq,
	}})
	return seq, nil
}

// AddAPIKey appends a key entry with the given settings (decoded JSON;
// "key" and "id" are written first).
func (d *Document) AddAPIKey(fields map[string]any) error {
	seq, err := d.keys(true)
	if err != nil {
		return err
	}
	n, err := valueNode(fields, "id", "key")
	if err != nil {
		return err
	}
	seq.Content = append(seq.Content, n)
	return nil
}

// SetAPIKeyEnabled sets enabled on the inline key whose id is id (or whose
// default id, key-N, is id).
func (d *Document) SetAPIKeyEnabled(id string, enabled bool) error {
	seq, err := d.keys(false)
	if err != nil {
		return err
	}
	if seq != nil {
		for i, it := range seq.Content {
			it = resolve(it)
			if it.Kind != yaml.MappingNode {
				continue
			}
			n := lookup(it, "id")
			if (n != nil && n.Value == id) || (n == nil && id == "key-"+strconv.Itoa(i)) {
				set(it, "enabled", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(enabled)})
				return nil
			}
		}
	}
	return fmt.Errorf("key %q: %w", id, ErrNoEntry)
}
