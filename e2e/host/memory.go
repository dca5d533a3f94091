package host

import (
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// hostFunc is one host function: its import name, wasm signature and
// implementation. fn reads its parameters from stack and returns the
// status (or errno) that becomes the result, if the function has one.
type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(vm *VM, stack []uint64) uint32
}

// answer is a host function that does nothing but return v.
func answer(v uint32) func(*VM, []uint64) uint32 {
	return func(*VM, []uint64) uint32 { return v }
}

// hostModule is an import module a profile provides.
type hostModule struct {
	name       string
	aliases    []string // also serves these import modules
	funcs      []hostFunc
	wazeroWASI bool // wazero's complete wasi_snapshot_preview1 (APISIX)
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// i32s returns n i32 parameters.
func i32s(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = i32
	}
	return t
}

var ret32 = []api.ValueType{api.ValueTypeI32}

// hostModules lists what profile p links a module with ABI marker abi
// against.
func hostModules(p Profile, abi int) []hostModule {
	switch p {
	case APISIX:
		_, _ = theRuntime()
		return []hostModule{{name: "env", funcs: apisixEnv()}, {name: "wasi_snapshot_preview1", funcs: rt.wasi, wazeroWASI: true}}
	default:
		// HOST registers every WASI function under both module names
		// (src/wasm.cc registerCallbacks, docs/proxy-wasm-abi.md#wasi).
		return []hostModule{
			{name: "env", funcs: envoyEnv(abi)},
			{name: "wasi_snapshot_preview1", aliases: []string{"wasi_unstable"}, funcs: envoyWASI(p)},
		}
	}
}

// wrapHostFunc adapts h to wazero and enforces V8's restricted callbacks
// on the Envoy profiles: during _initialize only the startVm allow-list
// may be called, during the allocator only the allocMemory allow-list; any
// other call traps with "restricted_callback" and fails the VM
// (docs/proxy-wasm-abi.md#restricted-callbacks, HOST src/v8/v8.cc).
func wrapHostFunc(p Profile, module string, h hostFunc) api.GoModuleFunc {
	okInit, okAlloc := true, true
	if p.isEnvoy() {
		okInit = allowedDuringInit(p, module, h.name)
		okAlloc = allowedDuringAlloc(p, module, h.name)
	}
	fn, name, result := h.fn, module+"."+h.name, len(h.results) > 0
	return func(ctx context.Context, _ api.Module, stack []uint64) {
		vm := ctx.Value(vmKey{}).(*VM)
		switch vm.restrict {
		case restrictInit:
			if !okInit {
				panic(fmt.Errorf("restricted_callback: %s called during _initialize (not on the startVm allow-list, docs/proxy-wasm-abi.md#restricted-callbacks)", name))
			}
		case restrictAlloc:
			if !okAlloc {
				panic(fmt.Errorf("restricted_callback: %s called inside the allocator (not on the allocMemory allow-list, docs/proxy-wasm-abi.md#restricted-callbacks)", name))
			}
		}
		start := time.Now()
		st := fn(vm, stack)
		vm.hostTime += time.Since(start)
		if result {
			stack[0] = uint64(st)
		}
	}
}

// allowedDuringInit is HOST WasmBase::startVm's allow-list: c4d7bb0 (#427)
// for Envoy; #533 adds poll_oneoff, clock_res_get and every fd_/path_/sock_
// stub. sched_yield and proc_exit are on no version of the list.
func allowedDuringInit(p Profile, module, name string) bool {
	if module == "env" {
		return name == "proxy_log" || name == "emscripten_notify_memory_growth"
	}
	switch name {
	case "fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get",
		"fd_prestat_get", "fd_prestat_dir_name", "clock_time_get", "random_get",
		"fd_fdstat_get", "fd_fdstat_set_flags":
		return true
	case "sched_yield", "proc_exit":
		return false
	}
	return p == EnvoyFixed
}

// allowedDuringAlloc is HOST WasmBase::allocMemory's allow-list; #533 adds
// poll_oneoff ("go runtime gc sleep").
func allowedDuringAlloc(p Profile, module, name string) bool {
	if module == "env" {
		return name == "proxy_log"
	}
	switch name {
	case "fd_write", "clock_time_get":
		return true
	case "poll_oneoff":
		return p == EnvoyFixed
	}
	return false
}

// ---- guest memory ----

func (vm *VM) read(ptr, n uint32) ([]byte, bool) { return vm.mem.Read(ptr, n) }

func (vm *VM) readString(ptr, n uint32) (string, bool) {
	b, ok := vm.mem.Read(ptr, n)
	return string(b), ok
}

func (vm *VM) putU32(ptr, v uint32) bool { return vm.mem.WriteUint32Le(ptr, v) }

func (vm *VM) putU64(ptr uint32, v uint64) bool { return vm.mem.WriteUint64Le(ptr, v) }

// okOrMem is OK if the guest memory access succeeded.
func okOrMem(ok bool) uint32 {
	if ok {
		return stOK
	}
	return stInvalidMemoryAccess
}

// copyOut hands data to the guest in memory from the guest allocator (a
// re-entrant call), its address and size written as u32 to pp and sp, the
// way the profile's host does it. HOST copyToPointerSize: empty data
// writes 0 and 0 without allocating. NGX ngx_http_wasm_copy_to_wasm: the
// size is written first; empty data stops there; a failed allocation is
// INTERNAL_FAILURE.
func (vm *VM) copyOut(data []byte, pp, sp uint32) uint32 {
	if vm.p == APISIX {
		if !vm.putU32(sp, uint32(len(data))) {
			return stInvalidMemoryAccess
		}
		if len(data) == 0 {
			return stOK
		}
		ptr := vm.alloc(uint32(len(data)))
		if ptr == 0 {
			return stInternalFailure
		}
		return okOrMem(vm.mem.Write(ptr, data) && vm.putU32(pp, ptr))
	}
	var ptr uint32
	if len(data) > 0 {
		ptr = vm.alloc(uint32(len(data)))
		if ptr == 0 || !vm.mem.Write(ptr, data) {
			return stInvalidMemoryAccess
		}
	}
	return okOrMem(vm.putU32(pp, ptr) && vm.putU32(sp, uint32(len(data))))
}

// copyOutPairs serializes h into the VM's scratch buffer and copies it out.
// HOST getPairs answers an empty map with ptr 0, len 0
// (docs/proxy-wasm-abi.md#pairs); the APISIX profile serializes it too.
func (vm *VM) copyOutPairs(h [][2]string, pp, sp uint32) uint32 {
	if len(h) == 0 && vm.p.isEnvoy() {
		return vm.copyOut(nil, pp, sp)
	}
	vm.scratch = appendPairs(vm.scratch[:0], h)
	return vm.copyOut(vm.scratch, pp, sp)
}

// getProperty is proxy_get_property on every profile: the path is read,
// lookup answers it with the value or a status, the value is copied out.
func getProperty(lookup func(vm *VM, path string) ([]byte, uint32)) func(*VM, []uint64) uint32 {
	return func(vm *VM, s []uint64) uint32 {
		path, ok := vm.readString(uint32(s[0]), uint32(s[1]))
		if !ok {
			return stInvalidMemoryAccess
		}
		v, st := lookup(vm, path)
		if st != stOK {
			return st
		}
		return vm.copyOut(v, uint32(s[2]), uint32(s[3]))
	}
}
