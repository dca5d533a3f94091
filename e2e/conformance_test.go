package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// abiRow is one line of testdata/proxy-wasm-abi.tsv.
type abiRow struct{ params, results string }

func readABITable(t *testing.T) (imports, exports map[string]abiRow) {
	t.Helper()
	f, err := os.Open("testdata/proxy-wasm-abi.tsv")
	if err != nil {
		t.Fatalf("reading the ABI table: %v", err)
	}
	defer f.Close()
	imports, exports = map[string]abiRow{}, map[string]abiRow{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			t.Fatalf("malformed ABI row %q", line)
		}
		row := abiRow{f[3], f[4]}
		if f[0] == "import" {
			imports[f[1]+"."+f[2]] = row
		} else {
			exports[f[2]] = row
		}
	}
	return imports, exports
}

func sig(types []api.ValueType) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = api.ValueTypeName(t)
	}
	return strings.Join(s, ",")
}

// notOnAPISIX are env imports that wasm-nginx-module does not provide or
// declares with another signature (testdata/proxy-wasm-abi.tsv, docs/host-behaviours.md#apisix).
// One such import and APISIX cannot load the module at all.
var notOnAPISIX = map[string]bool{
	"env.proxy_get_log_level": true, "env.proxy_get_header_map_size": true,
	"env.proxy_get_buffer_status": true, "env.proxy_get_metric": true,
}

// envoy133WASI is what cpp-host c4d7bb0 (Envoy 1.33–1.38) registers; any
// other WASI import fails to link there (docs/proxy-wasm-abi.md#wasi).
var envoy133WASI = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`fd_write fd_read fd_seek fd_close fd_fdstat_get fd_fdstat_set_flags environ_get
		environ_sizes_get args_get args_sizes_get clock_time_get random_get sched_yield poll_oneoff proc_exit path_open
		fd_prestat_get fd_prestat_dir_name`) {
		envoy133WASI["wasi_snapshot_preview1."+n] = true
	}
}

// abiProblems lists every way the module's imports and proxy exports
// depart from the ABI table or from what Envoy 1.33+ and APISIX provide.
func abiProblems(t *testing.T, wasm []byte) []string {
	t.Helper()
	imports, exports := readABITable(t)
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, f := range mod.ImportedFunctions() {
		m, name, _ := f.Import()
		key := m + "." + name
		want, ok := imports[key]
		if !ok {
			bad("import %s is not in the ABI table", key)
			continue
		}
		if got := (abiRow{sig(f.ParamTypes()), sig(f.ResultTypes())}); got != want {
			bad("import %s has signature (%s)->(%s), the ABI says (%s)->(%s)", key, got.params, got.results, want.params, want.results)
		}
		if notOnAPISIX[key] {
			bad("import %s would stop the module loading in APISIX", key)
		}
		if m == "wasi_snapshot_preview1" && !envoy133WASI[key] {
			bad("import %s does not exist in Envoy 1.33–1.38", key)
		}
	}
	for name, f := range mod.ExportedFunctions() {
		if !strings.HasPrefix(name, "proxy_") && name != "_initialize" {
			continue
		}
		want, ok := exports[name]
		if !ok {
			bad("export %s is not in the ABI table", name)
			continue
		}
		if got := (abiRow{sig(f.ParamTypes()), sig(f.ResultTypes())}); got != want {
			bad("export %s has signature (%s)->(%s), the ABI says (%s)->(%s)", name, got.params, got.results, want.params, want.results)
		}
	}
	for _, must := range []string{"proxy_abi_version_0_2_1", "proxy_on_memory_allocate", "_initialize", "proxy_on_context_create",
		"proxy_on_configure", "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_response_headers",
		"proxy_on_response_body", "proxy_on_http_call_response", "proxy_on_log", "proxy_on_done", "proxy_on_delete"} {
		if _, ok := mod.ExportedFunctions()[must]; !ok {
			bad("missing export %s", must)
		}
	}
	for _, forbidden := range []string{"malloc", "main", "_start"} {
		if _, ok := mod.ExportedFunctions()[forbidden]; ok {
			bad("export %s changes how hosts start the module", forbidden)
		}
	}
	if _, ok := mod.ExportedMemories()["memory"]; !ok {
		bad("linear memory must be exported as \"memory\"")
	}
	return problems
}

func TestABIConformance(t *testing.T) {
	for _, p := range abiProblems(t, hosttest.Filter(t)) {
		t.Error(p)
	}
}

// The check must bite: a module with an APISIX-missing import and
// Envoy-missing WASI imports is reported on every count.
func TestABIConformanceRejectsBadModule(t *testing.T) {
	problems := strings.Join(abiProblems(t, hosttest.BuildGuest(t, "testdata/badimports")), "\n")
	for _, want := range []string{
		"import env.proxy_get_log_level would stop the module loading in APISIX",
		"import wasi_snapshot_preview1.path_filestat_get does not exist in Envoy 1.33–1.38",
		"missing export proxy_on_request_headers",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("not reported: %s\nreported:\n%s", want, problems)
		}
	}
}
