package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// This file reads model_metadata_file and merges it with the metadata of
// the backends' model_configs into Config.ModelMetadata.

// metadataFile reads model_metadata_file (relative to dir) into
// c.ModelMetadata. The file is YAML (JSON is YAML too): a mapping of model
// id to its metadata, or a mapping with a "models" list whose entries hold
// an "id" and either a "metadata" mapping or the metadata keys themselves.
func (d *decoder) metadataFile(c *Config, dir string) {
	const path = "model_metadata_file"
	file := c.ModelMetadataFile
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	c.ModelMetadataFile = file
	data, err := os.ReadFile(file)
	if err != nil {
		d.errs = append(d.errs, d.diagAt(path, fmt.Sprintf("%s: %v", path, err)))
		return
	}
	saved := d.file
	d.file = file
	defer func() { d.file = saved }()
	root, ok := d.document(data)
	if !ok || root == nil || isNull(root) {
		return
	}
	if root.Kind != yaml.MappingNode {
		d.errs = append(d.errs, d.diag(root, "", "a model_metadata_file holds a mapping of model ids to metadata, or a mapping with a models list, got "+kindName(root)))
		return
	}
	out := map[string]map[string]any{}
	entries := d.entries(root, "")
	if len(entries) == 1 && entries[0].key == "models" && resolve(entries[0].value).Kind == yaml.SequenceNode {
		d.sequence(entries[0].value, "models", func(n *yaml.Node, p string) {
			m, ok := d.anyValue(n, p).(map[string]any)
			if !ok {
				d.errorf(n, p, "expected a mapping with an id, got %s", kindName(n))
				return
			}
			id, _ := m["id"].(string)
			if id == "" {
				d.errorf(n, p, "id is required")
				return
			}
			meta, ok := m["metadata"].(map[string]any)
			if !ok {
				meta = maps.Clone(m)
				delete(meta, "id")
			}
			out[id] = meta
		})
	} else {
		for _, e := range entries {
			p := pathKey("", e.key)
			if m, ok := d.anyValue(e.value, p).(map[string]any); ok {
				out[e.key] = m
			} else if !isNull(e.value) {
				d.errorf(e.value, p, "the metadata of a model is a mapping, got %s", kindName(e.value))
			}
		}
	}
	c.ModelMetadata = out
}

// mergeMetadata merges every backend's model_configs[].metadata over the
// metadata read from model_metadata_file, key by key: model_configs wins.
func mergeMetadata(c *Config) {
	for _, b := range c.Backends {
		for _, m := range b.ModelConfigs {
			if m.ID == "" || len(m.Metadata) == 0 {
				continue
			}
			if c.ModelMetadata == nil {
				c.ModelMetadata = map[string]map[string]any{}
			}
			merged := maps.Clone(c.ModelMetadata[m.ID])
			if merged == nil {
				merged = map[string]any{}
			}
			for k, v := range m.Metadata {
				merged[k] = cloneAny(v)
			}
			c.ModelMetadata[m.ID] = merged
		}
	}
}
