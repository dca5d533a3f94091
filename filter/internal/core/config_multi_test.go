package core

import (
	"strings"
	"testing"
)

const (
	instA = `{"name":"a","provider":"openai","weight":8,"auth":{"header":{"authorization":"Bearer a"}}}`
	instB = `{"name":"b","provider":"deepseek","weight":2,"priority":1,"auth":{"header":{"authorization":"Bearer b"}},"options":{"model":"deepseek-chat"}}`
)

func multi(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"instances":[` + instA + `,` + instB + `]` + extra + `}`
}

func TestMultiConfigRules(t *testing.T) {
	tests := []struct {
		name, conf string
		err        string // "" = valid
	}{
		{"two instances", multi(""), ""},
		{"every top-level field", multi(`"balancer":{"algorithm":"chash","hash_on":"header","key":"x-user"},"fallback_strategy":"http_429","fallback_http_statuses":[404,503],"max_retries":2,"retry_on_failure_within_ms":500,"timeout":1000,"max_req_body_size":10,"max_stream_duration_ms":10,"max_response_bytes":10,"logging":{"summaries":true},"keepalive":false,"keepalive_timeout":1000,"keepalive_pool":2,"ssl_verify":false,"consumer_header":"X-User"`), ""},
		{"fallback list form", multi(`"fallback_strategy":["rate_limiting","http_429","http_5xx"]`), ""},
		{"fallback string forms", multi(`"fallback_strategy":"instance_health_and_rate_limiting"`), ""},
		{"fallback unknown", multi(`"fallback_strategy":"http_4xx"`), "fallback_strategy must be"},
		{"fallback list twice", multi(`"fallback_strategy":["http_429","http_429"]`), "fallback_strategy lists http_429 twice"},
		{"fallback list with a string-only form", multi(`"fallback_strategy":["instance_health_and_rate_limiting"]`), "fallback_strategy list items"},
		{"statuses out of range", multi(`"fallback_http_statuses":[399]`), "fallback_http_statuses must be a list of HTTP statuses 400–599"},
		{"statuses twice", multi(`"fallback_http_statuses":[500,500]`), "fallback_http_statuses lists 500 twice"},
		{"max_retries negative", multi(`"max_retries":-1`), "max_retries must be at least 0"},
		{"retry window zero", multi(`"retry_on_failure_within_ms":0`), "retry_on_failure_within_ms must be at least 1"},
		{"timeout shared and checked once", multi(`"timeout":0`), "ai-proxy: timeout must be between 1 and 600000"},
		{"unknown top-level field", multi(`"providers":[]`), "providers is not a known field"},
		{"semantic balancer refused", multi(`"balancer":{"algorithm":"semantic"}`), "balancer.algorithm semantic is not supported yet"},
		{"semantic_opts refused", multi(`"semantic_opts":{}`), "semantic_opts is not supported yet"},
		{"unknown algorithm", multi(`"balancer":{"algorithm":"random"}`), "balancer.algorithm must be roundrobin or chash"},
		{"unknown hash_on", multi(`"balancer":{"algorithm":"chash","hash_on":"ip"}`), "balancer.hash_on must be"},
		{"chash on a header needs a key", multi(`"balancer":{"algorithm":"chash","hash_on":"header"}`), "balancer.key is required when hash_on is header"},
		{"chash on an unreadable var", multi(`"balancer":{"algorithm":"chash","key":"server_addr"}`), `balancer.key "server_addr" is not a variable`},
		{"chash on the client address", multi(`"balancer":{"algorithm":"chash","hash_on":"vars","key":"remote_addr"}`), ""},
		{"chash on the client port", multi(`"balancer":{"algorithm":"chash","key":"remote_port"}`), ""},
		{"chash on arg", multi(`"balancer":{"algorithm":"chash","key":"arg_user"}`), ""},
		{"chash on consumer", multi(`"balancer":{"algorithm":"chash","hash_on":"consumer"}`), ""},
		{"vars_combinations", multi(`"balancer":{"algorithm":"chash","hash_on":"vars_combinations","key":"$http_x_team-$arg_user"}`), ""},
		{"vars_combinations unreadable", multi(`"balancer":{"algorithm":"chash","hash_on":"vars_combinations","key":"$server_addr"}`), "uses $server_addr"},
		{"vars_combinations with the client address", multi(`"balancer":{"algorithm":"chash","hash_on":"vars_combinations","key":"$remote_addr:$remote_port-$http_x_user"}`), ""},
		{"no instances", `{"instances":[]}`, "instances must hold at least one instance"},
		{"instances not a list", `{"instances":{}}`, "instances must be an array"},
		{"duplicate name", `{"instances":[` + instA + `,` + instB + `,` + instA + `]}`, `instances[2].name "a" is also the name of instances[0]`},
		{"name required", `{"instances":[{"provider":"openai","weight":1,"auth":{"header":{"a":"b"}}}]}`, "instances[0].name is required"},
		{"name too long", `{"instances":[{"name":"` + strings.Repeat("n", 101) + `","provider":"openai","weight":1,"auth":{"header":{"a":"b"}}}]}`, "instances[0].name must be a string of 1 to 100"},
		{"weight required", `{"instances":[{"name":"a","provider":"openai","auth":{"header":{"a":"b"}}}]}`, "instances[0].weight is required"},
		{"weight 0 is valid", `{"instances":[{"name":"a","provider":"openai","weight":0,"auth":{"header":{"a":"b"}}}]}`, ""},
		{"weight negative", `{"instances":[{"name":"a","provider":"openai","weight":-1,"auth":{"header":{"a":"b"}}}]}`, "instances[0].weight must be at least 0"},
		{"priority integer", `{"instances":[{"name":"a","provider":"openai","weight":1,"priority":1.5,"auth":{"header":{"a":"b"}}}]}`, "instances[0].priority must be an integer"},
		{"instance rules are ai-proxy's", `{"instances":[` + instA + `,{"name":"c","provider":"bedrock","weight":1,"auth":{"header":{"a":"b"}}}]}`, "instances[1].provider_conf.region is required"},
		{"instance auth required", `{"instances":[{"name":"a","provider":"openai","weight":1}]}`, "instances[0].auth is required"},
		{"transport fields are top-level only", `{"instances":[{"name":"a","provider":"openai","weight":1,"timeout":5,"auth":{"header":{"a":"b"}}}]}`, "instances[0].timeout is not a known field"},
		{"checks shape", `{"instances":[{"name":"a","provider":"openai","weight":1,"auth":{"header":{"a":"b"}},"checks":{"active":{"type":"https","timeout":1,"http_path":"/","healthy":{"interval":1},"unhealthy":{"interval":1}}}}]}`, ""},
		{"checks unknown member", `{"instances":[{"name":"a","provider":"openai","weight":1,"auth":{"header":{"a":"b"}},"checks":{"passive":{}}}]}`, "instances[0].checks.passive is not a known field"},
		{"checks bad type", `{"instances":[{"name":"a","provider":"openai","weight":1,"auth":{"header":{"a":"b"}},"checks":{"active":{"type":"udp"}}}]}`, "instances[0].checks.active.type must be http, https or tcp"},
		{"consumer_header", multi(`"consumer_header":"a b"`), "consumer_header must be a header name"},

		// Where the configuration comes from.
		{"keyed ai-proxy-multi", `{"ai-proxy-multi":` + multi("") + `}`, ""},
		{"keyed ai-proxy", `{"ai-proxy":{"provider":"openai","auth":{"header":{"a":"b"}}}}`, ""},
		{"keyed with ai-rate-limiting", `{"ai-rate-limiting":{"limit":10,"time_window":60},"ai-proxy-multi":` + multi("") + `}`, ""},
		{"keyed both", `{"ai-proxy":{"provider":"openai","auth":{"header":{"a":"b"}}},"ai-proxy-multi":` + multi("") + `}`, "needs exactly one of ai-proxy and ai-proxy-multi, got 2"},
		{"keyed neither", `{"ai-rate-limiting":{}}`, "needs exactly one of ai-proxy and ai-proxy-multi, got 0"},
		{"keyed unknown plugin", `{"ai-proxy":{"provider":"openai","auth":{"header":{"a":"b"}}},"limit-count":{}}`, `plugin "limit-count" is not one this filter runs`},
		{"keyed multi without instances", `{"ai-proxy-multi":{"provider":"openai","auth":{"header":{"a":"b"}}}}`, "instances is required"},
		{"keyed ai-proxy with instances", `{"ai-proxy":` + multi("") + `}`, "instances belongs to ai-proxy-multi"},
		{"APISIX wrapper", `{"conf":` + quoteJSON(multi("")) + `}`, ""},
		{"bare ai-proxy", `{"provider":"openai","auth":{"header":{"a":"b"}}}`, ""},
		{"ai-proxy errors as before", `{"provider":"openai"}`, "ai-proxy: auth is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc, err := ParsePluginConfig([]byte(tt.conf), nil)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.err != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tt.err)
			case tt.err != "" && !strings.Contains(err.Error(), tt.err):
				t.Fatalf("error %q, want it to contain %q", err, tt.err)
			}
			if err == nil && mc.Config == nil {
				t.Fatal("no top-level Config")
			}
		})
	}
}

func quoteJSON(s string) string { return string(appendJSONString(nil, s)) }

// Each instance keeps its own provider, auth and options, and shares the
// top level's transport fields; defaults are APISIX's.
func TestMultiConfigInstances(t *testing.T) {
	mc, err := ParsePluginConfig([]byte(`{"ai-rate-limiting":{"limit":100,"time_window":60},"ai-proxy-multi":`+multi(`"timeout":1234`)+`}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mc.Instances) != 2 || mc.Algorithm != "roundrobin" || mc.HashOn != "vars" || mc.ConsumerHeader != "x-consumer" {
		t.Fatalf("got %+v", mc)
	}
	a, b := mc.Instances[0], mc.Instances[1]
	if a.Name != "a" || a.Weight != 8 || a.Priority != 0 || a.Config.Provider.Name != "openai" || a.Config.AuthHeaders[0][1] != "Bearer a" {
		t.Errorf("instance a: %+v %+v", a, a.Config)
	}
	if b.Name != "b" || b.Weight != 2 || b.Priority != 1 || b.Config.Provider.Name != "deepseek" || b.Config.Model != "deepseek-chat" {
		t.Errorf("instance b: %+v %+v", b, b.Config)
	}
	for _, c := range []*Config{mc.Config, a.Config, b.Config} {
		if c.TimeoutMS != 1234 {
			t.Errorf("timeout %d, want the top level's 1234", c.TimeoutMS)
		}
	}
	if rl := mc.RateLimit; rl == nil || rl.Limit.n != 100 || rl.TimeWindow.n != 60 || rl.RejectedCode != 503 || !rl.ShowHeaders || rl.Strategy != "total_tokens" {
		t.Errorf("ai-rate-limiting %+v, want limit 100 per 60 s with APISIX's defaults", rl)
	}
}
