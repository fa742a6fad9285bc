package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/continuumhq/continuum/internal/config"
)

// maxVersions is how many applied configurations the history keeps.
const maxVersions = 100

// ConfigVersion is one applied configuration.
type ConfigVersion struct {
	// ID numbers versions from 1, in the order they were applied.
	ID int
	// Time is when it was applied.
	Time time.Time
	// Trigger says what applied it: startup, file, signal, admin, rollback,
	// backend_add, backend_update, backend_remove, key_create, key_revoke.
	Trigger string
	// SHA256 is the hex digest of the file's text.
	SHA256 string
	// Redacted is the effective configuration rendered as YAML, every
	// secret shown as ****.
	Redacted string
	// text is the file's text as written, secrets included: what a
	// rollback writes back. It is never shown.
	text []byte
}

// history is the bounded list of applied configurations, oldest first.
type history struct {
	mu       sync.Mutex
	versions []ConfigVersion
	next     int
}

// add records a configuration applied from text and returns its version.
// A configuration identical to the newest version (the same text, and the
// same effective values, which files it names may change) is not recorded
// again: add returns the newest version, so that no-op changes and repeated
// reloads do not push real rollback points out of the history.
func (h *history) add(now time.Time, trigger string, text []byte, cfg *config.Config) ConfigVersion {
	sum := sha256.Sum256(text)
	v := ConfigVersion{Time: now, Trigger: trigger, SHA256: hex.EncodeToString(sum[:]), Redacted: renderRedacted(cfg), text: text}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.versions); n > 0 && h.versions[n-1].SHA256 == v.SHA256 && h.versions[n-1].Redacted == v.Redacted {
		return h.versions[n-1]
	}
	h.next++
	v.ID = h.next
	h.versions = append(h.versions, v)
	if len(h.versions) > maxVersions {
		h.versions = append(h.versions[:0:0], h.versions[len(h.versions)-maxVersions:]...)
	}
	return v
}

// list returns the versions, newest first.
func (h *history) list() []ConfigVersion {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ConfigVersion, len(h.versions))
	for i, v := range h.versions {
		out[len(out)-1-i] = v
	}
	return out
}

// get returns the version id.
func (h *history) get(id int) (ConfigVersion, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.versions {
		if v.ID == id {
			return v, true
		}
	}
	return ConfigVersion{}, false
}

// current returns the newest version.
func (h *history) current() (ConfigVersion, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.versions) == 0 {
		return ConfigVersion{}, false
	}
	return h.versions[len(h.versions)-1], true
}

// renderRedacted renders cfg's effective values as YAML with every secret
// masked.
func renderRedacted(cfg *config.Config) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg.Redacted()); err != nil {
		return "# render configuration: " + err.Error() + "\n"
	}
	enc.Close()
	return buf.String()
}

// configText returns the text a configuration built in code would have as a
// file: its YAML rendering, which parses back to the same values.
func configText(cfg *config.Config) []byte {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil
	}
	return data
}
