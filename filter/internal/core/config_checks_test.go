package core

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/health"
)

func withChecks(checks string) string {
	return `{"instances":[{"name":"a","provider":"openai","weight":1,"auth":{"header":{"a":"b"}},"checks":` + checks + `}]}`
}

// checks.active takes APISIX 3.18's fields, fills in its defaults and
// refuses what its schema refuses, naming the field.
func TestChecksConfig(t *testing.T) {
	tests := []struct {
		name, checks string
		err          string               // "" = valid
		want         func(*health.Active) // the defaults, changed by the configuration
	}{
		{"defaults", `{"active":{}}`, "", func(*health.Active) {}},
		{"every field", `{"active":{"type":"https","timeout":2.5,"concurrency":3,"host":"probe.example","port":8443,
			"http_path":"/health?deep=1","http_method":"HEAD","http_req_body":"x","https_verify_certificate":false,
			"req_headers":["X-Probe: yes","Accept:  */*"],
			"healthy":{"interval":3,"successes":4,"http_statuses":[204]},
			"unhealthy":{"interval":5,"http_failures":6,"tcp_failures":7,"timeouts":8,"http_statuses":[500,502]}}}`, "",
			func(a *health.Active) {
				a.Type, a.TimeoutMS, a.Concurrency, a.Host, a.Port = "https", 2500, 3, "probe.example", 8443
				a.HTTPPath, a.HTTPMethod, a.HTTPReqBody, a.VerifyCert = "/health?deep=1", "HEAD", "x", false
				a.ReqHeaders = [][2]string{{"x-probe", "yes"}, {"accept", "*/*"}}
				a.Healthy = health.Healthy{IntervalMS: 3000, Successes: 4, Statuses: []int{204}}
				a.Unhealthy = health.Unhealthy{IntervalMS: 5000, HTTPFailures: 6, TCPFailures: 7, Timeouts: 8, Statuses: []int{500, 502}}
			}},
		{"active required", `{}`, "instances[0].checks.active is required", nil},
		{"passive is not ai-proxy-multi's", `{"active":{},"passive":{}}`, "instances[0].checks.passive is not a known field", nil},
		{"unknown active field", `{"active":{"interval":1}}`, "instances[0].checks.active.interval is not a known field", nil},
		{"unknown healthy field", `{"active":{"healthy":{"timeouts":1}}}`, "instances[0].checks.active.healthy.timeouts is not a known field", nil},
		{"type", `{"active":{"type":"udp"}}`, "instances[0].checks.active.type must be http, https or tcp", nil},
		{"timeout zero", `{"active":{"timeout":0}}`, "instances[0].checks.active.timeout must be a number of seconds above 0", nil},
		{"port range", `{"active":{"port":70000}}`, "instances[0].checks.active.port must be between 1 and 65535", nil},
		{"path", `{"active":{"http_path":"health"}}`, "instances[0].checks.active.http_path must start with /", nil},
		{"method", `{"active":{"http_method":"get"}}`, "instances[0].checks.active.http_method must be one of GET", nil},
		{"host", `{"active":{"host":"a b"}}`, "instances[0].checks.active.host must be a host name", nil},
		{"header without colon", `{"active":{"req_headers":["X-Probe"]}}`, `instances[0].checks.active.req_headers must be a list of "Name: value" strings`, nil},
		{"header value not echoed", `{"active":{"req_headers":["Bad Name: secret"]}}`, "req_headers must be", nil},
		{"header host", `{"active":{"req_headers":["Host: x"]}}`, "cannot set host", nil},
		{"successes range", `{"active":{"healthy":{"successes":255}}}`, "instances[0].checks.active.healthy.successes must be between 1 and 254", nil},
		{"failures range", `{"active":{"unhealthy":{"http_failures":0}}}`, "instances[0].checks.active.unhealthy.http_failures must be between 1 and 254", nil},
		{"interval", `{"active":{"unhealthy":{"interval":0}}}`, "instances[0].checks.active.unhealthy.interval must be at least 1", nil},
		{"statuses range", `{"active":{"healthy":{"http_statuses":[199]}}}`, "instances[0].checks.active.healthy.http_statuses must be a list of HTTP statuses 200–599", nil},
		{"statuses unique", `{"active":{"unhealthy":{"http_statuses":[500,500]}}}`, "lists 500 twice", nil},
		{"statuses not empty", `{"active":{"unhealthy":{"http_statuses":[]}}}`, "must list at least one status", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc, err := ParsePluginConfig([]byte(withChecks(tt.checks)), nil)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.err != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tt.err)
			case tt.err != "" && !strings.Contains(err.Error(), tt.err):
				t.Fatalf("error %q, want it to contain %q", err, tt.err)
			case tt.err != "" && strings.Contains(err.Error(), "secret"):
				t.Fatalf("error %q shows a header value", err)
			case tt.err != "":
				return
			}
			want := health.DefaultActive()
			tt.want(&want)
			if got := mc.Instances[0].Checks; got == nil || !reflect.DeepEqual(*got, want) {
				t.Fatalf("checks %+v, want %+v", got, want)
			}
		})
	}
	mc, err := ParsePluginConfig([]byte(multi("")), nil)
	if err != nil || mc.Instances[0].Checks != nil {
		t.Fatalf("an instance without checks has none: %v %+v", err, mc.Instances[0].Checks)
	}
}
