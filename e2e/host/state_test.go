package host_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

// TestSharedData: process-wide, scoped by vm_id, compare-and-swap on the
// cas the last get returned (HOST src/shared_data.cc); UNIMPLEMENTED on
// APISIX.
func TestSharedData(t *testing.T) {
	shared := host.NewShared()
	script := "request_headers shared_inc counter"
	a := newEcho(t, host.VMConfig{Profile: host.Envoy, VMID: "v", Shared: shared}, script)
	b := newEcho(t, host.VMConfig{Profile: host.EnvoyFixed, VMID: "v", Shared: shared}, script)
	other := newEcho(t, host.VMConfig{Profile: host.Envoy, VMID: "w", Shared: shared},
		"request_headers shared_get counter\nrequest_headers shared_set k v 0\nrequest_headers shared_set k v2 12345\nrequest_headers shared_get k")
	const n = 50
	var wg sync.WaitGroup
	for _, p := range []*host.Plugin{a, b} {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	resp, err := a.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustResult(t, resp.Logs, "request_headers", "shared_inc counter"); got != "0 "+strconv.Itoa(2*n+1) {
		t.Errorf("two VMs incremented a shared counter %d times, it says %s", 2*n+1, got)
	}
	resp, err = other.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cmd, want string }{
		{"shared_get counter", "1  cas=0"}, // another vm_id
		{"shared_set k v 0", "0"},
		{"shared_set k v2 12345", "8"}, // CAS_MISMATCH
		{"shared_get k", "0 v cas=" + casOf(t, resp.Logs)},
	} {
		if got := mustResult(t, resp.Logs, "request_headers", c.cmd); got != c.want {
			t.Errorf("%s = %q, want %q", c.cmd, got, c.want)
		}
	}
	ax := newEcho(t, host.VMConfig{Profile: host.APISIX}, "request_headers shared_set k v 0\nrequest_headers shared_get k")
	resp, err = ax.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustResult(t, resp.Logs, "request_headers", "shared_set k v 0"); got != "12" {
		t.Errorf("apisix shared_set = %s, want UNIMPLEMENTED", got)
	}
}

// casOf returns the cas logged by "shared_get k", which must be non-zero.
func casOf(t *testing.T, logs []host.LogLine) string {
	r := mustResult(t, logs, "request_headers", "shared_get k")
	_, cas, _ := strings.Cut(r, "cas=")
	if cas == "" || cas == "0" {
		t.Errorf("shared_get returned cas %q", cas)
	}
	return cas
}

// TestMetrics: stats are process-wide under "wasmcustom.", ids per VM,
// counters reject delta <= 0, histograms reject increment
// (docs/host-behaviours.md#metrics); no-ops on APISIX.
func TestMetrics(t *testing.T) {
	shared := host.NewShared()
	script := `
configure metric_define 0 llm.requests
configure metric_define 1 inflight
configure metric_define 2 latency_ms
configure metric_define 3 bad
request_headers metric_inc llm.requests 1
request_headers metric_inc llm.requests 0
request_headers metric_inc llm.requests -1
request_headers metric_inc inflight 5
request_headers metric_inc inflight -2
request_headers metric_inc latency_ms 1
request_headers metric_record latency_ms 42
request_headers metric_get llm.requests
request_headers metric_get latency_ms
`
	var plugins []*host.Plugin
	for _, p := range envoys {
		plugins = append(plugins, newEcho(t, host.VMConfig{Profile: p, Shared: shared}, script))
	}
	var last *host.Response
	for _, p := range plugins {
		resp, err := p.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if err != nil {
			t.Fatal(err)
		}
		last = resp
	}
	for _, c := range []struct{ cmd, want string }{
		{"metric_inc llm.requests 0", "2"},
		{"metric_inc llm.requests -1", "2"},
		{"metric_inc latency_ms 1", "2"},
		{"metric_get llm.requests", "0 2"}, // the stat is shared by both VMs
		{"metric_get latency_ms", "2 0"},
	} {
		if got := mustResult(t, last.Logs, "request_headers", c.cmd); got != c.want {
			t.Errorf("%s = %q, want %q", c.cmd, got, c.want)
		}
	}
	logs := plugins[0].VM().Logs()
	if got := mustResult(t, logs, "configure", "metric_define 0 llm.requests"); got != "0 4" {
		t.Errorf("first counter id %q, want 4 (type in the low bits)", got)
	}
	if got := mustResult(t, logs, "configure", "metric_define 3 bad"); got != "2 0" {
		t.Errorf("metric type 3 = %q, want BAD_ARGUMENT", got)
	}
	want := map[string]host.Metric{
		"wasmcustom.llm.requests": {Type: host.Counter, Value: 2},
		"wasmcustom.inflight":     {Type: host.Gauge, Value: 6},
		"wasmcustom.latency_ms":   {Type: host.Histogram, Samples: []uint64{42, 42}},
	}
	got := shared.Metrics()
	if len(got) != len(want) {
		t.Errorf("metrics %v", got)
	}
	for name, w := range want {
		g, ok := shared.Metric(name)
		if !ok || g.Type != w.Type || g.Value != w.Value || len(g.Samples) != len(w.Samples) {
			t.Errorf("%s = %+v, want %+v", name, g, w)
		}
	}
	ax := newEcho(t, host.VMConfig{Profile: host.APISIX, Shared: host.NewShared()}, "configure metric_define 0 n\nrequest_headers metric_inc n 1")
	if resp, err := ax.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream}); err != nil ||
		mustResult(t, resp.Logs, "request_headers", "metric_inc n 1") != "0" {
		t.Errorf("apisix metrics should be no-ops answering OK: %v", err)
	}
}

// TestEnvoyProperties: CEL attributes, plugin_* names, and filter state
// "wasm.<name>" written by proxy_set_property
// (docs/host-behaviours.md#properties-and-filter-state).
func TestEnvoyProperties(t *testing.T) {
	script := `
configure setprop early x
request_headers prop request/path
request_headers prop request/url_path
request_headers prop request/method
request_headers prop request/host
request_headers prop request/scheme
request_headers prop request/headers/x-foo
request_headers prop request/headers/x-none
request_headers prop source/address
request_headers prop source/port
request_headers prop plugin_root_id
request_headers prop plugin_name
request_headers prop plugin_vm_id
request_headers prop xds/cluster_name
request_headers setprop llm_model gpt-4.1
request_headers prop llm_model
request_headers prop filter_state/wasm.llm_model
request_body prop request/path
response_headers prop response/code
log prop request/path
log prop response/code
`
	plugin := newEcho(t, host.VMConfig{Profile: host.Envoy, VMID: "vm1", RootID: "root1", PluginName: "ai"}, script)
	resp, err := plugin.Do(ctxT(t), &host.Request{Method: "POST", Path: "/v1/chat?x=1", Authority: "api.example",
		Header: [][2]string{{"X-Foo", "bar"}}, Body: []byte("{}"), RemoteAddr: "10.0.0.7:4242"}, host.Options{Upstream: (&recorder{}).upstream})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustResult(t, plugin.VM().Logs(), "configure", "setprop early x"); got != "1" {
		t.Errorf("set_property without a stream = %q, want NOT_FOUND", got)
	}
	for _, c := range []struct{ cb, cmd, want string }{
		{"request_headers", "prop request/path", "0 /v1/chat?x=1"},
		{"request_headers", "prop request/url_path", "0 /v1/chat"},
		{"request_headers", "prop request/method", "0 POST"},
		{"request_headers", "prop request/host", "0 api.example"},
		{"request_headers", "prop request/scheme", "0 http"},
		{"request_headers", "prop request/headers/x-foo", "0 bar"},
		{"request_headers", "prop request/headers/x-none", "1"},
		{"request_headers", "prop source/address", "0 10.0.0.7:4242"},
		{"request_headers", "prop source/port", "0 0x9210000000000000"},
		{"request_headers", "prop plugin_root_id", "0 root1"},
		{"request_headers", "prop plugin_name", "0 ai"},
		{"request_headers", "prop plugin_vm_id", "0 vm1"},
		{"request_headers", "prop xds/cluster_name", "1"},
		{"request_headers", "setprop llm_model gpt-4.1", "0"},
		{"request_headers", "prop llm_model", "0 gpt-4.1"},
		{"request_headers", "prop filter_state/wasm.llm_model", "0 gpt-4.1"},
		{"request_body", "prop request/path", "1"}, // headers left the filter
		{"response_headers", "prop response/code", "0 0xc800000000000000"},
		{"log", "prop request/path", "0 /v1/chat?x=1"},
		{"log", "prop response/code", "0 0xc800000000000000"},
	} {
		if got := mustResult(t, resp.Logs, c.cb, c.cmd); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.cb, c.cmd, got, c.want)
		}
	}
	if got := resp.FilterState["wasm.llm_model"]; got != "gpt-4.1" {
		t.Errorf("filter state %v", resp.FilterState)
	}
}

// TestTicks: proxy_on_tick per root once its period elapsed; APISIX
// answers UNIMPLEMENTED and never ticks.
func TestTicks(t *testing.T) {
	for _, p := range allProfiles {
		plugin := newEcho(t, host.VMConfig{Profile: p}, "configure tick_period 100\ntick log 2 tick!")
		vm := plugin.VM()
		vm.Tick(time.Now())
		vm.Tick(time.Now().Add(150 * time.Millisecond))
		vm.Tick(time.Now().Add(200 * time.Millisecond)) // within the next period
		vm.Tick(time.Now().Add(300 * time.Millisecond))
		n := 0
		for _, l := range vm.Logs() {
			if l.Msg == "tick!" {
				n++
			}
		}
		want, status := 2, "0"
		if p == host.APISIX {
			want, status = 0, "12"
		}
		if n != want {
			t.Errorf("%s: %d ticks, want %d", p, n, want)
		}
		if got := mustResult(t, vm.Logs(), "configure", "tick_period 100"); got != status {
			t.Errorf("%s: tick_period = %s, want %s", p, got, status)
		}
	}
}

// TestLifecycle: the callback sequence per host, proxy_on_vm_start once per
// VM and never on APISIX, proxy_on_log only on Envoy, context ids counted
// up by Envoy and reused by wasm-nginx-module.
func TestLifecycle(t *testing.T) {
	script := `
request_headers context
log log 2 on_log
done log 2 on_done
delete log 2 on_delete
`
	for _, p := range allProfiles {
		vm, err := echoModule(t, p).NewVM(context.Background(), host.VMConfig{Profile: p, VMConfiguration: []byte("vmcfg")})
		if err != nil {
			t.Fatal(err)
		}
		defer vm.Close()
		var plugins []*host.Plugin
		for i := 0; i < 2; i++ {
			plugin, err := vm.NewPlugin([]byte(script))
			if err != nil {
				t.Fatal(err)
			}
			plugins = append(plugins, plugin)
		}
		starts := strings.Count(dump(vm.Logs()), "vm_start: vm_config -> 0 vmcfg")
		if want := map[bool]int{true: 0, false: 1}[p == host.APISIX]; starts != want {
			t.Errorf("%s: proxy_on_vm_start ran %d times, want %d", p, starts, want)
		}
		var ids, seq []string
		for i := 0; i < 2; i++ {
			resp, err := plugins[0].Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, mustResult(t, resp.Logs, "request_headers", "context"))
			seq = seq[:0]
			for _, l := range resp.Logs {
				if strings.HasPrefix(l.Msg, "on_") {
					seq = append(seq, l.Msg)
				}
			}
		}
		wantIDs, wantSeq := "0 3 root=1,0 4 root=1", "on_log on_done on_delete"
		if p == host.APISIX {
			wantIDs, wantSeq = "0 3 root=1,0 3 root=1", "on_done on_delete"
		}
		if got := strings.Join(ids, ","); got != wantIDs {
			t.Errorf("%s: stream contexts %s, want %s", p, got, wantIDs)
		}
		if got := strings.Join(seq, " "); got != wantSeq {
			t.Errorf("%s: end of stream %q, want %q", p, got, wantSeq)
		}
	}
}

// TestTrapAndConfigure: a trap fails the VM for good (Envoy fail-closed
// 503); proxy_on_configure returning false rejects the plugin with the
// guest's last error; proxy_on_vm_start returning false kills the VM.
func TestTrapAndConfigure(t *testing.T) {
	for _, p := range allProfiles {
		plugin := newEcho(t, host.VMConfig{Profile: p}, "request_headers trap")
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		var te *host.TrapError
		if !errors.As(err, &te) || resp.Status != 503 || !resp.Local {
			t.Errorf("%s: trap gave %d, %v", p, resp.Status, err)
		}
		if plugin.VM().Dead() == nil {
			t.Errorf("%s: the VM lives on after a trap", p)
		}
		if _, err := plugin.VM().NewPlugin(nil); err == nil {
			t.Errorf("%s: a dead VM accepted a plugin", p)
		}

		vm, err := echoModule(t, p).NewVM(context.Background(), host.VMConfig{Profile: p})
		if err != nil {
			t.Fatal(err)
		}
		_, err = vm.NewPlugin([]byte("configure log 4 missing api_key\nconfigure return 0"))
		if err == nil || !strings.Contains(err.Error(), "missing api_key") {
			t.Errorf("%s: a rejected configuration gave %v", p, err)
		}
		if _, err := vm.NewPlugin([]byte("request_headers context")); err != nil {
			t.Errorf("%s: a rejected plugin broke the VM: %v", p, err)
		}
		vm.Close()
	}
	vm, err := echoModule(t, host.Envoy).NewVM(context.Background(), host.VMConfig{Profile: host.Envoy, VMConfiguration: []byte("fail")})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if _, err := vm.NewPlugin(nil); err == nil || vm.Dead() == nil {
		t.Errorf("proxy_on_vm_start returning false: %v, dead=%v", err, vm.Dead())
	}
}

// TestWASIEnvironment: environ_get serves VMConfig.Env on every profile
// (Envoy vm_config.environment_variables; nginx's environment on APISIX).
func TestWASIEnvironment(t *testing.T) {
	for _, p := range allProfiles {
		plugin := newEcho(t, host.VMConfig{Profile: p, Env: map[string]string{"MODE": "prod", "EMPTY": ""}},
			"request_headers env MODE\nrequest_headers env NOPE\nrequest_headers time\nrequest_headers log_level")
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"env MODE": "0 true prod", "env NOPE": "0 false", "time": "0 true", "log_level": "0 0"}
		if p == host.APISIX {
			want["time"], want["log_level"] = "12 false", "99 0" // UNIMPLEMENTED; not imported
		}
		for cmd, w := range want {
			if got := mustResult(t, resp.Logs, "request_headers", cmd); got != w {
				t.Errorf("%s: %s = %q, want %q", p, cmd, got, w)
			}
		}
	}
}

// TestSharedQueue: a root registers a queue, another VM with the same
// vm_id resolves and fills it, the owner hears proxy_on_queue_ready.
func TestSharedQueue(t *testing.T) {
	shared := host.NewShared()
	owner := newEcho(t, host.VMConfig{Profile: host.Envoy, VMID: "v", Shared: shared},
		"configure queue_register jobs\nqueue_ready queue_dequeue jobs\nqueue_ready queue_dequeue jobs")
	producer := newEcho(t, host.VMConfig{Profile: host.Envoy, VMID: "v2", Shared: shared},
		"request_headers queue_resolve v jobs\nrequest_headers queue_enqueue jobs hello\nrequest_headers queue_resolve v nope")
	resp, err := producer.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustResult(t, resp.Logs, "request_headers", "queue_resolve v nope"); got != "1 0" {
		t.Errorf("resolving an unknown queue = %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !hasLog(owner.VM().Logs(), "queue_dequeue jobs -> 0 hello") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	logs := owner.VM().Logs()
	if !hasLog(logs, "queue_dequeue jobs -> 0 hello") || !hasLog(logs, "queue_dequeue jobs -> 7") {
		t.Errorf("the owner did not dequeue hello then EMPTY:\n%s", dump(logs))
	}
}

// TestLogging: proxy_log levels above critical are BAD_ARGUMENT on Envoy
// (NGX logs them as errors); stderr writes become error lines; the host
// log level filters what is captured and what proxy_get_log_level says.
func TestLogging(t *testing.T) {
	for _, p := range allProfiles {
		var teed []string
		plugin := newEcho(t, host.VMConfig{Profile: p, LogLevel: host.LogInfo, Log: func(l host.LogLevel, msg string) {
			teed = append(teed, l.String()+":"+msg)
		}}, "request_headers log 9 odd\nrequest_headers log 1 hidden\nrequest_headers print to~stderr\nrequest_headers log_level")
		resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"log 9 odd": "2", "log 1 hidden": "0", "log_level": "0 2"}
		if p == host.APISIX {
			want["log 9 odd"], want["log_level"] = "0", "99 0"
		}
		for cmd, w := range want {
			if got := mustResult(t, resp.Logs, "request_headers", cmd); got != w {
				t.Errorf("%s: %s = %q, want %q", p, cmd, got, w)
			}
		}
		stderr := false
		for _, l := range resp.Logs {
			stderr = stderr || (l.Msg == "to~stderr" && l.Level == host.LogError)
			if l.Msg == "hidden" {
				t.Errorf("%s: a debug line was captured at level info", p)
			}
		}
		if all := plugin.VM().Logs(); len(teed) != len(all) {
			t.Errorf("%s: %d lines teed, %d captured", p, len(teed), len(all))
		}
		if !stderr {
			t.Errorf("%s: stderr output is not an error line:\n%s", p, dump(resp.Logs))
		}
	}
}
