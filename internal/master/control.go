package master

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The control protocol: JSON objects, one per line, over the Unix socket
// ControlSocket(dir). A worker opens one connection at start and keeps it:
//
//	worker → master: hello {worker, pid}    answered by state {drained}
//	                 ready {worker, pid}    serving; the supervisor counts it ready
//	                 reload                 this worker reloaded (admin API); reload the others
//	                 drain, undrain {backend}  this worker drained a backend; do it everywhere
//	master → worker: reload, drain, undrain {backend}
//
// The master remembers drained backends and gives them to every worker
// that says hello, so a restarted worker starts with the others' state.
const (
	OpHello   = "hello"
	OpState   = "state"
	OpReady   = "ready"
	OpReload  = "reload"
	OpDrain   = "drain"
	OpUndrain = "undrain"
)

// Message is one line of the control protocol.
type Message struct {
	Op      string   `json:"op"`
	Worker  int      `json:"worker,omitempty"`
	Pid     int      `json:"pid,omitempty"`
	Backend string   `json:"backend,omitempty"`
	Drained []string `json:"drained,omitempty"`
}

// ControlSocket returns the path of the master's control socket in dir.
func ControlSocket(dir string) string { return filepath.Join(dir, "master.sock") }

// MetricsSocket returns the path of worker index's metrics socket in dir.
func MetricsSocket(dir string, index int) string {
	return filepath.Join(dir, fmt.Sprintf("metrics-%d.sock", index))
}

// Link is a worker's connection to its master.
type Link struct {
	conn   net.Conn
	index  int
	pid    int
	mu     sync.Mutex // serialises writes
	enc    *json.Encoder
	reader *bufio.Scanner
}

// Dial connects worker index (process pid) to the master whose directory
// is dir, says hello and returns the backends every worker must keep
// drained.
func Dial(ctx context.Context, dir string, index, pid int) (*Link, []string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", ControlSocket(dir))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the master: %w", err)
	}
	l := &Link{conn: conn, index: index, pid: pid, enc: json.NewEncoder(conn), reader: bufio.NewScanner(conn)}
	l.reader.Buffer(make([]byte, 0, 4096), 1<<20)
	if err := l.Send(Message{Op: OpHello}); err != nil {
		conn.Close()
		return nil, nil, err
	}
	// The answer comes at once; a master that does not answer is broken.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := l.read()
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("hello to the master: %w", err)
	}
	if m.Op != OpState {
		conn.Close()
		return nil, nil, fmt.Errorf("hello to the master: unexpected answer %q", m.Op)
	}
	return l, m.Drained, nil
}

func (l *Link) read() (Message, error) {
	if !l.reader.Scan() {
		if err := l.reader.Err(); err != nil {
			return Message{}, err
		}
		return Message{}, errors.New("connection closed")
	}
	var m Message
	if err := json.Unmarshal(l.reader.Bytes(), &m); err != nil {
		return Message{}, fmt.Errorf("bad control message: %w", err)
	}
	return m, nil
}

// Send sends m, stamped with the worker's index and pid.
func (l *Link) Send(m Message) error {
	m.Worker, m.Pid = l.index, l.pid
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := l.enc.Encode(m); err != nil {
		return fmt.Errorf("send %s to the master: %w", m.Op, err)
	}
	return nil
}

// Serve calls handle for each message from the master until ctx ends or
// the connection breaks (the master exited); it then closes the link.
func (l *Link) Serve(ctx context.Context, handle func(Message)) error {
	stop := context.AfterFunc(ctx, func() { l.conn.Close() })
	defer stop()
	defer l.conn.Close()
	for {
		m, err := l.read()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		handle(m)
	}
}

// Close closes the link.
func (l *Link) Close() error { return l.conn.Close() }

// control is the master's end of the control protocol.
type control struct {
	ln  net.Listener
	sup *Supervisor
	log *slog.Logger
	// onReload is called when a worker reports an admin reload.
	onReload func()

	mu      sync.Mutex
	conns   map[int]*peer // the latest connection of each worker
	open    map[net.Conn]struct{}
	drained map[string]bool
	wg      sync.WaitGroup
}

// peer is one worker's connection.
type peer struct {
	conn net.Conn
	mu   sync.Mutex
	enc  *json.Encoder
}

func (p *peer) send(m Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return p.enc.Encode(m)
}

func newControl(ln net.Listener, sup *Supervisor, log *slog.Logger, onReload func()) *control {
	return &control{ln: ln, sup: sup, log: log, onReload: onReload, conns: map[int]*peer{}, open: map[net.Conn]struct{}{}, drained: map[string]bool{}}
}

// serve accepts workers' connections until ctx ends, then closes them all
// and returns once their goroutines have.
func (c *control) serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		c.ln.Close()
		c.mu.Lock()
		for conn := range c.open {
			conn.Close()
		}
		c.mu.Unlock()
	})
	defer stop()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			break
		}
		c.mu.Lock()
		if ctx.Err() != nil {
			c.mu.Unlock()
			conn.Close()
			break
		}
		c.open[conn] = struct{}{}
		c.mu.Unlock()
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.handle(ctx, conn)
		}()
	}
	c.wg.Wait()
}

// handle serves one worker's connection.
func (c *control) handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	p := &peer{conn: conn, enc: json.NewEncoder(conn)}
	index := -1
	defer func() {
		c.mu.Lock()
		if index >= 0 && c.conns[index] == p {
			delete(c.conns, index)
		}
		delete(c.open, conn)
		c.mu.Unlock()
	}()
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			c.log.Warn("bad control message from a worker", "error", err.Error())
			return
		}
		switch m.Op {
		case OpHello:
			c.mu.Lock()
			if ctx.Err() != nil {
				c.mu.Unlock()
				return
			}
			index = m.Worker
			c.conns[index] = p
			drained := c.drainedLocked()
			c.mu.Unlock()
			if err := p.send(Message{Op: OpState, Drained: drained}); err != nil {
				return
			}
		case OpReady:
			c.sup.Ready(m.Worker, m.Pid)
		case OpReload:
			c.log.Info("a worker reloaded its configuration through the admin API; reloading the others", "worker", m.Worker)
			c.forward(m.Worker, Message{Op: OpReload})
			if c.onReload != nil {
				c.onReload()
			}
		case OpDrain, OpUndrain:
			c.mu.Lock()
			if m.Op == OpDrain {
				c.drained[m.Backend] = true
			} else {
				delete(c.drained, m.Backend)
			}
			c.mu.Unlock()
			c.log.Info("a worker "+m.Op+"ed a backend through the admin API; forwarding to the others", "worker", m.Worker, "backend", m.Backend)
			c.forward(m.Worker, Message{Op: m.Op, Backend: m.Backend})
		default:
			c.log.Warn("unknown control message from a worker", "op", m.Op, "worker", m.Worker)
		}
	}
}

// drainedList returns the drained backends, sorted.
func (c *control) drainedList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drainedLocked()
}

// setDrained marks backends drained, as a worker's drain would (for the
// backends a previous master had drained).
func (c *control) setDrained(backends []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range backends {
		c.drained[b] = true
	}
}

func (c *control) drainedLocked() []string {
	var out []string
	for b := range c.drained {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// forward sends m to every connected worker but from.
func (c *control) forward(from int, m Message) {
	c.mu.Lock()
	var to []*peer
	for i, p := range c.conns {
		if i != from {
			to = append(to, p)
		}
	}
	c.mu.Unlock()
	for _, p := range to {
		if err := p.send(m); err != nil {
			c.log.Warn("cannot reach a worker's control connection", "error", err.Error())
		}
	}
}
