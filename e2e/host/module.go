package host

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// maxMemoryPages caps guest memory at 1 GiB like cpp-host
// (PROXY_WASM_HOST_MAX_WASM_MEMORY_SIZE_BYTES, docs/proxy-wasm-abi.md#memory).
const maxMemoryPages = 1 << 30 / 65536

// The process-wide runtime: one wazero.Runtime with one compilation cache,
// shared by every Module and VM. Host modules are instantiated once per
// (profile, ABI version), anonymously, and linked into each guest through an
// import resolver; host functions find their VM through the call context.
var rt struct {
	once sync.Once
	r    wazero.Runtime
	err  error

	mu      sync.Mutex
	modules map[[32]byte]*Module
	hosts   map[hostKey]map[string]api.Module
	wasi    []hostFunc // wazero's wasi_snapshot_preview1, for link checks
}

type hostKey struct {
	p   Profile
	abi int
}

func theRuntime() (wazero.Runtime, error) {
	rt.once.Do(func() {
		ctx := context.Background()
		cfg := wazero.NewRuntimeConfig().WithMemoryLimitPages(maxMemoryPages)
		// A directory cache keeps the 0.5–1.5 s cold compile of the filter
		// out of every test process after the first (docs/host-behaviours.md#harness).
		if dir, err := os.UserCacheDir(); err == nil {
			if c, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "ai-proxy-wasm", "wazero")); err == nil {
				cfg = cfg.WithCompilationCache(c)
			}
		}
		rt.r = wazero.NewRuntimeWithConfig(ctx, cfg)
		rt.modules = map[[32]byte]*Module{}
		rt.hosts = map[hostKey]map[string]api.Module{}
		c, err := wasi_snapshot_preview1.NewBuilder(rt.r).Compile(ctx)
		if err != nil {
			rt.err = err
			return
		}
		for name, d := range c.ExportedFunctions() {
			rt.wasi = append(rt.wasi, hostFunc{name: name, params: d.ParamTypes(), results: d.ResultTypes()})
		}
		sort.Slice(rt.wasi, func(i, j int) bool { return rt.wasi[i].name < rt.wasi[j].name })
		_ = c.Close(ctx)
	})
	return rt.r, rt.err
}

// Module is a compiled filter, shared by every VM made from it.
type Module struct {
	compiled wazero.CompiledModule
	abi      int
	imports  []Func
	exports  []Func
}

// Compile compiles wasm once per process: compiling identical bytes again
// returns the same *Module.
func Compile(ctx context.Context, wasm []byte) (*Module, error) {
	r, err := theRuntime()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if m := rt.modules[sum]; m != nil {
		return m, nil
	}
	c, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("host: compile: %w", err)
	}
	m := &Module{compiled: c}
	for _, d := range c.ImportedFunctions() {
		mod, name, _ := d.Import()
		m.imports = append(m.imports, Func{Module: mod, Name: name, Params: d.ParamTypes(), Results: d.ResultTypes()})
	}
	for name, d := range c.ExportedFunctions() {
		m.exports = append(m.exports, Func{Name: name, Params: d.ParamTypes(), Results: d.ResultTypes()})
		switch name {
		case "proxy_abi_version_0_1_0":
			m.abi = max(m.abi, abi010)
		case "proxy_abi_version_0_2_0":
			m.abi = max(m.abi, abi020)
		case "proxy_abi_version_0_2_1":
			m.abi = abi021
		}
	}
	sort.Slice(m.exports, func(i, j int) bool { return m.exports[i].Name < m.exports[j].Name })
	rt.modules[sum] = m
	return m, nil
}

// Imports lists the module's function imports in declaration order.
func (m *Module) Imports() []Func { return append([]Func(nil), m.imports...) }

// Exports lists the module's function exports sorted by name.
func (m *Module) Exports() []Func { return append([]Func(nil), m.exports...) }

func (m *Module) export(name string) (Func, bool) {
	for _, f := range m.exports {
		if f.Name == name {
			return f, true
		}
	}
	return Func{}, false
}

// link checks the module's imports against what profile p provides, so a
// module the real host would refuse fails here with the import named.
func (m *Module) link(p Profile) error {
	provided := map[string]Func{}
	for _, hm := range hostModules(p, m.abi) {
		for _, name := range append([]string{hm.name}, hm.aliases...) {
			for _, h := range hm.funcs {
				provided[name+"."+h.name] = Func{Module: name, Name: h.name, Params: h.params, Results: h.results}
			}
		}
	}
	for _, imp := range m.imports {
		have, ok := provided[imp.Module+"."+imp.Name]
		if !ok {
			return fmt.Errorf("host: profile %s: module imports %s, which this host does not provide (%s); the real host refuses to load the module",
				p, imp, linkNote(p, imp))
		}
		if sigString(have.Params) != sigString(imp.Params) || sigString(have.Results) != sigString(imp.Results) {
			return fmt.Errorf("host: profile %s: module imports %s but the host declares %s: import type mismatch, the real host refuses to load the module",
				p, imp, have)
		}
	}
	return nil
}

func linkNote(p Profile, f Func) string {
	switch {
	case p == APISIX && f.Module == "env":
		return "docs/host-behaviours.md#apisix: wasm-nginx-module lacks proxy_get_log_level, proxy_get_header_map_size, proxy_get_buffer_status"
	case p == Envoy && f.Module != "env":
		return "docs/proxy-wasm-abi.md#wasi: cpp-host c4d7bb0 (Envoy 1.33–1.38) registers 18 WASI functions"
	case p.isEnvoy() && f.Name == "proxy_get_log_level":
		return "docs/proxy-wasm-abi.md#lifecycle: registered only for modules exporting proxy_abi_version_0_2_1"
	}
	return "see e2e/testdata/proxy-wasm-abi.tsv"
}

// hostInstances returns the instantiated host modules for (p, abi) by the
// import module name they serve.
func hostInstances(ctx context.Context, p Profile, abi int) (map[string]api.Module, error) {
	r, err := theRuntime()
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	k := hostKey{p, abi}
	if ms := rt.hosts[k]; ms != nil {
		return ms, nil
	}
	ms := map[string]api.Module{}
	for _, hm := range hostModules(p, abi) {
		var c wazero.CompiledModule
		if hm.wazeroWASI {
			c, err = wasi_snapshot_preview1.NewBuilder(r).Compile(ctx)
		} else {
			b := r.NewHostModuleBuilder(hm.name)
			for _, h := range hm.funcs {
				b.NewFunctionBuilder().
					WithGoModuleFunction(wrapHostFunc(p, hm.name, h), h.params, h.results).
					Export(h.name)
			}
			c, err = b.Compile(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("host: building %s for %s: %w", hm.name, p, err)
		}
		inst, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			return nil, err
		}
		ms[hm.name] = inst
		for _, alias := range hm.aliases {
			ms[alias] = inst
		}
	}
	rt.hosts[k] = ms
	return ms, nil
}
