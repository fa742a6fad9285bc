package config

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

func TestWatchSeesWritesAndReplacements(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Time{})
	changes := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := NewWatcher(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, time.Second, clk, func() { changes <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	wait := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The debounce timer exists once the event was seen.
		if err := clk.WaitForTimers(ctx, 1); err != nil {
			t.Fatalf("%s: no event seen", what)
		}
		clk.Advance(time.Second)
		select {
		case <-changes:
		case <-ctx.Done():
			t.Fatalf("%s: onChange not called", what)
		}
	}
	if err := os.WriteFile(path, []byte("a: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait("in-place write")

	// An editor's save: write a temporary file, rename it over the original.
	tmp := filepath.Join(dir, ".config.yaml.swp")
	if err := os.WriteFile(tmp, []byte("a: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	wait("rename over the file")

	// Still watching after the replacement.
	if err := os.WriteFile(path, []byte("a: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait("write after replacement")

	// Other files in the directory are ignored.
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("a: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait("write after an unrelated file")
	select {
	case <-changes:
		t.Fatal("an unrelated file triggered a second change")
	default:
	}
}

func TestWatchMoreFiles(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "config.yaml", "a: 1\n")
	prompt := writeFile(t, dir, "prompts/system.md", "v1")
	other := writeFile(t, dir, "prompts/other.md", "x")
	clk := clock.NewFake(time.Time{})
	w, err := NewWatcher(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch(prompt); err != nil {
		t.Fatal(err)
	}
	changes := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, time.Second, clk, func() { changes <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	if err := os.WriteFile(other, []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prompt, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := clk.WaitForTimers(wctx, 1); err != nil {
		t.Fatal("the prompt file's change was not seen")
	}
	clk.Advance(time.Second)
	select {
	case <-changes:
	case <-wctx.Done():
		t.Fatal("onChange not called for the prompt file")
	}
}
