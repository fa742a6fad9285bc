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
//
// Besides the configuration file it can watch the files the configuration
// refers to (the prompt files of global_prompts): see Watch.
type Watcher struct {
	w *fsnotify.Watcher

	mu    sync.Mutex
	dirs  map[string]bool // directories watched
	files map[string]bool // absolute paths whose changes are reported
}

// NewWatcher starts watching the directory of path. Changes made after it
// returns are seen by Run.
func NewWatcher(path string) (*Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch config: %w", err)
	}
	wt := &Watcher{w: w, dirs: map[string]bool{}, files: map[string]bool{}}
	if err := wt.Watch(path); err != nil {
		w.Close()
		return nil, err
	}
	return wt, nil
}

// Watch adds files to those whose changes Run reports, watching their
// directories. Files already watched are kept. It is safe to call while
// Run runs.
func (wt *Watcher) Watch(paths ...string) error {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	for _, path := range paths {
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("watch config: %w", err)
		}
		dir := filepath.Dir(abs)
		if !wt.dirs[dir] {
			if err := wt.w.Add(dir); err != nil {
				return fmt.Errorf("watch config directory %s: %w", dir, err)
			}
			wt.dirs[dir] = true
		}
		wt.files[abs] = true
	}
	return nil
}

// watched reports whether an event on name concerns a watched file: the
// file itself, or the "..data" link Kubernetes swaps in its directory.
func (wt *Watcher) watched(name string) bool {
	if filepath.Base(name) == "..data" {
		return true
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return false
	}
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.files[abs]
}

// Run calls onChange whenever a watched file may have changed, until ctx ends,
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
			if wt.watched(ev.Name) {
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
