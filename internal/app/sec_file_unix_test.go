//go:build unix

package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSecWriteBackKeepsLinkAndOwner: a change made through the admin API is
// written to the file a symbolic link points to, keeping the link, and the
// file keeps its mode, owner and group (the owner and group when the test
// runs as root, which may set them).
func TestSecWriteBackKeepsLinkAndOwner(t *testing.T) {
	t.Parallel()
	backend := mockServer(t, "m", "n")
	dir := parityFiles(t, backend, map[string]string{"config.yaml": manageConfig})
	target := filepath.Join(dir, "config.yaml")
	linkDir := t.TempDir()
	link := filepath.Join(linkDir, "continuum.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o640); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 4242, 4343
	root := os.Geteuid() == 0
	if root {
		if err := os.Chown(target, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	e := startFile(t, link)

	body := `{"name":"b","url":"` + backend + `","models":["n"]}`
	if code, text := manage(t, e, "POST", "/admin/backends", body, nil); code != 201 {
		t.Fatalf("POST /admin/backends: got %d %s, want 201", code, text)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s: got %v (%v), want it still a symbolic link", link, fi.Mode(), err)
	}
	if !strings.Contains(readFile(t, target), "name: b") {
		t.Errorf("the link's target was not updated:\n%s", readFile(t, target))
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode: got %v, want 0640 kept", fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && root && (st.Uid != uid || st.Gid != gid) {
		t.Errorf("owner: got %d:%d, want %d:%d kept", st.Uid, st.Gid, uid, gid)
	}
	for _, d := range []string{dir, linkDir} {
		entries, _ := os.ReadDir(d)
		for _, en := range entries {
			if strings.Contains(en.Name(), ".tmp-") {
				t.Errorf("a temporary file was left behind: %s", filepath.Join(d, en.Name()))
			}
		}
	}
}
