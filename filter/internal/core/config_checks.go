package core

import (
	"slices"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/health"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// httpMethods are the methods APISIX's schema allows for a probe
// (method_schema in https://github.com/apache/apisix/blob/master/apisix/schema_def.lua).
var httpMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"}

// parseChecks validates an instance's checks (APISIX: checks.active, with
// health_checker_active's fields and defaults) at field, instances[i].checks.
// No checks give nil.
func parseChecks(v jsonbytes.Value, field string) (*health.Active, error) {
	if !v.Exists() {
		return nil, nil
	}
	if !v.IsObject() {
		return nil, bad(field, "must be an object")
	}
	if err := onlyKeysOf(MultiFields, v, "instances.checks."); err != nil {
		return nil, rebase(err, "instances.checks", field)
	}
	act := v.Get("active")
	switch {
	case !act.Exists():
		return nil, bad(field+".active", "is required")
	case !act.IsObject():
		return nil, bad(field+".active", "must be an object")
	}
	field += ".active."
	if err := onlyKeysOf(MultiFields, act, "instances.checks.active."); err != nil {
		return nil, rebase(err, "instances.checks.active.", field)
	}
	a := health.DefaultActive()
	var err error
	str := func(key string, dst *string) {
		if m := act.Get(key); err == nil && m.Exists() {
			if !m.IsString() {
				err = bad(field+key, "must be a string")
				return
			}
			*dst = m.Str()
		}
	}
	str("type", &a.Type)
	str("host", &a.Host)
	str("http_path", &a.HTTPPath)
	str("http_method", &a.HTTPMethod)
	str("http_req_body", &a.HTTPReqBody)
	if err != nil {
		return nil, err
	}
	switch {
	case a.Type != "http" && a.Type != "https" && a.Type != "tcp":
		return nil, bad(field+"type", "must be http, https or tcp")
	case !strings.HasPrefix(a.HTTPPath, "/"):
		return nil, bad(field+"http_path", "must start with /, as a request path does")
	case !slices.Contains(httpMethods, a.HTTPMethod):
		return nil, bad(field+"http_method", "must be one of %s", strings.Join(httpMethods, ", "))
	case a.Host != "" && !validProbeHost(a.Host):
		return nil, bad(field+"host", "must be a host name or address (letters, digits and -._[]:)")
	}
	if t := act.Get("timeout"); t.Exists() {
		if !t.IsNumber() || t.Float() <= 0 || t.Float() > 600 {
			return nil, bad(field+"timeout", "must be a number of seconds above 0 and at most 600")
		}
		a.TimeoutMS = max(int64(t.Float()*1000), 1)
	}
	if err := integer(act, "concurrency", field+"concurrency", &a.Concurrency, -1<<40, 1<<40); err != nil {
		return nil, err
	}
	if err := integer(act, "port", field+"port", &a.Port, 1, 65535); err != nil {
		return nil, err
	}
	if a.VerifyCert, err = boolean(act, field+"https_verify_certificate", "https_verify_certificate", true); err != nil {
		return nil, err
	}
	if a.ReqHeaders, err = parseProbeHeaders(act.Get("req_headers"), field+"req_headers"); err != nil {
		return nil, err
	}
	if h := act.Get("healthy"); h.Exists() {
		at := field + "healthy"
		if !h.IsObject() {
			return nil, bad(at, "must be an object")
		}
		if err := onlyKeysOf(MultiFields, h, "instances.checks.active.healthy."); err != nil {
			return nil, rebase(err, "instances.checks.active.healthy", at)
		}
		var successes int64 = int64(a.Healthy.Successes)
		if err := firstErr(
			intervalMS(h, at, &a.Healthy.IntervalMS),
			integer(h, "successes", at+".successes", &successes, 1, 254),
			statuses(h, at, &a.Healthy.Statuses)); err != nil {
			return nil, err
		}
		a.Healthy.Successes = int(successes)
	}
	if u := act.Get("unhealthy"); u.Exists() {
		at := field + "unhealthy"
		if !u.IsObject() {
			return nil, bad(at, "must be an object")
		}
		if err := onlyKeysOf(MultiFields, u, "instances.checks.active.unhealthy."); err != nil {
			return nil, rebase(err, "instances.checks.active.unhealthy", at)
		}
		n := [3]int64{int64(a.Unhealthy.HTTPFailures), int64(a.Unhealthy.TCPFailures), int64(a.Unhealthy.Timeouts)}
		if err := firstErr(
			intervalMS(u, at, &a.Unhealthy.IntervalMS),
			integer(u, "http_failures", at+".http_failures", &n[0], 1, 254),
			integer(u, "tcp_failures", at+".tcp_failures", &n[1], 1, 254),
			integer(u, "timeouts", at+".timeouts", &n[2], 1, 254),
			statuses(u, at, &a.Unhealthy.Statuses)); err != nil {
			return nil, err
		}
		a.Unhealthy.HTTPFailures, a.Unhealthy.TCPFailures, a.Unhealthy.Timeouts = int(n[0]), int(n[1]), int(n[2])
	}
	return &a, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// intervalMS reads healthy.interval or unhealthy.interval, in seconds.
func intervalMS(obj jsonbytes.Value, at string, dst *int64) error {
	secs := *dst / 1000
	if err := integer(obj, "interval", at+".interval", &secs, 1, 1<<40); err != nil {
		return err
	}
	*dst = secs * 1000
	return nil
}

// statuses reads an http_statuses list: at least one, unique, 200–599.
func statuses(obj jsonbytes.Value, at string, dst *[]int) error {
	v := obj.Get("http_statuses")
	if !v.Exists() {
		return nil
	}
	at += ".http_statuses"
	if !v.IsArray() {
		return bad(at, "must be a list of HTTP statuses 200–599")
	}
	var out []int
	var err error
	v.ForEach(func(_, s jsonbytes.Value) bool {
		n := int(s.Int())
		switch {
		case !s.IsNumber() || s.Float() != float64(n) || n < 200 || n > 599:
			err = bad(at, "must be a list of HTTP statuses 200–599, got %s", s)
		case slices.Contains(out, n):
			err = bad(at, "lists %d twice", n)
		}
		out = append(out, n)
		return err == nil
	})
	if err == nil && len(out) == 0 {
		err = bad(at, "must list at least one status")
	}
	if err != nil {
		return err
	}
	*dst = out
	return nil
}

// parseProbeHeaders reads req_headers: "Name: value" strings, as
// lua-resty-healthcheck writes them into the probe's request.
func parseProbeHeaders(v jsonbytes.Value, at string) ([][2]string, error) {
	if !v.Exists() {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, bad(at, `must be a list of "Name: value" strings`)
	}
	var out [][2]string
	var err error
	v.ForEach(func(_, h jsonbytes.Value) bool {
		name, value, ok := strings.Cut(h.Str(), ":")
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		switch {
		case !h.IsString() || !ok || name == "" || strings.ContainsAny(name, " \t\r\n\x00") || strings.ContainsAny(value, "\r\n\x00"):
			err = bad(at, `must be a list of "Name: value" strings`) // values may be secrets: not quoted
		case name[0] == ':' || name == "host" || name == "content-length":
			err = bad(at, "cannot set %s: the probe's target decides it (use host for the Host header)", name)
		}
		out = append(out, [2]string{name, value})
		return err == nil
	})
	if err == nil && len(out) == 0 {
		err = bad(at, "must hold at least one header when given")
	}
	return out, err
}

// validProbeHost follows APISIX's host_def pattern ^\*?[0-9a-zA-Z-._\[\]:]+$
// (without the wildcard, which names no host to send).
func validProbeHost(h string) bool {
	for _, c := range []byte(h) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._[]:", c) >= 0) {
			return false
		}
	}
	return h != ""
}
