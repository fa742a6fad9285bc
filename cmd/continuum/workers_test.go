package main

// End-to-end tests of the multi-process mode (server.workers > 1) with the
// real binary: a master and its workers, killed, upgraded and reloaded with
// signals as an operator sends them, under load from keep-alive and
// fresh-connection clients.
//
// CONTINUUM_WORKER_SOAK=1 runs the long version: more load, several kills
// and upgrades in a row.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/mock"
)

// soak reports whether the long version of the worker tests runs.
func soak() bool { return os.Getenv("CONTINUUM_WORKER_SOAK") == "1" }

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the multi-process mode needs Linux")
	}
}

// startCluster runs `continuum serve` as a master. Its log lines, and those
// of its workers and of any master it upgrades to, are collected from one
// pipe (a new master outlives the first, so the pipe is not tied to it).
// The test's cleanup stops every master seen in the logs.
func startCluster(t *testing.T, cfg string, args ...string) *proc {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, append([]string{"serve", "-c", cfg, "--no-watch"}, args...)...)
	cmd.Env = append(os.Environ(), "CONTINUUM_LOG_FORMAT=json")
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	p := &proc{cmd: cmd, more: make(chan struct{}, 1), done: make(chan error, 1)}
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			_ = json.Unmarshal(sc.Bytes(), &m)
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.raw = append(p.raw, sc.Text())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		// Masters that started since (upgrades) are found in the logs.
		signalled := map[int]bool{}
		deadline := time.NewTimer(30 * time.Second)
		defer deadline.Stop()
	wait:
		for {
			for _, pid := range append(p.pids("master started"), cmd.Process.Pid) {
				if !signalled[pid] {
					signalled[pid] = true
					_ = syscall.Kill(pid, syscall.SIGTERM)
				}
			}
			select {
			case <-eof: // every process that had the pipe has exited
				break wait
			case <-time.After(100 * time.Millisecond):
			case <-deadline.C:
				t.Error("the processes did not stop within 30s of SIGTERM")
				for _, pid := range append(p.pids("master started"), p.pids("worker ready")...) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				select {
				case <-eof:
				case <-time.After(10 * time.Second):
				}
				break wait
			}
		}
		pr.Close()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("logs:\n%s", strings.Join(p.raw, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

// pids returns the "pid" field of every log line with message msg.
func (p *proc) pids(msg string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, l := range p.lines {
		if l["msg"] == msg {
			if f, ok := l["pid"].(float64); ok {
				out = append(out, int(f))
			}
		}
	}
	return out
}

// logTime returns the time of a log line.
func logTime(t *testing.T, l map[string]any) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"]))
	if err != nil {
		t.Fatalf("log line time %v: %v", l["time"], err)
	}
	return ts
}

func pidOf(l map[string]any) int {
	f, _ := l["pid"].(float64)
	return int(f)
}

// workersConfig writes a configuration with two workers in front of
// backend and returns its path.
func workersConfig(t *testing.T, backend, extra string, more ...string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	writeConfig(t, cfg, "server:\n  bind_address: 127.0.0.1:0\n  workers: 2\n  shutdown_timeout: 5s\n"+
		"health_checks:\n  enabled: false\n"+extra+"backends:\n"+backendYAML("a", backend, "m")+strings.Join(more, ""))
	return cfg
}

// clusterAddr waits until the master listens and both workers are ready,
// and returns the address.
func clusterAddr(t *testing.T, p *proc) string {
	t.Helper()
	addr := p.waitLog(t, "listening", map[string]string{"role": "master", "listener": "main"})["address"].(string)
	p.waitLog(t, "master ready", nil)
	return addr
}

const chatBody = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

// describe lists failed answers for a log line.
func describe(as []answer, keepAlive int) string {
	var b strings.Builder
	for _, a := range as {
		kind := "keep-alive"
		if a.client >= keepAlive {
			kind = "fresh"
		}
		fmt.Fprintf(&b, "\n\tclient %d (%s): %s", a.client, kind, a.err)
	}
	return b.String()
}

// answer is one request's outcome as a client saw it.
type answer struct {
	client int
	at     time.Time
	ok     bool
	worker int // X-Continuum-Worker, -1 without
	err    string
}

// loadGen runs clients that each send chat requests one after the other:
// keep-alive clients reuse one connection, fresh ones open a connection per
// request. A failure is a transport error or a status other than 200.
type loadGen struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	log  []answer
	// last is each client's last answering worker (-1: none yet).
	last []int
}

func startLoad(t *testing.T, url string, keepAlive, fresh int, body string) *loadGen {
	t.Helper()
	g := &loadGen{stop: make(chan struct{})}
	for i := range keepAlive + fresh {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableKeepAlives: i >= keepAlive}
		hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		g.last = append(g.last, -1)
		g.wg.Go(func() {
			defer tr.CloseIdleConnections()
			for {
				select {
				case <-g.stop:
					return
				default:
				}
				a := answer{client: i, worker: -1}
				resp, err := hc.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if w, perr := strconv.Atoi(resp.Header.Get("X-Continuum-Worker")); perr == nil {
						a.worker = w
					}
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				a.at, a.ok = time.Now(), err == nil
				if err != nil {
					a.err = err.Error()
				}
				g.mu.Lock()
				g.log = append(g.log, a)
				if a.worker >= 0 {
					g.last[i] = a.worker
				}
				g.mu.Unlock()
			}
		})
	}
	t.Cleanup(g.end)
	return g
}

// end stops the clients and waits for them.
func (g *loadGen) end() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
}

// answers returns the outcomes so far.
func (g *loadGen) answers() []answer {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.log)
}

// lastWorkers returns each client's last answering worker.
func (g *loadGen) lastWorkers() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.last)
}

// waitAnswers waits until n more answers than before have come.
func (g *loadGen) waitAnswers(t *testing.T, n int) {
	t.Helper()
	start := len(g.answers())
	deadline := time.Now().Add(30 * time.Second)
	for len(g.answers()) < start+n {
		if time.Now().After(deadline) {
			t.Fatalf("the load made %d answers in 30s, want %d", len(g.answers())-start, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// health asks /health on a fresh connection: the worker index and pid.
func health(t *testing.T, addr string) (int, int) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct{ Worker, Pid int }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Worker, h.Pid
}

// TestWorkerKilledUnderLoad: kill -9 one of two workers under load. The
// master restarts it; the only failures are requests on the killed
// worker's connections (at most one per keep-alive client connected to
// it: its request in flight), and new connections queue on its socket
// until the new process accepts them.
func TestWorkerKilledUnderLoad(t *testing.T) {
	skipUnlessLinux(t)
	backend := mockServer(t, mock.Options{Models: []string{"m"}, TTFT: 20 * time.Millisecond})
	p := startCluster(t, workersConfig(t, backend.URL, ""))
	addr := clusterAddr(t, p)
	// 8 keep-alive clients and 4 on fresh connections; with the backend's
	// 20ms each sends up to ~50 requests/s: a few hundred per second in all.
	g := startLoad(t, "http://"+addr, 8, 4, chatBody)
	g.waitAnswers(t, 200)

	rounds, between := 1, 200
	if soak() {
		rounds, between = 10, 2000
	}
	for round := range rounds {
		victim := round % 2
		var pid int
		for _, l := range append(p.linesWith("worker started", victim), p.linesWith("worker restarted", victim)...) {
			pid = pidOf(l) // the latest process of the victim's slot
		}
		before := len(g.answers())
		onVictim := 0
		lastBefore := g.lastWorkers()
		for _, w := range lastBefore[:8] {
			if w == victim {
				onVictim++
			}
		}
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		ready := p.waitReady(t, victim, pid)
		// Clients see the new process answer.
		g.waitAnswers(t, between)
		var firstAfter time.Time
		failures := map[int]int{}
		var failed []answer
		for _, a := range g.answers()[before:] {
			if !a.ok {
				failures[a.client]++
				failed = append(failed, a)
			} else if a.worker == victim && firstAfter.IsZero() && a.at.After(logTime(t, ready)) {
				firstAfter = a.at
			}
		}
		exited := p.waitLog(t, "worker exited unexpectedly", map[string]string{"pid": strconv.Itoa(pid)})
		t.Logf("round %d: killed worker %d (pid %d) with %d keep-alive clients on it; restarted as pid %d %s after its exit was seen (backoff %vs); first answer from it %s after the kill; %d requests failed:%s",
			round, victim, pid, onVictim, pidOf(ready), logTime(t, ready).Sub(logTime(t, exited)).Round(time.Millisecond), exited["restart_in_s"],
			firstAfter.Sub(killed).Round(time.Millisecond), len(failed), describe(failed, 8))
		for c, n := range failures {
			if c < 8 && lastBefore[c] != victim {
				t.Errorf("keep-alive client %d, connected to worker %d, failed: only the killed worker's clients may", c, lastBefore[c])
			}
			if c >= 8 {
				// A fresh connection's request can also be in flight on
				// the killed worker: one at most per client.
				if n > 1 {
					t.Errorf("fresh-connection client %d failed %d times, want at most once (its request in flight)", c, n)
				}
				continue
			}
			if n > 1 {
				t.Errorf("keep-alive client %d failed %d times, want at most once (its request in flight on the killed worker)", c, n)
			}
		}
		if len(failed) > onVictim+4 {
			t.Errorf("%d requests failed; want at most the killed worker's in flight: %d keep-alive connections and the 4 fresh-connection clients", len(failed), onVictim)
		}
		if firstAfter.IsZero() {
			t.Errorf("no answer from the restarted worker %d", victim)
		}
	}
	g.end()
	t.Logf("%d requests in all", len(g.answers()))
}

// linesWith returns the log lines with message msg about worker index.
func (p *proc) linesWith(msg string, index int) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["msg"] == msg && fmt.Sprint(l["worker"]) == strconv.Itoa(index) && l["role"] == "master" {
			out = append(out, l)
		}
	}
	return out
}

// waitReady waits for the master's "worker ready" line of worker index's
// next process after oldPid.
func (p *proc) waitReady(t *testing.T, index, oldPid int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, l := range p.linesWith("worker ready", index) {
			if pidOf(l) != oldPid && pidOf(l) > 0 {
				// The latest line wins: an earlier process's may precede.
				if restarted := p.linesWith("worker restarted", index); len(restarted) > 0 && pidOf(restarted[len(restarted)-1]) == pidOf(l) {
					return l
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d was not restarted", index)
		}
		select {
		case <-p.more:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestWorkersBinaryUpgradeUnderLoad: SIGUSR2 with the same binary under
// load, from clients on keep-alive connections and clients opening a
// connection per request; no request fails. The new master inherits the
// sockets and starts its workers; once they are ready the old workers hand
// their keep-alive clients over (each connection closed after its next
// answer) and the old master exits.
func TestWorkersBinaryUpgradeUnderLoad(t *testing.T) {
	skipUnlessLinux(t)
	backend := mockServer(t, mock.Options{Models: []string{"m"}, TTFT: 10 * time.Millisecond})
	slow := mockServer(t, mock.Options{Models: []string{"slow"}, TokenDelay: 50 * time.Millisecond, Tokens: 20})
	pidFile := filepath.Join(t.TempDir(), "continuum.pid")
	p := startCluster(t, workersConfig(t, backend.URL, "admin:\n  auth: {method: bearer_token, token: secret-t}\n",
		backendYAML("s", slow.URL, "slow"), backendYAML("d", backend.URL, "spare")), "--pid-file", pidFile)
	addr := clusterAddr(t, p)
	// An operator drained backend d: it must stay drained across upgrades.
	drained := func() (bool, int) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/admin/backends/d", nil)
		req.Header.Set("Authorization", "Bearer secret-t")
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b struct {
			Drained bool `json:"drained"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /admin/backends/d: %d %v", resp.StatusCode, err)
		}
		w, _ := strconv.Atoi(resp.Header.Get("X-Continuum-Worker"))
		return b.Drained, w
	}
	{
		req, _ := http.NewRequest("POST", "http://"+addr+"/admin/backends/d/drain", nil)
		req.Header.Set("Authorization", "Bearer secret-t")
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("drain d: %v %v", resp, err)
		}
		resp.Body.Close()
		by, _ := strconv.Atoi(resp.Header.Get("X-Continuum-Worker"))
		p.waitLog(t, "backend drained", map[string]string{"worker": strconv.Itoa(1 - by)})
	}
	readPID := func() int {
		t.Helper()
		pid, err := strconv.Atoi(strings.TrimSpace(mustRead(t, pidFile)))
		if err != nil {
			t.Fatalf("pid file: %v", err)
		}
		return pid
	}
	if got := readPID(); got != p.cmd.Process.Pid {
		t.Fatalf("pid file: got %d, want the master's %d", got, p.cmd.Process.Pid)
	}
	g := startLoad(t, "http://"+addr, 6, 6, chatBody)
	g.waitAnswers(t, 200)
	// A stream of about a second, started before the upgrade, on an old
	// worker: it must finish there.
	stream, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"slow","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	streamBody := bufio.NewReader(stream.Body)
	if _, err := streamBody.ReadString('\n'); err != nil { // the first event has arrived
		t.Fatal(err)
	}

	upgrades, between := 1, 200
	if soak() {
		upgrades, between = 10, 2000
	}
	master := p.cmd.Process.Pid
	var old []int // earlier masters
	for i := range upgrades {
		before := len(g.answers())
		if err := syscall.Kill(master, syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
		p.waitLog(t, "master stopped after the upgrade", map[string]string{"pid": strconv.Itoa(master)})
		ready := p.waitLogFunc(t, "master ready", func(l map[string]any) bool { return pidOf(l) != master && !slices.Contains(old, pidOf(l)) })
		old = append(old, master)
		next := pidOf(ready)
		if got := readPID(); got != next {
			t.Errorf("pid file after the upgrade: got %d, want the new master's %d", got, next)
		}
		newWorkers := p.workersOf(next)
		if len(newWorkers) != 2 {
			t.Fatalf("new master %d: workers %v, want 2 ready before the old one stopped", next, newWorkers)
		}
		g.waitAnswers(t, between)
		answers := g.answers()[before:]
		var failed []answer
		for _, a := range answers {
			if !a.ok {
				failed = append(failed, a)
			}
		}
		t.Logf("upgrade %d: master %d → %d (workers %v); %d requests during and after it, %d failed%s", i, master, next, newWorkers, len(answers), len(failed), describe(failed, 6))
		if len(failed) > 0 {
			t.Errorf("%d requests failed during the binary upgrade, want 0", len(failed))
		}
		// New connections reach the new workers only.
		for range 8 {
			if _, pid := health(t, addr); !slices.Contains(newWorkers, pid) {
				t.Errorf("/health answered by pid %d, not one of the new workers %v", pid, newWorkers)
			}
		}
		// And backend d is still drained on every new worker.
		for range 8 {
			if d, w := drained(); !d {
				t.Errorf("after upgrade %d: backend d is not drained on worker %d", i, w)
			}
		}
		master = next
	}
	rest, err := io.ReadAll(streamBody)
	if err != nil || !strings.Contains(string(rest), "tok19") || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("the stream started before the upgrade did not finish: %v %q", err, rest)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("the first master exited with %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the first master did not exit after the upgrade")
	}
}

// waitLogFunc waits for a log line with message msg for which match holds.
func (p *proc) waitLogFunc(t *testing.T, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if l["msg"] == msg && match(l) {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-deadline.C:
			t.Fatalf("no matching log line %q within 15s", msg)
		}
	}
}

// workersOf returns the pids of the workers master pid reported ready
// (master log lines come after its "master started").
func (p *proc) workersOf(master int) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, l := range p.lines {
		if l["msg"] == "master ready" && pidOf(l) == master {
			ws, _ := l["workers"].([]any)
			for _, w := range ws {
				f, _ := w.(float64)
				out = append(out, int(f))
			}
		}
	}
	return out
}

// TestWorkersSIGHUP: SIGHUP to the master reaches every worker; each then
// serves the new configuration (a new model alias).
func TestWorkersSIGHUP(t *testing.T) {
	skipUnlessLinux(t)
	backend := mockServer(t, mock.Options{Models: []string{"m"}})
	cfg := workersConfig(t, backend.URL, "")
	p := startCluster(t, cfg)
	addr := clusterAddr(t, p)
	aliasBody := `{"model":"alias-x","messages":[]}`
	if status := perWorker(t, addr, aliasBody); status[0] != 404 || status[1] != 404 {
		t.Fatalf("before the reload: got %v, want 404 from both workers", status)
	}

	writeConfig(t, cfg, strings.Replace(mustRead(t, cfg), "backends:\n", "model_aliases: {alias-x: m}\nbackends:\n", 1))
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for w := range 2 {
		l := p.waitLog(t, "configuration reloaded", map[string]string{"worker": strconv.Itoa(w), "trigger": "signal"})
		if at := logTime(t, l); at.After(last) {
			last = at
		}
	}
	t.Logf("both workers reloaded within %s of the SIGHUP", last.Sub(sent).Round(time.Millisecond))
	if status := perWorker(t, addr, aliasBody); status[0] != 200 || status[1] != 200 {
		t.Fatalf("after the reload: got %v, want 200 from both workers", status)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// perWorker sends body on fresh connections until both workers have
// answered, and returns each worker's status. It fails if they disagree
// among themselves.
func perWorker(t *testing.T, addr, body string) map[int]int {
	t.Helper()
	got := map[int]int{}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := 0; len(got) < 2; i++ {
		if i == 200 {
			t.Fatalf("200 fresh connections reached only workers %v", got)
		}
		resp, err := hc.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		w, _ := strconv.Atoi(resp.Header.Get("X-Continuum-Worker"))
		if s, seen := got[w]; seen && s != resp.StatusCode {
			t.Fatalf("worker %d answered %d, then %d", w, s, resp.StatusCode)
		}
		got[w] = resp.StatusCode
	}
	return got
}

// TestWorkersAdminReachesEveryWorker: a drain, an undrain and a reload
// through the admin API, which one worker answers, apply in both.
func TestWorkersAdminReachesEveryWorker(t *testing.T) {
	skipUnlessLinux(t)
	backend := mockServer(t, mock.Options{Models: []string{"m"}})
	cfg := workersConfig(t, backend.URL, "admin:\n  auth: {method: bearer_token, token: secret-t}\n")
	p := startCluster(t, cfg)
	addr := clusterAddr(t, p)
	adminPost := func(path string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer secret-t")
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: status %d", path, resp.StatusCode)
		}
		w, _ := strconv.Atoi(resp.Header.Get("X-Continuum-Worker"))
		return w
	}

	by := adminPost("/admin/backends/a/drain")
	p.waitLog(t, "backend drained", map[string]string{"worker": strconv.Itoa(1 - by)})
	if status := perWorker(t, addr, chatBody); status[0] != 503 || status[1] != 503 {
		t.Fatalf("after a drain through worker %d: got %v, want 503 from both", by, status)
	}
	by = adminPost("/admin/backends/a/undrain")
	p.waitLog(t, "backend undrained", map[string]string{"worker": strconv.Itoa(1 - by)})
	if status := perWorker(t, addr, chatBody); status[0] != 200 || status[1] != 200 {
		t.Fatalf("after an undrain through worker %d: got %v, want 200 from both", by, status)
	}

	writeConfig(t, cfg, strings.Replace(mustRead(t, cfg), "backends:\n", "model_aliases: {alias-y: m}\nbackends:\n", 1))
	by = adminPost("/admin/config/reload")
	p.waitLog(t, "configuration reloaded", map[string]string{"worker": strconv.Itoa(1 - by), "trigger": "admin"})
	if status := perWorker(t, addr, `{"model":"alias-y","messages":[]}`); status[0] != 200 || status[1] != 200 {
		t.Fatalf("after a reload through worker %d: got %v, want 200 from both", by, status)
	}
}

// TestWorkersMetricsAggregated: requests spread over both workers (one
// SO_REUSEPORT socket each, fresh connections) are all counted by every
// scrape of /metrics, whichever worker answers it.
func TestWorkersMetricsAggregated(t *testing.T) {
	skipUnlessLinux(t)
	backend := mockServer(t, mock.Options{Models: []string{"m"}})
	p := startCluster(t, workersConfig(t, backend.URL, ""))
	addr := clusterAddr(t, p)
	const n = 200
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	served := map[string]int{}
	for range n {
		resp, err := hc.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		served[resp.Header.Get("X-Continuum-Worker")]++
	}
	t.Logf("%d new connections spread by SO_REUSEPORT: worker 0 %d, worker 1 %d", n, served["0"], served["1"])
	for _, w := range []string{"0", "1"} {
		if served[w] < n/5 {
			t.Errorf("worker %s served %d of %d connections; want at least a fifth", w, served[w], n)
		}
	}
	re := regexp.MustCompile(`(?m)^continuum_requests_total\{backend="a",endpoint="chat_completions",model="m",status="200"\} (\d+)$`)
	scrapedBy := map[string]bool{}
	for i := 0; i < 6 || len(scrapedBy) < 2; i++ {
		if i == 100 {
			t.Fatalf("100 scrapes reached only workers %v", scrapedBy)
		}
		resp, err := hc.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w := resp.Header.Get("X-Continuum-Worker")
		scrapedBy[w] = true
		m := re.FindSubmatch(body)
		if m == nil {
			t.Fatalf("scrape by worker %s: no continuum_requests_total for the requests:\n%s", w, body)
		}
		if got, _ := strconv.Atoi(string(m[1])); got != n {
			t.Errorf("scrape by worker %s: continuum_requests_total = %d, want %d (every worker's requests)", w, got, n)
		}
		if !bytes.Contains(body, []byte("\ncontinuum_workers_up 2\n")) {
			t.Errorf("scrape by worker %s: continuum_workers_up is not 2", w)
		}
		if c := bytes.Count(body, []byte("# TYPE continuum_requests_total ")); c != 1 {
			t.Errorf("scrape by worker %s: %d TYPE lines for continuum_requests_total, want one exposition", w, c)
		}
	}
}
