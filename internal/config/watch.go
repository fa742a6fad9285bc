package config

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/continuumhq/continuum/internal/clock"
)

// Watcher reports changes of a configuration file. It watches the file's
// directory rather than the file itself, because editors and configuration
// managers replace files (write a temporary file, then rename it over the
// original) and Kubernetes swaps a "..data" symlink; a watch on the file
// alone would be lost after the first replacement.
type Watcher struct {
	w    *fsnotify.Watcher
	base string
}

// NewWatcher starts watching the directory of path. Changes made after it
// returns are seen by Run.
func NewWatcher(path string) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch config: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch config: %w", err)
	}
	dir := filepath.Dir(abs)
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch config directory %s: %w", dir, err)
	}
	return &Watcher{w: w, base: filepath.Base(abs)}, nil
}

// Run calls onChange whenever the file may have changed, until ctx ends,
// then closes the watcher. Bursts of events are coalesced: onChange runs
// once, debounce after the last event (measured on clk), on Run's goroutine.
func (wt *Watcher) Run(ctx context.Context, debounce time.Duration, clk clock.Clock, onChange func()) {
	defer wt.w.Close()
	var (
		mu      sync.Mutex
		pending clock.Timer
	)
	fire := make(chan struct{}, 1)
	schedule := func() {
		mu.Lock()
		defer mu.Unlock()
		if pending != nil {
			pending.Stop()
		}
		pending = clk.AfterFunc(debounce, func() {
			select {
			case fire <- struct{}{}:
			default:
			}
		})
	}
	defer func() {
		mu.Lock()
		if pending != nil {
			pending.Stop()
		}
		mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wt.w.Events:
			if !ok {
				return
			}
			if name := filepath.Base(ev.Name); name == wt.base || name == "..data" {
				schedule()
			}
		case _, ok := <-wt.w.Errors:
			if !ok {
				return
			}
			// A dropped event (queue overflow) may hide a change: check anyway.
			schedule()
		case <-fire:
			onChange()
		}
	}
}
