package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

func TestParseProfile(t *testing.T) {
	for _, p := range allProfiles {
		got, err := host.ParseProfile(p.String())
		if err != nil || got != p {
			t.Errorf("ParseProfile(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := host.ParseProfile("nginx"); err == nil {
		t.Error("ParseProfile accepted an unknown profile")
	}
}

// TestLink checks that a module is refused exactly where the real host
// refuses to load it (docs/proxy-wasm-abi.md#host-functions, #wasi; docs/host-behaviours.md#apisix).
func TestLink(t *testing.T) {
	imp := func(module, name, params, results string) wfn {
		return wfn{module: module, name: name, params: params, results: results}
	}
	tests := []struct {
		name    string
		imports []wfn
		exports []wfn
		noMem   bool
		// wantErr per profile: "" loads, else a substring of the error.
		want map[host.Profile]string
	}{
		{
			name:    "proxy_get_log_level is missing on APISIX",
			imports: []wfn{imp("env", "proxy_get_log_level", "i32", "i32")},
			want:    map[host.Profile]string{host.APISIX: "proxy_get_log_level"},
		},
		{
			name:    "proxy_get_header_map_size is missing on APISIX",
			imports: []wfn{imp("env", "proxy_get_header_map_size", "i32,i32", "i32")},
			want:    map[host.Profile]string{host.APISIX: "proxy_get_header_map_size"},
		},
		{
			name:    "proxy_get_buffer_status is missing on APISIX",
			imports: []wfn{imp("env", "proxy_get_buffer_status", "i32,i32,i32", "i32")},
			want:    map[host.Profile]string{host.APISIX: "proxy_get_buffer_status"},
		},
		{
			name:    "APISIX declares proxy_get_metric as (i32,i64)",
			imports: []wfn{imp("env", "proxy_get_metric", "i32,i32", "i32")},
			want:    map[host.Profile]string{host.APISIX: "import type mismatch"},
		},
		{
			name:    "proxy_get_log_level needs the 0_2_1 marker on Envoy",
			imports: []wfn{imp("env", "proxy_get_log_level", "i32", "i32")},
			exports: []wfn{{name: "proxy_abi_version_0_2_0"}, {name: "proxy_on_memory_allocate", params: "i32", results: "i32", ret: 8}},
			want:    map[host.Profile]string{host.Envoy: "proxy_get_log_level", host.EnvoyFixed: "proxy_get_log_level", host.APISIX: "proxy_get_log_level"},
		},
		{
			name:    "fd_filestat_get only exists since cpp-host #533",
			imports: []wfn{imp("wasi_snapshot_preview1", "fd_filestat_get", "i32,i32", "i32")},
			want:    map[host.Profile]string{host.Envoy: "fd_filestat_get"},
		},
		{
			name:    "cpp-host declares path_symlink with one parameter too few",
			imports: []wfn{imp("wasi_snapshot_preview1", "path_symlink", "i32,i32,i32,i32,i32", "i32")},
			want:    map[host.Profile]string{host.Envoy: "path_symlink", host.EnvoyFixed: "import type mismatch"},
		},
		{
			name:    "proc_raise is registered by no cpp-host",
			imports: []wfn{imp("wasi_snapshot_preview1", "proc_raise", "i32", "i32")},
			want:    map[host.Profile]string{host.Envoy: "proc_raise", host.EnvoyFixed: "proc_raise"},
		},
		{
			name:    "wasi_unstable is an alias on Envoy only",
			imports: []wfn{imp("wasi_unstable", "fd_write", "i32,i32,i32,i32", "i32")},
			want:    map[host.Profile]string{host.APISIX: "wasi_unstable.fd_write"},
		},
		{
			name:    "no ABI version marker",
			exports: []wfn{{name: "proxy_on_memory_allocate", params: "i32", results: "i32", ret: 8}},
			want:    map[host.Profile]string{host.Envoy: "ABI version", host.EnvoyFixed: "ABI version"},
		},
		{
			name:    "no allocator",
			exports: []wfn{{name: "proxy_abi_version_0_2_1"}},
			want:    map[host.Profile]string{host.Envoy: "malloc", host.EnvoyFixed: "malloc", host.APISIX: "malloc"},
		},
		{
			name:  "no exported memory",
			noMem: true,
			want:  map[host.Profile]string{host.Envoy: "memory", host.EnvoyFixed: "memory", host.APISIX: "memory"},
		},
		{
			name:    "a callback with the wrong signature",
			exports: minimal(wfn{name: "proxy_on_request_headers", params: "i32,i32", results: "i32"}),
			want:    map[host.Profile]string{host.Envoy: "Bad function signature", host.EnvoyFixed: "Bad function signature", host.APISIX: "Bad function signature"},
		},
	}
	ctx := context.Background()
	for _, tc := range tests {
		exports := tc.exports
		if exports == nil {
			exports = minimal()
		}
		m, err := host.Compile(ctx, wasmModule(tc.imports, exports, !tc.noMem))
		if err != nil {
			t.Fatalf("%s: compile: %v", tc.name, err)
		}
		for _, p := range allProfiles {
			vm, err := m.NewVM(ctx, host.VMConfig{Profile: p})
			want := tc.want[p]
			switch {
			case want == "" && err != nil:
				t.Errorf("%s on %s: the host loads this module, the harness refused it: %v", tc.name, p, err)
			case want != "" && err == nil:
				t.Errorf("%s on %s: the host refuses this module, the harness loaded it", tc.name, p)
			case want != "" && !strings.Contains(err.Error(), want):
				t.Errorf("%s on %s: error %q does not mention %q", tc.name, p, err, want)
			}
			if vm != nil {
				vm.Close()
			}
		}
	}
}

// TestRestrictedCallbacks checks V8's restricted mode: during _initialize
// and inside the allocator only allow-listed host functions may run
// (docs/proxy-wasm-abi.md#restricted-callbacks); APISIX has no such mechanism.
func TestRestrictedCallbacks(t *testing.T) {
	pollOneoff := wfn{module: "wasi_snapshot_preview1", name: "poll_oneoff", params: "i32,i32,i32,i32", results: "i32"}
	schedYield := wfn{module: "wasi_snapshot_preview1", name: "sched_yield", results: "i32"}
	getBuffer := wfn{module: "env", name: "proxy_get_buffer_bytes", params: "i32,i32,i32,i32,i32", results: "i32"}
	tests := []struct {
		name    string
		imports []wfn
		exports []wfn
		// wantTrap per profile: whether loading (or configuring) traps.
		wantTrap map[host.Profile]bool
	}{
		{
			name:    "sched_yield during _initialize",
			imports: []wfn{schedYield},
			exports: minimal(wfn{name: "_initialize", calls: []wcall{{fn: "wasi_snapshot_preview1.sched_yield"}}}),
			// sched_yield is on no version of the startVm allow-list.
			wantTrap: map[host.Profile]bool{host.Envoy: true, host.EnvoyFixed: true},
		},
		{
			name:     "poll_oneoff during _initialize",
			imports:  []wfn{pollOneoff},
			exports:  minimal(wfn{name: "_initialize", calls: []wcall{{fn: "wasi_snapshot_preview1.poll_oneoff", args: []int64{0, 64, 0, 128}}}}),
			wantTrap: map[host.Profile]bool{host.Envoy: true},
		},
		{
			name:    "poll_oneoff inside the allocator",
			imports: []wfn{pollOneoff, getBuffer},
			exports: minimal(
				wfn{name: "proxy_on_memory_allocate", params: "i32", results: "i32", ret: 1024,
					calls: []wcall{{fn: "wasi_snapshot_preview1.poll_oneoff", args: []int64{0, 64, 0, 128}}}},
				// proxy_on_configure reads its configuration, which
				// allocates in the guest.
				wfn{name: "proxy_on_configure", params: "i32,i32", results: "i32", ret: 1,
					calls: []wcall{{fn: "env.proxy_get_buffer_bytes", args: []int64{7, 0, 100, 16, 20}}}},
			),
			wantTrap: map[host.Profile]bool{host.Envoy: true},
		},
		{
			name:    "a proxy call inside the allocator",
			imports: []wfn{getBuffer},
			exports: minimal(
				wfn{name: "proxy_on_memory_allocate", params: "i32", results: "i32", ret: 1024,
					calls: []wcall{{fn: "env.proxy_get_buffer_bytes", args: []int64{6, 0, 1, 32, 36}}}},
				wfn{name: "proxy_on_configure", params: "i32,i32", results: "i32", ret: 1,
					calls: []wcall{{fn: "env.proxy_get_buffer_bytes", args: []int64{7, 0, 100, 16, 20}}}},
			),
			wantTrap: map[host.Profile]bool{host.Envoy: true, host.EnvoyFixed: true},
		},
	}
	ctx := context.Background()
	for _, tc := range tests {
		m, err := host.Compile(ctx, wasmModule(tc.imports, tc.exports, true))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, p := range allProfiles {
			vm, err := m.NewVM(ctx, host.VMConfig{Profile: p})
			if err == nil {
				_, err = vm.NewPlugin([]byte("configuration"))
				vm.Close()
			}
			trapped := err != nil && strings.Contains(err.Error(), "restricted_callback")
			if !tc.wantTrap[p] && err != nil {
				t.Errorf("%s on %s: %v", tc.name, p, err)
				continue
			}
			if trapped != tc.wantTrap[p] {
				t.Errorf("%s on %s: restricted_callback trap = %v, want %v (err: %v)", tc.name, p, trapped, tc.wantTrap[p], err)
			}
			var te *host.TrapError
			if trapped && !errors.As(err, &te) && !strings.Contains(err.Error(), "_initialize") {
				t.Errorf("%s on %s: a trap should be a *host.TrapError: %v", tc.name, p, err)
			}
		}
	}
}

func TestModuleImportsExports(t *testing.T) {
	wasm := wasmModule([]wfn{{module: "env", name: "proxy_log", params: "i32,i32,i32", results: "i32"}}, minimal(), true)
	m, err := host.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := host.Compile(context.Background(), wasm); again != m {
		t.Error("compiling the same bytes twice gave two modules")
	}
	imps := m.Imports()
	if len(imps) != 1 || imps[0].String() != "env.proxy_log(i32,i32,i32) i32" {
		t.Errorf("Imports() = %v", imps)
	}
	var names []string
	for _, e := range m.Exports() {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, " "); got != "proxy_abi_version_0_2_1 proxy_on_configure proxy_on_memory_allocate" {
		t.Errorf("Exports() = %s", got)
	}
}

func TestHostFuncs(t *testing.T) {
	count := func(p host.Profile, module string) int {
		n := 0
		for _, f := range p.HostFuncs() {
			if f.Module == module {
				n++
			}
		}
		return n
	}
	// cpp-host c4d7bb0 has 18 WASI functions; #533 adds 27 (path_link and
	// path_symlink with their wrong arity included).
	if n := count(host.Envoy, "wasi_snapshot_preview1"); n != 18 {
		t.Errorf("envoy provides %d WASI functions, want 18", n)
	}
	if n := count(host.EnvoyFixed, "wasi_snapshot_preview1"); n != 45 {
		t.Errorf("envoy-fixed provides %d WASI functions, want 45", n)
	}
	for _, f := range host.APISIX.HostFuncs() {
		switch f.Module + "." + f.Name {
		case "env.proxy_get_log_level", "env.proxy_get_header_map_size", "env.proxy_get_buffer_status":
			t.Errorf("apisix provides %s", f)
		}
	}
}
