package app

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/continuumhq/continuum/internal/admin"
	"github.com/continuumhq/continuum/internal/config"
)

// This file changes the configuration at run time, for the admin API and
// the dashboard: rollbacks, backends and API keys. Every change edits the
// configuration file's text (its YAML tree, so that comments and order
// survive), is validated like a reload, applied through Apply, written back
// to the file atomically, and recorded in the history.

// configName is the file name diagnostics use when the configuration was
// not loaded from a file.
const configName = "config.yaml"

// sourceText returns the configuration's current text: the file on disk, or
// the text of the version in effect when there is no file. a.reload must be
// held.
func (a *App) sourceText() ([]byte, error) {
	if a.opts.ConfigPath != "" {
		data, err := os.ReadFile(a.opts.ConfigPath)
		if err != nil {
			return nil, fmt.Errorf("read configuration: %w", err)
		}
		return data, nil
	}
	v, _ := a.history.current()
	return v.text, nil
}

// ValidateText checks data as a new version of the configuration file
// without applying it: its warnings, or an error holding every problem as
// file:line:col lines (wrapping admin.ErrInvalidConfig).
func (a *App) ValidateText(data []byte) ([]config.Diagnostic, error) {
	_, warns, err := config.LoadData(a.configName(), data)
	if err != nil {
		return warns, errors.Join(admin.ErrInvalidConfig, err)
	}
	return warns, nil
}

func (a *App) configName() string {
	if a.opts.ConfigPath != "" {
		return a.opts.ConfigPath
	}
	return configName
}

// commit applies the text edit returns for the current text: it validates
// it, writes it to the configuration file (temporary file and rename,
// keeping the file's mode), applies it, and records it in the history under
// trigger. Nothing is written or applied when the text is invalid (an error
// wrapping admin.ErrInvalidConfig) or edit fails.
func (a *App) commit(trigger string, edit func(text []byte) ([]byte, error)) (ConfigVersion, error) {
	a.reload.Lock()
	defer a.reload.Unlock()
	cur, err := a.sourceText()
	if err != nil {
		return ConfigVersion{}, err
	}
	text, err := edit(cur)
	if err != nil {
		return ConfigVersion{}, err
	}
	cfg, warns, err := config.LoadData(a.configName(), text)
	for _, w := range warns {
		a.log.Warn("configuration warning", "detail", w.String())
	}
	if err != nil {
		a.reloaded(false)
		a.log.Error("invalid configuration", "trigger", trigger, "detail", err.Error(),
			"result", "not applied; the running configuration stays in effect")
		return ConfigVersion{}, errors.Join(admin.ErrInvalidConfig, err)
	}
	persisted := false
	if a.opts.ConfigPath != "" && !bytes.Equal(cur, text) {
		if err := writeAtomic(a.opts.ConfigPath, text); err != nil {
			return ConfigVersion{}, err
		}
		persisted = true
	}
	if err := a.Apply(cfg); err != nil {
		if persisted {
			if rerr := writeAtomic(a.opts.ConfigPath, cur); rerr != nil {
				a.log.Error("restore configuration file", "error", rerr)
			}
		}
		a.reloaded(false)
		return ConfigVersion{}, fmt.Errorf("apply configuration: %w", err)
	}
	a.cfgSum = sha256.Sum256(text)
	a.reloaded(true)
	v := a.history.add(a.clk.Now(), trigger, text, cfg)
	a.log.Info("configuration changed", "trigger", trigger, "version", v.ID, "persisted", persisted, "backends", len(cfg.Backends))
	return v, nil
}

// writeAtomic replaces the file at path with data: it writes a temporary
// file in the same directory, with the mode, owner and group of the file it
// replaces (mode 0600 for a new one; owner and group when the process may
// set them), syncs it and renames it over path, so that a reader (or the
// file watcher) sees the old file or the new one, never half of one. When
// path is a symbolic link, the file it points to is replaced and the link
// is kept.
func writeAtomic(path string, data []byte) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	mode := os.FileMode(0o600)
	fi, statErr := os.Stat(path)
	if statErr == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write configuration: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write configuration: %w", err)
	}
	if statErr == nil {
		if err := keepOwner(tmp, fi); err != nil {
			tmp.Close()
			return fmt.Errorf("write configuration: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write configuration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	return nil
}

// Rollback applies the configuration of version id again (its original
// text, secrets included) and writes it back to the file.
func (a *App) Rollback(id int) (ConfigVersion, error) {
	v, ok := a.history.get(id)
	if !ok {
		return ConfigVersion{}, fmt.Errorf("%w: version %d is not in the history", admin.ErrNotFound, id)
	}
	return a.commit("rollback", func([]byte) ([]byte, error) { return v.text, nil })
}

// editDocument commits an edit of the configuration's YAML tree.
func (a *App) editDocument(trigger string, edit func(*config.Document) error) (ConfigVersion, error) {
	return a.commit(trigger, func(text []byte) ([]byte, error) {
		doc, err := config.ParseDocument(text)
		if err != nil {
			return nil, errors.Join(admin.ErrInvalidConfig, err)
		}
		if err := edit(doc); err != nil {
			switch {
			case errors.Is(err, config.ErrNoEntry):
				return nil, errors.Join(admin.ErrNotFound, err)
			case errors.Is(err, config.ErrExists):
				return nil, errors.Join(admin.ErrConflict, err)
			}
			return nil, errors.Join(admin.ErrBadRequest, err)
		}
		return doc.Bytes()
	})
}

// AddBackend adds a backend (fields are its settings, as in the file).
func (a *App) AddBackend(fields map[string]any) (ConfigVersion, error) {
	return a.editDocument("backend_add", func(d *config.Document) error { return d.AddBackend(fields) })
}

// UpdateBackend changes the given settings of a backend; a nil value
// removes a setting.
func (a *App) UpdateBackend(name string, fields map[string]any) (ConfigVersion, error) {
	if v, ok := fields["name"]; ok && v != name {
		return ConfigVersion{}, fmt.Errorf("%w: a backend cannot be renamed; remove it and add it again", admin.ErrBadRequest)
	}
	return a.editDocument("backend_update", func(d *config.Document) error { return d.UpdateBackend(name, fields) })
}

// RemoveBackend removes a backend; its requests in flight finish.
func (a *App) RemoveBackend(name string) (ConfigVersion, error) {
	return a.editDocument("backend_remove", func(d *config.Document) error { return d.RemoveBackend(name) })
}

// CreatedKey is a new API key; Key is its secret, shown once.
type CreatedKey struct {
	ID, Key string
}

// CreateKey adds an API key with a generated secret. fields are its other
// settings (id, name, models, scopes, rate_limit, expires_at, …); an id is
// generated when none is given.
func (a *App) CreateKey(fields map[string]any) (CreatedKey, ConfigVersion, error) {
	if _, ok := fields["key"]; ok {
		return CreatedKey{}, ConfigVersion{}, fmt.Errorf("%w: the key's secret is generated; do not send key", admin.ErrBadRequest)
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return CreatedKey{}, ConfigVersion{}, err
	}
	k := CreatedKey{Key: "sk-cnt-" + hex.EncodeToString(secret)}
	switch id := fields["id"].(type) {
	case nil:
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return CreatedKey{}, ConfigVersion{}, err
		}
		k.ID = "key-" + hex.EncodeToString(b)
	case string:
		k.ID = id
	default:
		return CreatedKey{}, ConfigVersion{}, fmt.Errorf("%w: id must be a string", admin.ErrBadRequest)
	}
	entry := map[string]any{}
	for name, v := range fields {
		entry[name] = v
	}
	entry["id"], entry["key"] = k.ID, k.Key
	for _, have := range a.rt.Load().cfg.APIKeys.Keys {
		if have.ID == k.ID {
			return CreatedKey{}, ConfigVersion{}, fmt.Errorf("%w: key %q already exists", admin.ErrConflict, k.ID)
		}
	}
	v, err := a.editDocument("key_create", func(d *config.Document) error { return d.AddAPIKey(entry) })
	if err != nil {
		return CreatedKey{}, ConfigVersion{}, err
	}
	return k, v, nil
}

// RevokeKey disables the API key id (enabled: false in the file).
func (a *App) RevokeKey(id string) (ConfigVersion, error) {
	v, err := a.editDocument("key_revoke", func(d *config.Document) error { return d.SetAPIKeyEnabled(id, false) })
	if errors.Is(err, admin.ErrNotFound) {
		for _, k := range a.rt.Load().cfg.APIKeys.Keys {
			if k.ID == id {
				return v, fmt.Errorf("%w: key %q is defined in api_keys_file; disable it there", admin.ErrConflict, id)
			}
		}
	}
	return v, err
}

// History returns the applied configurations, newest first (at most 100).
func (a *App) History() []ConfigVersion { return a.history.list() }

// Version returns one applied configuration.
func (a *App) Version(id int) (ConfigVersion, bool) { return a.history.get(id) }
