package master

import (
	"os"
	"testing"
)

func TestWorkerProcs(t *testing.T) {
	for _, tt := range []struct{ procs, workers, want int }{
		{2, 2, 1}, {8, 2, 4}, {8, 3, 3}, {2, 4, 1}, {1, 2, 1}, {16, 16, 1},
	} {
		if got := workerProcs(tt.procs, tt.workers); got != tt.want {
			t.Errorf("workerProcs(%d, %d): got %d, want %d", tt.procs, tt.workers, got, tt.want)
		}
	}
}

// TestFilesFor: worker i serves TCP socket j of each address when
// j mod workers = i (more sockets than workers after an upgrade that lowered
// the count), and every Unix socket.
func TestFilesFor(t *testing.T) {
	tcp := &socketSet{role: RoleMain, files: fakeFiles(t, 3)}
	unix := &socketSet{role: RoleMain, unix: true, files: fakeFiles(t, 1)}
	admin := &socketSet{role: RoleAdmin, files: fakeFiles(t, 3)}
	ss := &socketSets{sets: []*socketSet{tcp, unix, admin}}
	for _, tt := range []struct {
		index int
		want  []Inherited
	}{
		{0, []Inherited{{RoleMain, 3}, {RoleMain, 4}, {RoleMain, 5}, {RoleAdmin, 6}, {RoleAdmin, 7}}},
		{1, []Inherited{{RoleMain, 3}, {RoleMain, 4}, {RoleAdmin, 5}}},
	} {
		files, got := ss.filesFor(tt.index, 2)
		if len(files) != len(got) || len(got) != len(tt.want) {
			t.Fatalf("worker %d: got %v (%d files), want %v", tt.index, got, len(files), tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("worker %d: got %v, want %v", tt.index, got, tt.want)
				break
			}
		}
	}
	// Worker 0 gets TCP sockets 0 and 2, worker 1 socket 1.
	f0, _ := ss.filesFor(0, 2)
	f1, _ := ss.filesFor(1, 2)
	if f0[0] != tcp.files[0] || f0[1] != tcp.files[2] || f0[2] != unix.files[0] || f1[0] != tcp.files[1] || f1[1] != unix.files[0] {
		t.Error("sockets handed to the wrong workers")
	}
}

// fakeFiles returns n open files (pipe ends) closed when the test ends.
func fakeFiles(t *testing.T, n int) []*os.File {
	t.Helper()
	out := make([]*os.File, n)
	for i := range out {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		out[i] = r
	}
	return out
}
