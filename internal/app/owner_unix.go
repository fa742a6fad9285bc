//go:build unix

package app

import (
	"errors"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of the file fi describes. Only the
// superuser may give a file away: a router that may not (EPERM) leaves the
// temporary file its own, as any editor would.
func keepOwner(f *os.File, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, syscall.EPERM) {
		return err
	}
	return nil
}
