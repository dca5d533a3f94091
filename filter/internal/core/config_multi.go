package core

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/health"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// MultiConfig is a validated filter configuration: APISIX's ai-proxy (one
// instance, Instances nil) or ai-proxy-multi
// (https://apisix.apache.org/docs/apisix/plugins/ai-proxy-multi/).
type MultiConfig struct {
	// Config is the top level: transport, logging and limits; for
	// ai-proxy, everything.
	Config    *Config
	Instances []Instance

	Algorithm string // roundrobin or chash
	HashOn    string // vars, header, cookie, consumer or vars_combinations
	Key       string

	FallbackStrategy     []string // rate_limiting, http_429, http_5xx, or the one string form
	FallbackHTTPStatuses []int64
	MaxRetries           int64 // -1: unset
	RetryWithinMS        int64
	ConsumerHeader       string // the request header naming the consumer

	// RateLimit is the configuration's ai-rate-limiting, nil without.
	RateLimit *RateLimit
}

// Instance is one entry of instances[]: its own provider, auth, options
// and overrides (Config, with the top level's transport fields) and how
// the balancer treats it.
type Instance struct {
	Name             string
	Weight, Priority int64
	Config           *Config
	// Models are the client models the instance serves: exact names or
	// patterns where * matches any run of characters. nil: every model.
	Models []string
	// Checks is checks.active with its defaults; nil without checks.
	Checks *health.Active
}

// MultiFields is every attribute path the ai-proxy-multi validator
// accepts, as Fields is for ai-proxy. An instance's provider, provider_conf,
// auth, options and override follow ai-proxy's rules, and Fields lists
// their children. docs/configuration.md has one row per path.
var MultiFields = []string{
	"instances", "instances.name", "instances.provider", "instances.provider_conf", "instances.auth",
	"instances.options", "instances.override", "instances.weight", "instances.priority",
	"instances.checks", "instances.checks.active",
	"instances.checks.active.type", "instances.checks.active.timeout", "instances.checks.active.concurrency",
	"instances.checks.active.host", "instances.checks.active.port", "instances.checks.active.http_path",
	"instances.checks.active.http_method", "instances.checks.active.http_req_body",
	"instances.checks.active.https_verify_certificate", "instances.checks.active.req_headers",
	"instances.checks.active.healthy", "instances.checks.active.healthy.interval",
	"instances.checks.active.healthy.successes", "instances.checks.active.healthy.http_statuses",
	"instances.checks.active.unhealthy", "instances.checks.active.unhealthy.interval",
	"instances.checks.active.unhealthy.http_failures", "instances.checks.active.unhealthy.tcp_failures",
	"instances.checks.active.unhealthy.timeouts", "instances.checks.active.unhealthy.http_statuses",
	"instances.upstream_cluster", "instances.models",
	"balancer", "balancer.algorithm", "balancer.hash_on", "balancer.key",
	"fallback_strategy", "fallback_http_statuses", "max_retries", "retry_on_failure_within_ms",
	"logging", "logging.summaries", "logging.payloads",
	"timeout", "keepalive", "keepalive_timeout", "keepalive_pool", "ssl_verify",
	"streaming_flush_interval_ms",
	"max_req_body_size", "max_response_bytes", "max_stream_duration_ms",
	"allow_on_headers_stop_iteration", "consumer_header",
}

// instanceKeys are the members of an instance that make its own ai-proxy
// configuration; topKeys those of the top level every instance shares.
var (
	instanceKeys = []string{"provider", "provider_conf", "auth", "options", "override", "upstream_cluster"}
	topKeys      = []string{"logging", "timeout", "keepalive", "keepalive_timeout", "keepalive_pool", "ssl_verify",
		"streaming_flush_interval_ms", "max_req_body_size", "max_response_bytes", "max_stream_duration_ms", "allow_on_headers_stop_iteration"}
)

// Plugin names a plugin-keyed configuration may hold: a route's plugins
// pasted as they are.
const (
	pluginAIProxy      = "ai-proxy"
	pluginAIProxyMulti = "ai-proxy-multi"
	pluginRateLimiting = "ai-rate-limiting"
)

// DefaultConsumerHeader is the request header that names the consumer
// when consumer_header is not set: what Envoy's JWT filter can be told to
// write (claim_to_headers) and what APISIX's consumer plugins set.
const DefaultConsumerHeader = "x-consumer"

// ParsePluginConfig validates a filter configuration: a bare ai-proxy or
// ai-proxy-multi object (multi has instances), optionally APISIX-wrapped,
// or an object keyed by APISIX plugin name.
func ParsePluginConfig(raw []byte, getenv func(string) string) (*MultiConfig, error) {
	raw = UnwrapConf(raw)
	if !jsonbytes.Valid(raw) {
		// ParseConfig words the empty and invalid cases.
		_, err := ParseConfig(raw, getenv)
		return nil, err
	}
	whole := raw
	root := jsonbytes.Parse(bytes.Clone(raw))
	var rateLimit jsonbytes.Value
	if root.IsObject() && isPluginKeyed(root) {
		var chosen []string
		var err error
		root.ForEach(func(k, v jsonbytes.Value) bool {
			switch k.Str() {
			case pluginAIProxy, pluginAIProxyMulti:
				chosen = append(chosen, k.Str())
				raw = v
			case pluginRateLimiting:
				rateLimit = v
			default:
				err = fmt.Errorf("ai-proxy: plugin %q is not one this filter runs; use %s, %s or %s", k.Str(), pluginAIProxy, pluginAIProxyMulti, pluginRateLimiting)
			}
			return err == nil
		})
		switch {
		case err != nil:
			return nil, err
		case len(chosen) != 1:
			return nil, fmt.Errorf("ai-proxy: a configuration keyed by plugin name needs exactly one of %s and %s, got %d", pluginAIProxy, pluginAIProxyMulti, len(chosen))
		}
		root = jsonbytes.Parse(raw)
		if chosen[0] == pluginAIProxyMulti && !root.Get("instances").Exists() {
			return nil, bad("instances", "is required")
		}
		if chosen[0] == pluginAIProxy && root.Get("instances").Exists() {
			return nil, bad("instances", "belongs to ai-proxy-multi, not ai-proxy")
		}
	}
	var mc *MultiConfig
	var err error
	if root.IsObject() && root.Get("instances").Exists() {
		mc, err = parseMulti(root, getenv)
	} else {
		var c *Config
		c, err = ParseConfig(raw, getenv)
		mc = &MultiConfig{Config: c}
	}
	if err != nil {
		return nil, err
	}
	if rateLimit.Exists() {
		names := mc.instanceNames()
		if mc.RateLimit, err = parseRateLimit(rateLimit, whole, names); err != nil {
			return nil, err
		}
	}
	return mc, nil
}

func isPluginKeyed(root jsonbytes.Value) bool {
	keyed := false
	root.ForEach(func(k, _ jsonbytes.Value) bool {
		switch k.Str() {
		case pluginAIProxy, pluginAIProxyMulti, pluginRateLimiting:
			keyed = true
		}
		return !keyed
	})
	return keyed
}

func parseMulti(root jsonbytes.Value, getenv func(string) string) (*MultiConfig, error) {
	if root.Get("semantic_opts").Exists() {
		return nil, bad("semantic_opts", "is not supported yet: the semantic balancer needs an embeddings callout per request, which this filter does not make; use balancer.algorithm roundrobin or chash")
	}
	if err := onlyKeysOf(MultiFields, root, ""); err != nil {
		return nil, err
	}
	mc := &MultiConfig{Algorithm: "roundrobin", HashOn: "vars", ConsumerHeader: DefaultConsumerHeader}
	// The top level's shared fields, validated once on their own, so an
	// error names them without an instance.
	shared := []byte(`{"provider":"openai","auth":{"header":{"a":"b"}}`)
	shared = appendMembers(shared, root, topKeys, true)
	var err error
	if mc.Config, err = ParseConfig(append(shared, '}'), nil); err != nil {
		return nil, err
	}
	if err := mc.parseBalancer(root.Get("balancer")); err != nil {
		return nil, err
	}
	if err := mc.parseFallback(root); err != nil {
		return nil, err
	}
	if v := root.Get("consumer_header"); v.Exists() {
		if !v.IsString() || !isName(v.Str()) {
			return nil, bad("consumer_header", "must be a header name (letters, digits, '.', '_', '-')")
		}
		mc.ConsumerHeader = strings.ToLower(v.Str())
	}

	list := root.Get("instances")
	if !list.IsArray() {
		return nil, bad("instances", "must be an array of instance objects")
	}
	i := 0
	list.ForEach(func(_, inst jsonbytes.Value) bool {
		var in Instance
		in, err = parseInstance(inst, i, root, getenv)
		if err == nil {
			if j := slices.IndexFunc(mc.Instances, func(o Instance) bool { return o.Name == in.Name }); j >= 0 {
				err = bad(fmt.Sprintf("instances[%d].name", i), "%q is also the name of instances[%d]; names must be unique", in.Name, j)
			}
		}
		mc.Instances = append(mc.Instances, in)
		i++
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if len(mc.Instances) == 0 {
		return nil, bad("instances", "must hold at least one instance")
	}
	return mc, nil
}

// parseInstance validates instances[i] and builds its ai-proxy
// configuration: its own members plus the top level's shared ones.
func parseInstance(inst jsonbytes.Value, i int, root jsonbytes.Value, getenv func(string) string) (Instance, error) {
	at := fmt.Sprintf("instances[%d].", i)
	if !inst.IsObject() {
		return Instance{}, bad(at[:len(at)-1], "must be an object")
	}
	if err := onlyKeysOf(MultiFields, inst, "instances."); err != nil {
		return Instance{}, rebase(err, "instances.", at)
	}
	var in Instance
	n := inst.Get("name")
	switch {
	case !n.Exists():
		return in, bad(at+"name", "is required")
	case !n.IsString() || n.Str() == "" || len(n.Str()) > 100:
		return in, bad(at+"name", "must be a string of 1 to 100 characters")
	}
	in.Name = n.Str()
	if !inst.Get("weight").Exists() {
		return in, bad(at+"weight", "is required")
	}
	if err := integer(inst, "weight", at+"weight", &in.Weight, 0, 1<<40); err != nil {
		return in, err
	}
	if err := integer(inst, "priority", at+"priority", &in.Priority, -1<<40, 1<<40); err != nil {
		return in, err
	}
	var err error
	if in.Checks, err = parseChecks(inst.Get("checks"), at+"checks"); err != nil {
		return in, err
	}
	models, err := parseModels(inst.Get("models"), at+"models")
	if err != nil {
		return in, err
	}
	in.Models = models
	own := appendMembers([]byte{'{'}, inst, instanceKeys, false)
	own = appendMembers(own, root, topKeys, len(own) > 1)
	c, err := ParseConfig(append(own, '}'), getenv)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) && !slices.Contains(topKeys, strings.SplitN(ce.Field, ".", 2)[0]) {
			return in, &ConfigError{Field: at + ce.Field, Rule: ce.Rule}
		}
		return in, err
	}
	in.Config = c
	return in, nil
}

// parseModels validates an instance's models: a non-empty list of unique,
// non-empty model names or * patterns.
func parseModels(v jsonbytes.Value, field string) ([]string, error) {
	if !v.Exists() {
		return nil, nil
	}
	const want = "must be a list of model names or patterns with * (\"gpt-4o\", \"claude-*\")"
	if !v.IsArray() {
		return nil, bad(field, want)
	}
	var models []string
	var err error
	v.ForEach(func(_, m jsonbytes.Value) bool {
		switch {
		case !m.IsString() || m.Str() == "":
			err = bad(field, want+", got %s", m)
		case slices.Contains(models, m.Str()):
			err = bad(field, "lists %q twice", m.Str())
		}
		models = append(models, m.Str())
		return err == nil
	})
	if err == nil && len(models) == 0 {
		err = bad(field, "must list at least one model; leave models out for an instance that serves every model")
	}
	return models, err
}

func (mc *MultiConfig) parseBalancer(b jsonbytes.Value) error {
	if !b.Exists() {
		return nil
	}
	if !b.IsObject() {
		return bad("balancer", "must be an object")
	}
	if err := onlyKeysOf(MultiFields, b, "balancer."); err != nil {
		return err
	}
	if a := b.Get("algorithm"); a.Exists() {
		switch {
		case a.Str() == "semantic":
			return bad("balancer.algorithm", "semantic is not supported yet: it needs an embeddings callout per request; use roundrobin or chash")
		case !a.IsString() || a.Str() != "roundrobin" && a.Str() != "chash":
			return bad("balancer.algorithm", "must be roundrobin or chash")
		}
		mc.Algorithm = a.Str()
	}
	if h := b.Get("hash_on"); h.Exists() {
		if !h.IsString() || !slices.Contains([]string{"vars", "header", "cookie", "consumer", "vars_combinations"}, h.Str()) {
			return bad("balancer.hash_on", "must be vars, header, cookie, consumer or vars_combinations")
		}
		mc.HashOn = h.Str()
	}
	var err error
	if mc.Key, err = str(b, "key", false); err != nil {
		return prefix("balancer.", err)
	}
	if mc.Algorithm != "chash" {
		return nil
	}
	switch mc.HashOn {
	case "consumer":
	case "vars":
		if !supportedVar(mc.Key) {
			return bad("balancer.key", "%q is not a variable this filter can read; use uri, request_uri, host, remote_addr, remote_port, arg_<name>, http_<name> or cookie_<name>", mc.Key)
		}
	case "vars_combinations":
		if !strings.Contains(mc.Key, "$") {
			return bad("balancer.key", "must combine variables written $name, like $http_x_user-$arg_team")
		}
		for _, name := range varNames(mc.Key) {
			if !supportedVar(name) {
				return bad("balancer.key", "uses $%s, which this filter cannot read; use uri, request_uri, host, remote_addr, remote_port, arg_<name>, http_<name> or cookie_<name>", name)
			}
		}
	default:
		if mc.Key == "" {
			return bad("balancer.key", "is required when hash_on is %s", mc.HashOn)
		}
	}
	return nil
}

func (mc *MultiConfig) parseFallback(root jsonbytes.Value) error {
	if fs := root.Get("fallback_strategy"); fs.Exists() {
		switch {
		case fs.IsString():
			if !slices.Contains([]string{"instance_health_and_rate_limiting", "http_429", "http_5xx"}, fs.Str()) {
				return bad("fallback_strategy", "must be instance_health_and_rate_limiting, http_429, http_5xx or a list of rate_limiting, http_429 and http_5xx")
			}
			mc.FallbackStrategy = []string{fs.Str()}
		case fs.IsArray():
			var err error
			fs.ForEach(func(_, v jsonbytes.Value) bool {
				switch {
				case !v.IsString() || !slices.Contains([]string{"rate_limiting", "http_429", "http_5xx"}, v.Str()):
					err = bad("fallback_strategy", "list items must be rate_limiting, http_429 or http_5xx")
				case slices.Contains(mc.FallbackStrategy, v.Str()):
					err = bad("fallback_strategy", "lists %s twice", v.Str())
				}
				mc.FallbackStrategy = append(mc.FallbackStrategy, v.Str())
				return err == nil
			})
			if err != nil {
				return err
			}
		default:
			return bad("fallback_strategy", "must be a string or a list")
		}
	}
	if st := root.Get("fallback_http_statuses"); st.Exists() {
		if !st.IsArray() {
			return bad("fallback_http_statuses", "must be a list of HTTP statuses 400–599")
		}
		var err error
		st.ForEach(func(_, v jsonbytes.Value) bool {
			f := v.Float()
			n := int64(f)
			switch {
			case !v.IsNumber() || f != float64(n) || n < 400 || n > 599:
				err = bad("fallback_http_statuses", "must be a list of HTTP statuses 400–599, got %s", v)
			case slices.Contains(mc.FallbackHTTPStatuses, n):
				err = bad("fallback_http_statuses", "lists %d twice", n)
			}
			mc.FallbackHTTPStatuses = append(mc.FallbackHTTPStatuses, n)
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	mc.MaxRetries = -1 // unset: no cap but the number of instances
	if err := integer(root, "max_retries", "max_retries", &mc.MaxRetries, 0, 1<<40); err != nil {
		return err
	}
	return integer(root, "retry_on_failure_within_ms", "retry_on_failure_within_ms", &mc.RetryWithinMS, 1, 1<<40)
}

// supportedVar reports whether the balancer can read the APISIX variable
// name: from a request's headers, or the client address from the host.
func supportedVar(name string) bool {
	switch name {
	case "uri", "request_uri", "host", "remote_addr", "remote_port":
		return true
	}
	for _, p := range [...]string{"arg_", "http_", "cookie_"} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" {
			return true
		}
	}
	return false
}

// varNames returns the names of the $variables in a vars_combinations key.
func varNames(key string) []string {
	var names []string
	for i := 0; i < len(key); i++ {
		if key[i] != '$' {
			continue
		}
		j := i + 1
		for j < len(key) && isVarChar(key[j]) {
			j++
		}
		names = append(names, key[i+1:j])
		i = j - 1
	}
	return names
}

func isVarChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// appendMembers appends obj's members named in keys to the JSON object
// being written in b, with a leading comma when comma is true.
func appendMembers(b []byte, obj jsonbytes.Value, keys []string, comma bool) []byte {
	obj.ForEach(func(k, v jsonbytes.Value) bool {
		if slices.Contains(keys, k.Str()) {
			if comma {
				b = append(b, ',')
			}
			b = appendJSONString(b, k.Str())
			b = append(b, ':')
			b = append(b, v...)
			comma = true
		}
		return true
	})
	return b
}

// rebase rewrites a ConfigError's field from one prefix to another.
func rebase(err error, from, to string) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return &ConfigError{Field: to + strings.TrimPrefix(ce.Field, from), Rule: ce.Rule}
	}
	return err
}
