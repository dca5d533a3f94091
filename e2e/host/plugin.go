package host

import (
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Plugin is a root (plugin) context: one Envoy filter configuration on the
// VM, or one APISIX route conf.
type Plugin struct {
	vm     *VM
	c      *vmContext
	id     uint32
	config []byte

	configuring bool // PLUGIN_CONFIGURATION is readable (Envoy temp_plugin_)
	tick        time.Duration
	nextTick    time.Time
	calls       map[uint32]*callout
	callResp    *callResult // the http-call response being delivered
	statusCode  uint32      // proxy_get_status (Envoy Context::status_code_)
	statusMsg   string
	closed      bool
}

// NewPlugin creates a root context with config as its plugin configuration:
// proxy_on_context_create(root, 0), proxy_on_vm_start for the VM's first
// root (Envoy profiles only: APISIX never calls it), then
// proxy_on_configure. A false from either is an error carrying the guest's
// last error log line.
func (vm *VM) NewPlugin(config []byte) (*Plugin, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.dead != nil {
		return nil, vm.dead
	}
	p := &Plugin{vm: vm, id: vm.allocID(), config: append([]byte(nil), config...), calls: map[uint32]*callout{}}
	p.c = &vmContext{id: p.id, p: p}
	vm.ctxs[p.id] = p.c
	vm.lastErr = ""
	if _, err := vm.invoke(p.c, vm.fn.contextCreate, uint64(p.id), 0); err != nil {
		return nil, err
	}
	// HOST ContextBase::onStart runs proxy_on_vm_start for the root that
	// starts the VM; later roots only get onConfigure (docs/proxy-wasm-abi.md#lifecycle).
	if vm.p.isEnvoy() && !vm.vmStarted {
		vm.vmStarted = true
		ok, err := vm.invokeBool(p.c, vm.fn.vmStart, true, uint64(p.id), uint64(len(vm.cfg.VMConfiguration)))
		if err != nil {
			return nil, err
		}
		if !ok {
			err := fmt.Errorf("host: proxy_on_vm_start returned false: the VM is unusable (%s)", orNone(vm.lastErr))
			vm.kill(err)
			return nil, err
		}
	}
	p.configuring = true
	ok, err := vm.invokeBool(p.c, vm.fn.configure, true, uint64(p.id), uint64(len(p.config)))
	p.configuring = false
	if err != nil {
		return nil, err
	}
	if !ok {
		delete(vm.ctxs, p.id)
		return nil, fmt.Errorf("host: proxy_on_configure returned false: configuration rejected (%s)", orNone(vm.lastErr))
	}
	vm.plugins = append(vm.plugins, p)
	return p, nil
}

func orNone(s string) string {
	if s == "" {
		return "the guest logged no error"
	}
	return "guest: " + s
}

// invokeBool calls a callback returning a bool; a missing export answers
// def.
func (vm *VM) invokeBool(c *vmContext, f api.Function, def bool, args ...uint64) (bool, error) {
	if vm.dead != nil {
		return false, vm.dead
	}
	if f == nil {
		return def, nil
	}
	r, err := vm.invoke(c, f, args...)
	return uint32(r) != 0, err
}

// ID is the root context id.
func (p *Plugin) ID() uint32 { return p.id }

// VM returns the VM the plugin lives in.
func (p *Plugin) VM() *VM { return p.vm }

// Close deletes the root context: proxy_on_done, then proxy_on_delete, and
// cancels its http callouts (Envoy's ~Context cancels them).
func (p *Plugin) Close() {
	p.vm.mu.Lock()
	defer p.vm.mu.Unlock()
	p.closeLocked()
}

func (p *Plugin) closeLocked() {
	if p.closed {
		return
	}
	p.closed = true
	for _, c := range p.calls {
		c.cancel()
	}
	vm := p.vm
	if vm.dead == nil {
		// Envoy WasmBase::startShutdown: onDone, then onDelete when it
		// returns true. A root answering false waits for proxy_done.
		if ok, err := vm.invokeBool(p.c, vm.fn.done, true, uint64(p.id)); err == nil && ok {
			_, _ = vm.invoke(p.c, vm.fn.del, uint64(p.id))
		}
	}
	delete(vm.ctxs, p.id)
}

var errPluginClosed = errors.New("host: plugin closed")
