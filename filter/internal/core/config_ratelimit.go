package core

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/ratelimit"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// RateLimit is a validated ai-rate-limiting configuration
// (https://apisix.apache.org/docs/apisix/plugins/ai-rate-limiting/): token
// budgets per instance, or per rule, in fixed windows.
type RateLimit struct {
	Limit, TimeWindow amount // the budget of every instance Instances does not name
	ShowHeaders       bool
	Strategy          string // total_tokens, prompt_tokens, completion_tokens or expression
	Cost              *ratelimit.Expr
	Instances         []InstanceLimit
	RejectedCode      int
	RejectedMsg       string
	Rules             []Rule
	AllowDegradation  bool
	PerConsumer       bool

	// id names this configuration's counters in shared data: a hash of
	// the whole filter configuration, so routes with different
	// configurations (and a changed configuration) count apart, as APISIX
	// keys counters by route and configuration version.
	id string
}

// InstanceLimit is one entry of ai-rate-limiting's instances.
type InstanceLimit struct {
	Name              string
	Limit, TimeWindow amount
}

// Rule is one entry of ai-rate-limiting's rules.
type Rule struct {
	Count, TimeWindow amount
	Key               *ratelimit.Template
	HeaderPrefix      string // "" for the rule's 1-based index
}

// amount is a limit or a window: a number, or a string with variables
// resolved per request (tmpl non-nil). n 0 with tmpl nil: not set.
type amount struct {
	n    int64
	tmpl *ratelimit.Template
}

// RateLimitFields is every attribute path of ai-rate-limiting the validator
// accepts; docs/configuration.md has one row per path.
var RateLimitFields = []string{
	"limit", "time_window", "show_limit_quota_header", "limit_strategy", "cost_expr",
	"instances", "instances.name", "instances.limit", "instances.time_window",
	"rejected_code", "rejected_msg", "policy", "allow_degradation",
	"rules", "rules.count", "rules.time_window", "rules.key", "rules.header_prefix",
	"per_consumer",
}

// budgetVar reports whether a limit, window or rule key may read the
// variable name: the request values the balancer reads, and consumer_name.
func budgetVar(name string) bool { return name == "consumer_name" || supportedVar(name) }

const varHelp = "use uri, request_uri, host, remote_addr, remote_port, arg_<name>, http_<name>, cookie_<name> or consumer_name"

// parseRateLimit validates ai-rate-limiting's object v for the filter
// configuration raw, whose instances are named names.
func parseRateLimit(v jsonbytes.Value, raw []byte, names []string) (*RateLimit, error) {
	const at = pluginRateLimiting + "."
	if !v.IsObject() {
		return nil, bad(pluginRateLimiting, "must be an object")
	}
	var err error
	v.ForEach(func(k, _ jsonbytes.Value) bool {
		if name := k.Str(); strings.HasPrefix(name, "redis_") || strings.HasPrefix(name, "sentinel_") {
			err = bad(at+name, "belongs to the Redis policies, which a proxy-wasm filter cannot run (no sockets); remove it")
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if err := onlyKeysOf(RateLimitFields, v, ""); err != nil {
		return nil, prefix(at, err)
	}
	rl := &RateLimit{Strategy: "total_tokens", RejectedCode: 503}
	if rl.ShowHeaders, err = boolean(v, at+"show_limit_quota_header", "show_limit_quota_header", true); err != nil {
		return nil, err
	}
	if rl.AllowDegradation, err = boolean(v, at+"allow_degradation", "allow_degradation", false); err != nil {
		return nil, err
	}
	if rl.PerConsumer, err = boolean(v, at+"per_consumer", "per_consumer", false); err != nil {
		return nil, err
	}
	if p := v.Get("policy"); p.Exists() {
		switch {
		case !p.IsString():
			return nil, bad(at+"policy", "must be a string")
		case strings.HasPrefix(p.Str(), "redis"):
			return nil, bad(at+"policy", "%s cannot work inside a proxy-wasm filter, which opens no sockets of its own; use local (counters shared by every worker of one proxy) and, for a budget shared by a fleet, Envoy's global rate limit service (https://www.envoyproxy.io/docs/envoy/latest/configuration/other_features/global_rate_limiting)", p.Str())
		case p.Str() != "local":
			return nil, bad(at+"policy", "must be local")
		}
	}
	if s := v.Get("limit_strategy"); s.Exists() {
		if !s.IsString() || !slices.Contains([]string{"total_tokens", "prompt_tokens", "completion_tokens", "expression"}, s.Str()) {
			return nil, bad(at+"limit_strategy", "must be total_tokens, prompt_tokens, completion_tokens or expression")
		}
		rl.Strategy = s.Str()
	}
	if e := v.Get("cost_expr"); e.Exists() {
		if !e.IsString() {
			return nil, bad(at+"cost_expr", "must be a string")
		}
		if rl.Strategy != "expression" {
			return nil, bad(at+"cost_expr", "is only used with limit_strategy expression; set limit_strategy to expression or remove cost_expr")
		}
		if rl.Cost, err = ratelimit.Compile(e.Str()); err != nil {
			return nil, bad(at+"cost_expr", "is not a valid expression: %v", err)
		}
	} else if rl.Strategy == "expression" {
		return nil, bad(at+"cost_expr", "is required when limit_strategy is expression, e.g. \"input_tokens + cache_creation_input_tokens + output_tokens\"")
	}
	var code int64 = 503
	if err := integer(v, "rejected_code", at+"rejected_code", &code, 200, 599); err != nil {
		return nil, err
	}
	rl.RejectedCode = int(code)
	if m := v.Get("rejected_msg"); m.Exists() {
		if !m.IsString() || m.Str() == "" {
			return nil, bad(at+"rejected_msg", "must be a non-empty string")
		}
		rl.RejectedMsg = m.Str()
	}
	if rl.Limit, err = parseAmount(v, "limit", at+"limit"); err != nil {
		return nil, err
	}
	if rl.TimeWindow, err = parseAmount(v, "time_window", at+"time_window"); err != nil {
		return nil, err
	}
	if err := rl.parseInstances(v.Get("instances"), at+"instances", names); err != nil {
		return nil, err
	}
	if err := rl.parseRules(v.Get("rules"), at+"rules"); err != nil {
		return nil, err
	}
	hasLimit, hasWindow := rl.Limit != amount{}, rl.TimeWindow != amount{}
	switch {
	case hasLimit != hasWindow:
		return nil, bad(at+"limit", "and time_window go together: set both or neither")
	case len(rl.Rules) > 0 && (hasLimit || len(rl.Instances) > 0):
		return nil, bad(at+"rules", "cannot be combined with limit, time_window or instances: rules are budgets of their own")
	case len(rl.Rules) == 0 && !hasLimit && len(rl.Instances) == 0:
		return nil, bad(pluginRateLimiting, "needs limit and time_window, instances, or rules")
	}
	h := fnv.New64a()
	h.Write(raw)
	rl.id = "ai-rate-limiting|" + strconv.FormatUint(h.Sum64(), 36) + "|"
	return rl, nil
}

// parseAmount reads a positive integer, or a string of variables resolved
// per request.
func parseAmount(obj jsonbytes.Value, key, field string) (amount, error) {
	v := obj.Get(key)
	switch {
	case !v.Exists():
		return amount{}, nil
	case v.IsString():
		if n, err := strconv.ParseInt(v.Str(), 10, 64); err == nil && n > 0 {
			return amount{n: n}, nil
		}
		t, err := ratelimit.ParseTemplate(v.Str(), budgetVar)
		if err != nil {
			return amount{}, bad(field, "must be a positive integer or a string of variables like ${http_x_limit}: %v; %s", err, varHelp)
		}
		if !t.Vars() {
			return amount{}, bad(field, "must be a positive integer or a string of variables like ${http_x_limit}, got %q", v.Str())
		}
		return amount{tmpl: t}, nil
	}
	var n int64
	if !v.IsNumber() {
		return amount{}, bad(field, "must be a positive integer or a string of variables like ${http_x_limit}")
	}
	if err := integer(obj, key, field, &n, 1, 1<<53); err != nil {
		return amount{}, err
	}
	return amount{n: n}, nil
}

func (rl *RateLimit) parseInstances(list jsonbytes.Value, field string, names []string) error {
	if !list.Exists() {
		return nil
	}
	if !list.IsArray() {
		return bad(field, "must be an array of {name, limit, time_window}")
	}
	var err error
	i := 0
	list.ForEach(func(_, in jsonbytes.Value) bool {
		at := fmt.Sprintf("%s[%d].", field, i)
		i++
		if !in.IsObject() {
			err = bad(at[:len(at)-1], "must be an object")
			return false
		}
		if err = onlyKeysOf(RateLimitFields, in, "instances."); err != nil {
			err = rebase(err, "instances.", at)
			return false
		}
		var il InstanceLimit
		n := in.Get("name")
		switch {
		case !n.Exists():
			err = bad(at+"name", "is required")
		case !n.IsString():
			err = bad(at+"name", "must be a string")
		case !slices.Contains(names, n.Str()):
			err = bad(at+"name", "%q names no instance; the instances are %s", n.Str(), strings.Join(names, ", "))
		case slices.ContainsFunc(rl.Instances, func(o InstanceLimit) bool { return o.Name == n.Str() }):
			err = bad(at+"name", "%q is listed twice", n.Str())
		}
		if err != nil {
			return false
		}
		il.Name = n.Str()
		if il.Limit, err = parseAmount(in, "limit", at+"limit"); err != nil {
			return false
		}
		if il.TimeWindow, err = parseAmount(in, "time_window", at+"time_window"); err != nil {
			return false
		}
		switch {
		case il.Limit == amount{}:
			err = bad(at+"limit", "is required")
		case il.TimeWindow == amount{}:
			err = bad(at+"time_window", "is required")
		}
		rl.Instances = append(rl.Instances, il)
		return err == nil
	})
	if err == nil && i == 0 {
		err = bad(field, "must hold at least one instance")
	}
	return err
}

func (rl *RateLimit) parseRules(list jsonbytes.Value, field string) error {
	if !list.Exists() {
		return nil
	}
	if !list.IsArray() {
		return bad(field, "must be an array of {count, time_window, key, header_prefix}")
	}
	var err error
	var keys []string
	i := 0
	list.ForEach(func(_, r jsonbytes.Value) bool {
		at := fmt.Sprintf("%s[%d].", field, i)
		i++
		if !r.IsObject() {
			err = bad(at[:len(at)-1], "must be an object")
			return false
		}
		if err = onlyKeysOf(RateLimitFields, r, "rules."); err != nil {
			err = rebase(err, "rules.", at)
			return false
		}
		var rule Rule
		if rule.Count, err = parseAmount(r, "count", at+"count"); err != nil {
			return false
		}
		if rule.TimeWindow, err = parseAmount(r, "time_window", at+"time_window"); err != nil {
			return false
		}
		k, hp := r.Get("key"), r.Get("header_prefix")
		switch {
		case k.Exists() && !k.IsString():
			err = bad(at+"key", "must be a string")
		case hp.Exists() && (!hp.IsString() || !isName(hp.Str())):
			err = bad(at+"header_prefix", "must be a string of letters, digits, '.', '_' and '-'")
		case rule.Count == amount{}:
			err = bad(at+"count", "is required")
		case rule.TimeWindow == amount{}:
			err = bad(at+"time_window", "is required")
		case !k.Exists():
			err = bad(at+"key", "is required, e.g. \"$http_x_user\" or \"$consumer_name\"")
		case slices.Contains(keys, k.Str()):
			err = bad(at+"key", "%q is the key of another rule; rules with one key would share one counter", k.Str())
		}
		if err != nil {
			return false
		}
		keys = append(keys, k.Str())
		if rule.Key, err = ratelimit.ParseTemplate(k.Str(), budgetVar); err != nil {
			err = bad(at+"key", "%v; %s", err, varHelp)
			return false
		}
		if !rule.Key.Vars() {
			err = bad(at+"key", "must read at least one variable, like $http_x_user: a rule whose key resolves no variable does not apply")
			return false
		}
		rule.HeaderPrefix = hp.Str()
		rl.Rules = append(rl.Rules, rule)
		return true
	})
	if err == nil && i == 0 {
		err = bad(field, "must hold at least one rule")
	}
	return err
}
