package core

import (
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/sjson"
)

// rateLimited is a plugin-keyed configuration of ai-proxy-multi (instances
// a and b) with the ai-rate-limiting object rl.
func rateLimited(rl string) string {
	return `{"ai-proxy-multi":` + multi("") + `,"ai-rate-limiting":` + rl + `}`
}

func TestRateLimitConfig(t *testing.T) {
	const proxy = `{"provider":"openai","auth":{"header":{"a":"b"}}}`
	tests := []struct {
		name, conf string
		err        string // "" = valid
	}{
		{"APISIX's first example, with ai-proxy", `{"ai-proxy":` + proxy + `,"ai-rate-limiting":{"limit":300,"time_window":30,"limit_strategy":"prompt_tokens"}}`, ""},
		{"ai-proxy's instance is ai-proxy-<provider>", `{"ai-proxy":` + proxy + `,"ai-rate-limiting":{"instances":[{"name":"ai-proxy-openai","limit":10,"time_window":60}]}}`, ""},
		{"per instance", rateLimited(`{"instances":[{"name":"a","limit":10,"time_window":60},{"name":"b","limit":"${http_x_limit}","time_window":"60"}],"rejected_code":429,"rejected_msg":"slow down"}`), ""},
		{"instances plus a default", rateLimited(`{"limit":5,"time_window":1,"instances":[{"name":"a","limit":10,"time_window":60}]}`), ""},
		{"rules", rateLimited(`{"rules":[{"count":500,"time_window":60,"key":"$http_x_user","header_prefix":"user"},{"count":"$http_x_count","time_window":"${arg_w}","key":"$consumer_name $uri"}],"allow_degradation":true}`), ""},
		{"expression", rateLimited(`{"limit":10,"time_window":60,"limit_strategy":"expression","cost_expr":"input_tokens + cache_creation_input_tokens + output_tokens"}`), ""},
		{"local policy and every flag", rateLimited(`{"limit":10,"time_window":60,"policy":"local","show_limit_quota_header":false,"allow_degradation":false,"per_consumer":true}`), ""},

		{"not an object", rateLimited(`[]`), "ai-rate-limiting must be an object"},
		{"nothing to limit", rateLimited(`{}`), "ai-rate-limiting needs limit and time_window, instances, or rules"},
		{"limit without window", rateLimited(`{"limit":10}`), "ai-rate-limiting.limit and time_window go together"},
		{"window without limit", rateLimited(`{"time_window":10}`), "ai-rate-limiting.limit and time_window go together"},
		{"limit zero", rateLimited(`{"limit":0,"time_window":10}`), "ai-rate-limiting.limit must be at least 1"},
		{"limit fractional", rateLimited(`{"limit":1.5,"time_window":10}`), "ai-rate-limiting.limit must be an integer"},
		{"limit a bool", rateLimited(`{"limit":true,"time_window":10}`), "ai-rate-limiting.limit must be a positive integer or a string"},
		{"limit a string without variables", rateLimited(`{"limit":"many","time_window":10}`), `ai-rate-limiting.limit must be a positive integer or a string of variables like ${http_x_limit}, got "many"`},
		{"limit reads an unknown variable", rateLimited(`{"limit":"$server_addr","time_window":10}`), "ai-rate-limiting.limit must be a positive integer or a string of variables like ${http_x_limit}: $server_addr is not a variable"},
		{"unknown field", rateLimited(`{"limit":1,"time_window":1,"limits":2}`), "ai-rate-limiting.limits is not a known field"},
		{"redis policy", rateLimited(`{"limit":1,"time_window":1,"policy":"redis"}`), "ai-rate-limiting.policy redis cannot work inside a proxy-wasm filter"},
		{"redis names the fleet-wide path", rateLimited(`{"limit":1,"time_window":1,"policy":"redis-cluster"}`), "Envoy's global rate limit service"},
		{"redis fields", rateLimited(`{"limit":1,"time_window":1,"redis_host":"r"}`), "ai-rate-limiting.redis_host belongs to the Redis policies"},
		{"unknown policy", rateLimited(`{"limit":1,"time_window":1,"policy":"cluster"}`), "ai-rate-limiting.policy must be local"},
		{"unknown strategy", rateLimited(`{"limit":1,"time_window":1,"limit_strategy":"tokens"}`), "ai-rate-limiting.limit_strategy must be total_tokens, prompt_tokens, completion_tokens or expression"},
		{"expression needs cost_expr", rateLimited(`{"limit":1,"time_window":1,"limit_strategy":"expression"}`), "ai-rate-limiting.cost_expr is required when limit_strategy is expression"},
		{"cost_expr without expression", rateLimited(`{"limit":1,"time_window":1,"cost_expr":"total_tokens"}`), "ai-rate-limiting.cost_expr is only used with limit_strategy expression"},
		{"cost_expr points at the error", rateLimited(`{"limit":1,"time_window":1,"limit_strategy":"expression","cost_expr":"total_tokens * / 2"}`), "ai-rate-limiting.cost_expr is not a valid expression: at byte 15: unexpected '/'"},
		{"rejected_code below 200", rateLimited(`{"limit":1,"time_window":1,"rejected_code":199}`), "ai-rate-limiting.rejected_code must be between 200 and 599"},
		{"rejected_msg empty", rateLimited(`{"limit":1,"time_window":1,"rejected_msg":""}`), "ai-rate-limiting.rejected_msg must be a non-empty string"},
		{"show header not a bool", rateLimited(`{"limit":1,"time_window":1,"show_limit_quota_header":"yes"}`), "ai-rate-limiting.show_limit_quota_header must be true or false"},
		{"instance unknown", rateLimited(`{"instances":[{"name":"c","limit":1,"time_window":1}]}`), `ai-rate-limiting.instances[0].name "c" names no instance; the instances are a, b`},
		{"instance twice", rateLimited(`{"instances":[{"name":"a","limit":1,"time_window":1},{"name":"a","limit":1,"time_window":1}]}`), `ai-rate-limiting.instances[1].name "a" is listed twice`},
		{"instance limit required", rateLimited(`{"instances":[{"name":"a","time_window":1}]}`), "ai-rate-limiting.instances[0].limit is required"},
		{"instance window required", rateLimited(`{"instances":[{"name":"a","limit":1}]}`), "ai-rate-limiting.instances[0].time_window is required"},
		{"instance unknown field", rateLimited(`{"instances":[{"name":"a","limit":1,"time_window":1,"weight":1}]}`), "ai-rate-limiting.instances[0].weight is not a known field"},
		{"instances empty", rateLimited(`{"instances":[]}`), "ai-rate-limiting.instances must hold at least one instance"},
		{"rules with a limit", rateLimited(`{"limit":1,"time_window":1,"rules":[{"count":1,"time_window":1,"key":"$http_x"}]}`), "ai-rate-limiting.rules cannot be combined with limit, time_window or instances"},
		{"rule key required", rateLimited(`{"rules":[{"count":1,"time_window":1}]}`), "ai-rate-limiting.rules[0].key is required"},
		{"rule key constant", rateLimited(`{"rules":[{"count":1,"time_window":1,"key":"everyone"}]}`), "ai-rate-limiting.rules[0].key must read at least one variable"},
		{"rule key unreadable", rateLimited(`{"rules":[{"count":1,"time_window":1,"key":"$server_addr"}]}`), "ai-rate-limiting.rules[0].key $server_addr is not a variable this filter can read"},
		{"rule keyed on the client address", rateLimited(`{"rules":[{"count":1,"time_window":1,"key":"$remote_addr"},{"count":1,"time_window":1,"key":"${remote_addr}:${remote_port}"}]}`), ""},
		{"rule keys shared", rateLimited(`{"rules":[{"count":1,"time_window":1,"key":"$http_x"},{"count":2,"time_window":2,"key":"$http_x"}]}`), `ai-rate-limiting.rules[1].key "$http_x" is the key of another rule`},
		{"rule count required", rateLimited(`{"rules":[{"time_window":1,"key":"$http_x"}]}`), "ai-rate-limiting.rules[0].count is required"},
		{"rule header_prefix", rateLimited(`{"rules":[{"count":1,"time_window":1,"key":"$http_x","header_prefix":"a b"}]}`), "ai-rate-limiting.rules[0].header_prefix must be"},
	}
	for _, tt := range tests {
		_, err := ParsePluginConfig([]byte(tt.conf), nil)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: rejected: %v", tt.name, err)
		case tt.err != "" && err == nil:
			t.Errorf("%s: accepted, want %q", tt.name, tt.err)
		case tt.err != "" && !strings.Contains(err.Error(), tt.err):
			t.Errorf("%s: error %q, want %q", tt.name, err, tt.err)
		}
	}
}

// The ai-rate-limiting table lists exactly RateLimitFields, with the types
// and ranges the validator enforces.
func TestRateLimitReferenceMatchesValidator(t *testing.T) {
	rows := readReference(t, "ai-rate-limiting")
	var documented []string
	for _, r := range rows {
		documented = append(documented, r.path)
	}
	if !slices.Equal(sortedCopy(documented), sortedCopy(RateLimitFields)) {
		t.Errorf("docs/configuration.md documents %v, the validator accepts %v", documented, RateLimitFields)
	}
	configure := func(path string, value any) error {
		base := `{"limit":10,"time_window":60}`
		switch {
		case strings.HasPrefix(path, "instances"):
			base = `{"instances":[{"name":"a","limit":10,"time_window":60}]}`
			path = strings.Replace(path, "instances.", "instances.0.", 1)
		case strings.HasPrefix(path, "rules"):
			base = `{"rules":[{"count":10,"time_window":60,"key":"$http_x"}]}`
			path = strings.Replace(path, "rules.", "rules.0.", 1)
		}
		conf, err := sjson.Set(base, path, value)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParsePluginConfig([]byte(rateLimited(conf)), nil)
		return err
	}
	checkDocumentedValues(t, rows, configure, func(path string) string {
		path = strings.Replace(path, "instances.", "instances[0].", 1)
		return "ai-rate-limiting." + strings.Replace(path, "rules.", "rules[0].", 1)
	})
}
