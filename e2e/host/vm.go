package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Resolver maps an http-callout target to a base URL such as
// "http://127.0.0.1:18001". On the Envoy profiles the target is a cluster
// name; on APISIX it is the "host[:port]" the module passed.
type Resolver func(target string) (baseURL string, ok bool)

// VMConfig configures one VM: one Envoy worker's VM for a vm_config, or one
// APISIX wasm plugin instance.
type VMConfig struct {
	Profile Profile
	// VMID is Envoy's vm_config.vm_id: it scopes shared data and queues and
	// answers the plugin_vm_id property.
	VMID string
	// VMConfiguration is vm_config.configuration, read in proxy_on_vm_start.
	VMConfiguration []byte
	// Env is what WASI environ_get returns (Envoy
	// vm_config.environment_variables; nginx's environment on APISIX).
	Env map[string]string
	// Shared is the "process" this VM lives in (shared data, queues,
	// metrics). Nil gives the VM a private one.
	Shared *Shared
	// Clusters resolves http-callout targets. Nil resolves nothing.
	Clusters Resolver
	// HTTPClient performs http callouts. Nil uses a client with dial and
	// TLS-handshake timeouts and no response compression.
	HTTPClient *http.Client
	// PluginName and RootID are Envoy's PluginConfig.name and root_id
	// (properties plugin_name, plugin_root_id). On APISIX, PluginName is the
	// wasm plugin's name, which answers plugin_root_id.
	PluginName, RootID string
	// LogLevel is the host's log level: what proxy_get_log_level answers
	// and the lowest level captured. The zero value (trace) captures
	// everything; Envoy runs at info by default.
	LogLevel LogLevel
	// BufferLimit is the stream buffer limit in bytes; 0 means 1 MiB, the
	// default per_connection_buffer_limit_bytes
	// (docs/host-behaviours.md#buffer-limits).
	BufferLimit int
	// Log, if set, receives every captured log line as well.
	Log func(level LogLevel, msg string)
}

// maxLogLines bounds the VM's log ring so soak tests stay flat.
const maxLogLines = 8192

type vmKey struct{}

// Restriction modes for V8's restricted callbacks (docs/proxy-wasm-abi.md#restricted-callbacks).
const (
	restrictNone = iota
	restrictInit
	restrictAlloc
)

// VM is one instance of the module: single-threaded like an Envoy worker's
// VM. Every entry into the guest holds the VM's mutex.
type VM struct {
	cfg    VMConfig
	p      Profile
	shared *Shared
	client *http.Client
	ctx    context.Context // carries the *VM for host functions

	mu       sync.Mutex
	inst     api.Module
	mem      api.Memory
	fn       guestFuncs
	stack    [8]uint64
	astack   [1]uint64
	restrict int

	// callTime is spent in guest entries (callbacks), hostTime in host
	// functions the guest called, allocTime in the guest allocator called
	// back from host functions: GuestTime derives the guest's own share.
	callTime, hostTime, allocTime time.Duration
	dead                          error
	closed                        bool

	nextID    uint32
	free      []uint32 // APISIX reuses context ids
	ctxs      map[uint32]*vmContext
	cur, eff  *vmContext
	attrib    *stream // credited with log lines of the running call
	vmStarted bool
	plugins   []*Plugin

	nextCall uint32
	inflight int // http callouts on their way
	queues   int // shared queues this VM registered
	metrics  map[uint32]*Metric
	nextMet  [3]uint32
	scratch  []byte

	lastErr string // last error-level line (vm.mu)

	logMu sync.Mutex
	logs  []LogLine
	logAt int
}

// guestFuncs are the callbacks the host calls. Trailers and metadata
// callbacks are never called: requests and responses here have none.
type guestFuncs struct {
	malloc, contextCreate, vmStart, configure, tick, done, log, del api.Function
	reqHeaders, reqBody, respHeaders, respBody                      api.Function
	callResponse, queueReady                                        api.Function
}

// vmContext is a proxy-wasm context: a root (plugin) or a stream.
type vmContext struct {
	id uint32
	p  *Plugin // the root this context belongs to
	s  *stream // nil for a root context
}

// NewVM instantiates the module with the profile's host functions and WASI
// and runs its start function, as the host does when it loads the module.
func (m *Module) NewVM(ctx context.Context, cfg VMConfig) (*VM, error) {
	p := cfg.Profile
	if err := m.checkExports(p); err != nil {
		return nil, err
	}
	if err := m.link(p); err != nil {
		return nil, err
	}
	hosts, err := hostInstances(ctx, p, m.abi)
	if err != nil {
		return nil, err
	}
	if cfg.Clusters == nil {
		cfg.Clusters = func(string) (string, bool) { return "", false }
	}
	vm := &VM{cfg: cfg, p: p, shared: cfg.Shared, client: cfg.HTTPClient, nextID: 1, ctxs: map[uint32]*vmContext{}}
	if vm.shared == nil {
		vm.shared = NewShared()
	}
	if vm.client == nil {
		vm.client = defaultClient
	}
	vm.ctx = context.WithValue(context.Background(), vmKey{}, vm)
	ictx := experimental.WithImportResolver(vm.ctx, func(name string) api.Module { return hosts[name] })

	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithSysNanotime().WithSysWalltime().WithSysNanosleep().WithRandSource(rand.Reader)
	if p == APISIX {
		// wasmtime with wasi_config_inherit_env/stdout/stderr: full WASI
		// (docs/proxy-wasm-abi.md#wasi).
		mc = mc.WithStdout(logWriter{vm, LogInfo}).WithStderr(logWriter{vm, LogError})
		for _, k := range slices.Sorted(maps.Keys(cfg.Env)) {
			mc = mc.WithEnv(k, cfg.Env[k])
		}
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	inst, err := rt.r.InstantiateModule(ictx, m.compiled, mc)
	if err != nil {
		return nil, fmt.Errorf("host: instantiate: %w", err)
	}
	vm.inst, vm.mem = inst, inst.Memory()
	vm.bindExports()
	if err := vm.start(); err != nil {
		_ = inst.Close(context.Background())
		return nil, err
	}
	return vm, nil
}

func (vm *VM) bindExports() {
	f := vm.inst.ExportedFunction
	if vm.p.isEnvoy() {
		// HOST getFunctions: "malloc" first, then proxy_on_memory_allocate
		// (docs/proxy-wasm-abi.md#lifecycle).
		vm.fn.malloc = f("malloc")
		if vm.fn.malloc == nil {
			vm.fn.malloc = f("proxy_on_memory_allocate")
		}
	} else {
		// NGX: proxy_on_memory_allocate first, then malloc (A.1).
		vm.fn.malloc = f("proxy_on_memory_allocate")
		if vm.fn.malloc == nil {
			vm.fn.malloc = f("malloc")
		}
	}
	vm.fn.contextCreate = f("proxy_on_context_create")
	vm.fn.vmStart = f("proxy_on_vm_start")
	vm.fn.configure = f("proxy_on_configure")
	vm.fn.tick = f("proxy_on_tick")
	vm.fn.done = f("proxy_on_done")
	vm.fn.log = f("proxy_on_log")
	vm.fn.del = f("proxy_on_delete")
	vm.fn.reqHeaders = f("proxy_on_request_headers")
	vm.fn.reqBody = f("proxy_on_request_body")
	vm.fn.respHeaders = f("proxy_on_response_headers")
	vm.fn.respBody = f("proxy_on_response_body")
	vm.fn.callResponse = f("proxy_on_http_call_response")
	vm.fn.queueReady = f("proxy_on_queue_ready")
}

// start runs the module's start functions in the host's order. Envoy
// (HOST WasmBase::startVm): _initialize, then main(0,0) or __main_void if
// exported, else _start — under the startVm allow-list. NGX: _start if
// exported, else _initialize (docs/proxy-wasm-abi.md#lifecycle).
func (vm *VM) start() error {
	f := vm.inst.ExportedFunction
	var seq []string
	if vm.p.isEnvoy() {
		if f("_initialize") != nil {
			seq = append(seq, "_initialize")
			if f("main") != nil {
				seq = append(seq, "main")
			} else if f("__main_void") != nil {
				seq = append(seq, "__main_void")
			}
		} else if f("_start") != nil {
			seq = append(seq, "_start")
		}
		vm.restrict = restrictInit
		defer func() { vm.restrict = restrictNone }()
	} else if f("_start") != nil {
		seq = append(seq, "_start")
	} else if f("_initialize") != nil {
		seq = append(seq, "_initialize")
	}
	for _, name := range seq {
		args := []uint64{}
		if name == "main" {
			args = []uint64{0, 0}
		}
		if _, err := vm.invoke(nil, f(name), args...); err != nil {
			return fmt.Errorf("host: %s failed: %w", name, err)
		}
	}
	return nil
}

// exportSigs are the callbacks the hosts look up, with the signature V8
// insists on (docs/proxy-wasm-abi.md#lifecycle, e2e/testdata/proxy-wasm-abi.tsv).
var exportSigs = map[string]string{
	"_initialize": "/", "_start": "/", "main": "i32,i32/i32", "__main_void": "/i32",
	"malloc": "i32/i32", "proxy_on_memory_allocate": "i32/i32",
	"proxy_on_context_create": "i32,i32/", "proxy_on_vm_start": "i32,i32/i32",
	"proxy_on_configure": "i32,i32/i32", "proxy_on_tick": "i32/", "proxy_on_done": "i32/i32",
	"proxy_on_log": "i32/", "proxy_on_delete": "i32/", "proxy_on_request_headers": "i32,i32,i32/i32",
	"proxy_on_request_body": "i32,i32,i32/i32", "proxy_on_request_trailers": "i32,i32/i32",
	"proxy_on_response_headers": "i32,i32,i32/i32", "proxy_on_response_body": "i32,i32,i32/i32",
	"proxy_on_response_trailers": "i32,i32/i32", "proxy_on_http_call_response": "i32,i32,i32,i32,i32/",
	"proxy_on_queue_ready": "i32,i32/",
}

func (m *Module) checkExports(p Profile) error {
	if _, ok := m.compiled.ExportedMemories()["memory"]; !ok {
		return errors.New("host: the module does not export its memory as \"memory\" (docs/proxy-wasm-abi.md#lifecycle)")
	}
	for _, f := range m.exports {
		want, ok := exportSigs[f.Name]
		if ok && sigString(f.Params)+"/"+sigString(f.Results) != want {
			return fmt.Errorf("host: Bad function signature for: %s, want %s but the module exports %s/%s (HOST v8.cc)",
				f.Name, want, sigString(f.Params), sigString(f.Results))
		}
	}
	_, hasMalloc := m.export("malloc")
	_, hasAlloc := m.export("proxy_on_memory_allocate")
	if !hasMalloc && !hasAlloc {
		return errors.New("host: Wasm module is missing malloc function (export proxy_on_memory_allocate)")
	}
	if p.isEnvoy() {
		switch m.abi {
		case abiNone:
			return errors.New("host: Missing or unknown Proxy-Wasm ABI version (export proxy_abi_version_0_2_1)")
		case abi010:
			return errors.New("host: ABI 0.1.0 modules are not supported by this harness")
		}
	}
	return nil
}

var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 nil,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	MaxIdleConnsPerHost:   64,
	IdleConnTimeout:       90 * time.Second,
	DisableCompression:    true, // a proxy forwards encodings untouched
	ExpectContinueTimeout: time.Second,
}}

// invoke calls a guest export with vm.mu held and c as the current context.
// A missing export returns (0, nil). A trap kills the VM: like Envoy, a
// failed VM refuses every later call.
func (vm *VM) invoke(c *vmContext, f api.Function, args ...uint64) (uint64, error) {
	if vm.dead != nil {
		return 0, vm.dead
	}
	if f == nil {
		return 0, nil
	}
	prevCur, prevEff, prevAttr := vm.cur, vm.eff, vm.attrib
	// HOST SaveRestoreContext: each entry starts without an effective
	// context.
	vm.cur, vm.eff = c, nil
	if c != nil && c.s != nil {
		vm.attrib = c.s
	}
	copy(vm.stack[:], args)
	start := time.Now()
	err := f.CallWithStack(vm.ctx, vm.stack[:])
	vm.callTime += time.Since(start)
	vm.cur, vm.eff, vm.attrib = prevCur, prevEff, prevAttr
	if err != nil {
		vm.kill(fmt.Errorf("%s: %w", f.Definition().Name(), err))
		return 0, vm.dead
	}
	return vm.stack[0], nil
}

// alloc calls the guest allocator re-entrantly from inside a host function,
// under the allocator allow-list on the Envoy profiles. A trap inside it
// propagates as a panic to the enclosing guest call.
func (vm *VM) alloc(n uint32) uint32 {
	prev := vm.restrict
	if vm.p.isEnvoy() {
		vm.restrict = restrictAlloc
	}
	vm.astack[0] = uint64(n)
	start := time.Now()
	err := vm.fn.malloc.CallWithStack(vm.ctx, vm.astack[:])
	vm.allocTime += time.Since(start)
	vm.restrict = prev
	if err != nil {
		panic(fmt.Errorf("%s(%d): %w", vm.fn.malloc.Definition().Name(), n, err))
	}
	return uint32(vm.astack[0])
}

func (vm *VM) kill(err error) {
	if vm.dead != nil {
		return
	}
	vm.dead = &TrapError{VMID: vm.cfg.VMID, Profile: vm.p, Err: err, Output: guestOutput(vm.Logs())}
	vm.wakeStreams()
}

// wakeStreams wakes every stream waiting on the VM, e.g. to see it dead.
func (vm *VM) wakeStreams() {
	for _, c := range vm.ctxs {
		if c.s != nil {
			c.s.signal()
		}
	}
}

// TrapError is the error of a VM that failed: a guest trap, a restricted
// call, or a Go runtime fatal error. Output is the guest's last output
// reassembled from its log lines: a Go fatal error prints its reason
// there, one fd_write fragment per log line.
type TrapError struct {
	VMID    string
	Profile Profile
	Err     error
	Output  string
}

func (e *TrapError) Error() string {
	msg := fmt.Sprintf("host: VM %q (%s) failed: %v", e.VMID, e.Profile, e.Err)
	if e.Output != "" {
		msg += "\nguest output:\n  " + strings.ReplaceAll(e.Output, "\n", "\n  ")
	}
	return msg
}

// guestOutput reassembles the tail of the guest's output: error-level
// lines are stderr fragments (an empty one was a newline). It starts one
// line before the first Go "fatal error"/"panic" among the last lines if
// there is one, and keeps 16 lines.
func guestOutput(logs []LogLine) string {
	window := max(0, len(logs)-2048)
	start := max(window, len(logs)-48)
	for i := window; i < len(logs); i++ {
		if m := logs[i].Msg; strings.HasPrefix(m, "fatal error") || strings.HasPrefix(m, "panic: ") {
			start = i
			for breaks := 0; start > window && logs[start-1].Level == LogError && i-start < 12; start-- {
				if logs[start-1].Msg == "" {
					if breaks++; breaks == 2 {
						break
					}
				}
			}
			break
		}
	}
	var b strings.Builder
	for _, l := range logs[start:] {
		switch {
		case l.Level != LogError:
			b.WriteString("\n" + l.String() + "\n")
		case l.Msg == "":
			b.WriteByte('\n')
		default:
			b.WriteString(l.Msg)
		}
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	return strings.Join(lines[:min(len(lines), 16)], "\n")
}

func (e *TrapError) Unwrap() error { return e.Err }

// GuestTime is the time spent executing guest code so far: callbacks and
// the allocator, without the host functions they called. The difference
// between two readings is what a request cost inside the VM.
func (vm *VM) GuestTime() time.Duration {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.callTime - vm.hostTime + vm.allocTime
}

// Dead returns the error that killed the VM, or nil.
func (vm *VM) Dead() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.dead
}

// MemorySize returns the size of the guest's linear memory in bytes.
func (vm *VM) MemorySize() uint32 {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.mem == nil {
		return 0
	}
	return vm.mem.Size()
}

// Close stops the VM: roots get proxy_on_done and proxy_on_delete (as at
// Envoy shutdown), callouts are cancelled, and the instance is released.
func (vm *VM) Close() {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.closed {
		return
	}
	for _, p := range vm.plugins {
		p.closeLocked()
	}
	vm.closed = true
	if vm.dead == nil {
		vm.dead = errors.New("host: VM closed")
	}
	vm.wakeStreams()
	_ = vm.inst.Close(context.Background())
}

// Tick fires proxy_on_tick for every root whose tick period has elapsed at
// now. APISIX never ticks (proxy_set_tick_period_milliseconds is
// UNIMPLEMENTED there, docs/host-behaviours.md#apisix).
func (vm *VM) Tick(now time.Time) {
	if vm.p == APISIX {
		return
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for _, p := range vm.plugins {
		if p.closed || p.tick <= 0 || now.Before(p.nextTick) {
			continue
		}
		p.nextTick = now.Add(p.tick)
		if _, err := vm.invoke(p.c, vm.fn.tick, uint64(p.id)); err != nil {
			return
		}
	}
}

// ticking reports whether some root has a tick period (vm.mu held).
func (vm *VM) ticking() bool {
	for _, p := range vm.plugins {
		if p.tick > 0 && !p.closed {
			return true
		}
	}
	return false
}

// allocID returns a fresh context id. Envoy counts up and never reuses an
// id in use (HOST allocContextId); wasm-nginx-module reuses freed ids
// (docs/proxy-wasm-abi.md#lifecycle).
func (vm *VM) allocID() uint32 {
	if vm.p == APISIX && len(vm.free) > 0 {
		id := vm.free[len(vm.free)-1]
		vm.free = vm.free[:len(vm.free)-1]
		return id
	}
	for {
		id := vm.nextID
		vm.nextID++
		if _, used := vm.ctxs[id]; !used && id != 0 {
			return id
		}
	}
}

func (vm *VM) releaseID(id uint32) {
	delete(vm.ctxs, id)
	if vm.p == APISIX {
		vm.free = append(vm.free, id)
	}
}

// effective is the context host calls act on: the effective context if the
// guest set one that still exists, else the current one (HOST
// ContextOrEffectiveContext).
func (vm *VM) effective() *vmContext {
	if vm.eff != nil {
		if _, ok := vm.ctxs[vm.eff.id]; ok {
			return vm.eff
		}
	}
	return vm.cur
}

// ---- logs ----

func (vm *VM) logf(level LogLevel, msg string) {
	if level < vm.cfg.LogLevel {
		return
	}
	l := LogLine{Level: level, Msg: msg}
	vm.logMu.Lock()
	if len(vm.logs) < maxLogLines {
		vm.logs = append(vm.logs, l)
	} else {
		vm.logs[vm.logAt] = l
		vm.logAt = (vm.logAt + 1) % maxLogLines
	}
	vm.logMu.Unlock()
	if level >= LogError {
		vm.lastErr = msg
	}
	if s := vm.attrib; s != nil {
		s.logs = append(s.logs, l)
	}
	if vm.cfg.Log != nil {
		vm.cfg.Log(level, msg)
	}
}

// Logs returns the VM's captured log lines, oldest first (the last 8192).
func (vm *VM) Logs() []LogLine {
	vm.logMu.Lock()
	defer vm.logMu.Unlock()
	out := make([]LogLine, 0, len(vm.logs))
	out = append(out, vm.logs[vm.logAt:]...)
	return append(out, vm.logs[:vm.logAt]...)
}

// logWriter turns WASI stdout/stderr writes into log lines (APISIX).
type logWriter struct {
	vm    *VM
	level LogLevel
}

func (w logWriter) Write(b []byte) (int, error) {
	w.vm.logf(w.level, strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
