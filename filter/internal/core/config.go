package core

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/gcpauth"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/providers"
)

// Config is a validated APISIX ai-proxy plugin configuration plus the
// gateway's own safeguards. It is immutable after Parse: requests read it
// and never write it.
type Config struct {
	Provider *providers.Provider

	ProjectID, Region string // provider_conf

	AuthHeaders [][2]string // auth.header, names lower-cased
	AuthQuery   [][2]string // auth.query
	GCP         *GCPAuth
	AWS         *AWSAuth

	Options []byte // options as a JSON object ("" = none)
	Model   string // options.model

	Endpoint            *Endpoint // override.endpoint, parsed
	MaxTokens           int64     // override.llm_options.max_tokens (0 = unset)
	RequestBody         map[convert.Protocol][]byte
	RequestBodyForce    bool
	LogSummaries        bool
	LogPayloads         bool
	TimeoutMS           int64
	Keepalive           bool
	KeepaliveTimeoutMS  int64
	KeepalivePool       int64
	SSLVerify           bool
	MaxReqBodySize      int64 // bytes; 0 = unlimited
	MaxResponseBytes    int64 // bytes; 0 = unlimited
	MaxStreamDurationMS int64 // 0 = unlimited
	AllowHeadersHold    bool  // mirrors Envoy's allow_on_headers_stop_iteration
	UpstreamCluster     string
}

// Endpoint is a parsed override.endpoint.
type Endpoint struct {
	Scheme, Host string // Host includes the port when one was given
	Path         string // "" when the URL had no path: keep the provider's
	Query        url.Values
}

// GCPAuth is auth.gcp.
type GCPAuth struct {
	ServiceAccountJSON string
	Account            *gcpauth.ServiceAccount // parsed ServiceAccountJSON
	MaxTTL             int64
	ExpireEarlySecs    int64
}

// AWSAuth is auth.aws.
type AWSAuth struct{ AccessKeyID, SecretAccessKey, SessionToken string }

// ConfigError names the field at fault and the rule it broke.
type ConfigError struct{ Field, Rule string }

func (e *ConfigError) Error() string {
	return "ai-proxy: " + e.Field + " " + e.Rule
}

func bad(field, format string, args ...any) error {
	return &ConfigError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// UnwrapConf returns the plugin configuration inside APISIX's wasm wrapper
// {"conf": "<json string>"} or {"conf": {object}}, or raw itself.
func UnwrapConf(raw []byte) []byte {
	r := jsonbytes.Parse(raw)
	if !r.IsObject() {
		return raw
	}
	conf := r.Get("conf")
	if !conf.Exists() || r.Get("provider").Exists() {
		return raw
	}
	switch {
	case conf.IsString():
		return []byte(conf.String())
	case conf.IsObject() || conf.IsArray():
		return bytes.Clone(conf)
	}
	return raw
}

// Fields is every attribute path the validator accepts, a parent before
// its children. The objects the APISIX schema closes (the top level, auth,
// auth.gcp, auth.aws, provider_conf, override, override.llm_options,
// logging) accept exactly the children listed here; auth.header,
// auth.query, options and override.request_body take free keys, checked by
// their own rules. docs/configuration.md has one row per path, and a test
// compares the two, so the reference cannot drift from the validator.
var Fields = []string{
	"provider",
	"provider_conf", "provider_conf.project_id", "provider_conf.region",
	"auth", "auth.header", "auth.query",
	"auth.gcp", "auth.gcp.service_account_json", "auth.gcp.max_ttl", "auth.gcp.expire_early_secs",
	"auth.aws", "auth.aws.access_key_id", "auth.aws.secret_access_key", "auth.aws.session_token",
	"options", "options.model",
	"override", "override.endpoint", "override.llm_options", "override.llm_options.max_tokens",
	"override.request_body", "override.request_body_force_override",
	"logging", "logging.summaries", "logging.payloads",
	"timeout", "keepalive", "keepalive_timeout", "keepalive_pool", "ssl_verify",
	"streaming_flush_interval_ms",
	"max_req_body_size", "max_response_bytes", "max_stream_duration_ms",
	"allow_on_headers_stop_iteration", "upstream_cluster",
}

// ParseConfig validates raw (JSON, optionally APISIX-wrapped) and returns the
// configuration. getenv is the VM's environment: it resolves $env://
// references in credentials and supplies GCP_SERVICE_ACCOUNT; it may be nil.
func ParseConfig(raw []byte, getenv func(string) string) (*Config, error) {
	raw = UnwrapConf(raw)
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, errors.New("ai-proxy: the plugin configuration is empty; it needs at least provider and auth")
	}
	if !jsonbytes.Valid(raw) {
		return nil, errors.New("ai-proxy: the plugin configuration is not valid JSON")
	}
	// A copy: the strings read from it alias it, and the host may reuse raw.
	root := jsonbytes.Parse(bytes.Clone(raw))
	if !root.IsObject() {
		return nil, errors.New("ai-proxy: the plugin configuration must be a JSON object")
	}
	if err := onlyKeys(root, ""); err != nil {
		return nil, err
	}
	c := &Config{TimeoutMS: 30000, Keepalive: true, KeepaliveTimeoutMS: 60000, KeepalivePool: 30, SSLVerify: true}

	name, err := str(root, "provider", true)
	if err != nil {
		return nil, err
	}
	p, ok := providers.Lookup(name)
	if !ok {
		return nil, bad("provider", "%q is unknown; use one of %s", name, strings.Join(providers.Names(), ", "))
	}
	c.Provider = p

	if pc := root.Get("provider_conf"); pc.Exists() {
		if !pc.IsObject() {
			return nil, bad("provider_conf", "must be an object")
		}
		if err := onlyKeys(pc, "provider_conf."); err != nil {
			return nil, err
		}
		if c.ProjectID, err = str(pc, "project_id", false); err != nil {
			return nil, prefix("provider_conf.", err)
		}
		if c.Region, err = str(pc, "region", false); err != nil {
			return nil, prefix("provider_conf.", err)
		}
		if p.RegionInHost() && !isRegion(c.Region) {
			return nil, bad("provider_conf.region", "must be lower-case letters, digits and '-' (like us-east-1), as it becomes part of the host name")
		}
	}

	if err := c.parseAuth(root.Get("auth"), getenv); err != nil {
		return nil, err
	}
	if err := c.parseOptions(root.Get("options")); err != nil {
		return nil, err
	}
	if err := c.parseOverride(root.Get("override")); err != nil {
		return nil, err
	}
	if lg := root.Get("logging"); lg.Exists() {
		if !lg.IsObject() {
			return nil, bad("logging", "must be an object")
		}
		if err := onlyKeys(lg, "logging."); err != nil {
			return nil, err
		}
		if c.LogSummaries, err = boolean(lg, "logging.summaries", "summaries", false); err != nil {
			return nil, err
		}
		if c.LogPayloads, err = boolean(lg, "logging.payloads", "payloads", false); err != nil {
			return nil, err
		}
	}
	// APISIX's streaming_flush_interval_ms paces its Lua output buffer; in
	// a proxy-wasm filter each event is passed on as it is converted and
	// the host flushes, so the value is validated and has no effect.
	var flushIntervalMS int64
	ints := []struct {
		key      string
		dst      *int64
		min, max int64
	}{
		{"timeout", &c.TimeoutMS, 1, 600000},
		{"keepalive_timeout", &c.KeepaliveTimeoutMS, 1000, 1 << 40},
		{"keepalive_pool", &c.KeepalivePool, 1, 1 << 40},
		{"max_req_body_size", &c.MaxReqBodySize, 1, 1 << 40},
		{"max_response_bytes", &c.MaxResponseBytes, 1, 1 << 40},
		{"max_stream_duration_ms", &c.MaxStreamDurationMS, 1, 1 << 40},
		{"streaming_flush_interval_ms", &flushIntervalMS, 0, 1 << 40},
	}
	for _, f := range ints {
		if err := integer(root, f.key, f.key, f.dst, f.min, f.max); err != nil {
			return nil, err
		}
	}
	bools := []struct {
		key string
		dst *bool
	}{{"keepalive", &c.Keepalive}, {"ssl_verify", &c.SSLVerify}, {"allow_on_headers_stop_iteration", &c.AllowHeadersHold}}
	for _, f := range bools {
		if *f.dst, err = boolean(root, f.key, f.key, *f.dst); err != nil {
			return nil, err
		}
	}
	if c.UpstreamCluster, err = str(root, "upstream_cluster", false); err != nil {
		return nil, err
	}
	return c, c.checkProvider()
}

// checkProvider enforces the per-provider requirements of the APISIX schema.
func (c *Config) checkProvider() error {
	p := c.Provider
	switch {
	case p.NeedsEndpoint && c.Endpoint == nil:
		return bad("override.endpoint", "is required when provider is %q", p.Name)
	case p.Auth == providers.AuthSigV4 && c.Region == "":
		return bad("provider_conf.region", "is required when provider is %q", p.Name)
	case p.Auth == providers.AuthSigV4 && c.AWS == nil:
		return bad("auth.aws", "is required when provider is %q", p.Name)
	case p.Auth == providers.AuthGCP && c.Endpoint == nil && (c.ProjectID == "" || c.Region == ""):
		return bad("provider_conf", "needs project_id and region when provider is %q and override.endpoint is not set", p.Name)
	case p.Auth == providers.AuthStatic && len(c.AuthHeaders) == 0 && len(c.AuthQuery) == 0:
		return bad("auth", "needs header or query credentials for provider %q", p.Name)
	}
	return nil
}

func (c *Config) parseAuth(a jsonbytes.Value, getenv func(string) string) error {
	if !a.Exists() {
		return bad("auth", "is required")
	}
	if !a.IsObject() {
		return bad("auth", "must be an object")
	}
	if err := onlyKeys(a, "auth."); err != nil {
		return err
	}
	var err error
	if c.AuthHeaders, err = stringMap(a.Get("header"), "auth.header", true, getenv); err != nil {
		return err
	}
	if c.AuthQuery, err = stringMap(a.Get("query"), "auth.query", false, getenv); err != nil {
		return err
	}
	if g := a.Get("gcp"); g.Exists() {
		if !g.IsObject() {
			return bad("auth.gcp", "must be an object")
		}
		if err := onlyKeys(g, "auth.gcp."); err != nil {
			return err
		}
		c.GCP = &GCPAuth{ExpireEarlySecs: 60}
		if c.GCP.ServiceAccountJSON, err = str(g, "service_account_json", false); err != nil {
			return prefix("auth.gcp.", err)
		}
		if c.GCP.ServiceAccountJSON, err = resolveRef("auth.gcp.service_account_json", c.GCP.ServiceAccountJSON, getenv); err != nil {
			return err
		}
		if err := integer(g, "max_ttl", "auth.gcp.max_ttl", &c.GCP.MaxTTL, 1, 1<<40); err != nil {
			return err
		}
		if err := integer(g, "expire_early_secs", "auth.gcp.expire_early_secs", &c.GCP.ExpireEarlySecs, 0, 1<<40); err != nil {
			return err
		}
	}
	if c.Provider.Auth == providers.AuthGCP {
		if c.GCP == nil {
			c.GCP = &GCPAuth{ExpireEarlySecs: 60}
		}
		if c.GCP.ServiceAccountJSON == "" && getenv != nil {
			c.GCP.ServiceAccountJSON = getenv("GCP_SERVICE_ACCOUNT")
		}
		if c.GCP.ServiceAccountJSON == "" && len(c.AuthHeaders) == 0 && len(c.AuthQuery) == 0 {
			return bad("auth.gcp.service_account_json", "is required for provider %q (or set the GCP_SERVICE_ACCOUNT environment variable)", c.Provider.Name)
		}
		if c.GCP.ServiceAccountJSON != "" {
			sa, err := gcpauth.ParseServiceAccount([]byte(c.GCP.ServiceAccountJSON))
			if err != nil {
				return bad("auth.gcp.service_account_json", "is not a usable service account: %v", err)
			}
			// The token exchange goes to token_uri: its host and path
			// become the callout's :authority and :path.
			if _, err := parseURL(sa.TokenURI); err != nil {
				return bad("auth.gcp.service_account_json", "has a token_uri that %s", err)
			}
			c.GCP.Account = sa
		}
	}
	if w := a.Get("aws"); w.Exists() {
		if !w.IsObject() {
			return bad("auth.aws", "must be an object")
		}
		if err := onlyKeys(w, "auth.aws."); err != nil {
			return err
		}
		c.AWS = &AWSAuth{}
		if c.AWS.AccessKeyID, err = str(w, "access_key_id", true); err != nil {
			return prefix("auth.aws.", err)
		}
		if c.AWS.SecretAccessKey, err = str(w, "secret_access_key", true); err != nil {
			return prefix("auth.aws.", err)
		}
		if c.AWS.SessionToken, err = str(w, "session_token", false); err != nil {
			return prefix("auth.aws.", err)
		}
		if st := w.Get("session_token"); st.Exists() && c.AWS.SessionToken == "" {
			return bad("auth.aws.session_token", "must not be empty when set")
		}
		for _, f := range [...]struct {
			field string
			v     *string
		}{
			{"auth.aws.access_key_id", &c.AWS.AccessKeyID},
			{"auth.aws.secret_access_key", &c.AWS.SecretAccessKey},
			{"auth.aws.session_token", &c.AWS.SessionToken},
		} {
			if *f.v, err = resolveRef(f.field, *f.v, getenv); err != nil {
				return err
			}
		}
		// The key id goes into the Authorization header, the session token
		// into X-Amz-Security-Token; the secret only keys the signature.
		for _, f := range [...]struct{ field, v string }{
			{"auth.aws.access_key_id", c.AWS.AccessKeyID},
			{"auth.aws.session_token", c.AWS.SessionToken},
		} {
			if breaksHeader(f.v) {
				return bad(f.field, "contains a CR, LF or NUL character")
			}
		}
	}
	return nil
}

func (c *Config) parseOptions(o jsonbytes.Value) error {
	if !o.Exists() {
		return nil
	}
	if !o.IsObject() {
		return bad("options", "must be an object")
	}
	if m := o.Get("model"); m.Exists() {
		// Providers with the model in the path (Bedrock, Vertex AI
		// embeddings) percent-encode it as one path segment, so any id, an
		// ARN with '/' and ':' included, stays one segment.
		if !m.IsString() || m.Str() == "" {
			return bad("options.model", "must be a non-empty string")
		}
		if breaksHeader(m.Str()) {
			return bad("options.model", "contains a CR, LF or NUL character")
		}
		c.Model = m.Str()
	}
	c.Options = bytes.Clone(o)
	return nil
}

func (c *Config) parseOverride(o jsonbytes.Value) error {
	if !o.Exists() {
		return nil
	}
	if !o.IsObject() {
		return bad("override", "must be an object")
	}
	if err := onlyKeys(o, "override."); err != nil {
		return err
	}
	if e := o.Get("endpoint"); e.Exists() {
		ep, err := parseEndpoint(e)
		if err != nil {
			return err
		}
		c.Endpoint = ep
	}
	if lo := o.Get("llm_options"); lo.Exists() {
		if !lo.IsObject() {
			return bad("override.llm_options", "must be an object")
		}
		if err := onlyKeys(lo, "override.llm_options."); err != nil {
			return err
		}
		if err := integer(lo, "max_tokens", "override.llm_options.max_tokens", &c.MaxTokens, 1, 1<<40); err != nil {
			return err
		}
	}
	if rb := o.Get("request_body"); rb.Exists() {
		if !rb.IsObject() {
			return bad("override.request_body", "must be an object keyed by target protocol")
		}
		c.RequestBody = map[convert.Protocol][]byte{}
		var err error
		rb.ForEach(func(k, v jsonbytes.Value) bool {
			p, ok := convert.ParseProtocol(k.Str())
			if !ok || p == convert.VertexPredict {
				err = bad("override.request_body."+k.Str(), "is not a protocol; use openai-chat, openai-responses, openai-embeddings, anthropic-messages or bedrock-converse")
				return false
			}
			if !v.IsObject() {
				err = bad("override.request_body."+k.Str(), "must be an object")
				return false
			}
			c.RequestBody[p] = bytes.Clone(v)
			return true
		})
		if err != nil {
			return err
		}
	}
	var err error
	c.RequestBodyForce, err = boolean(o, "override.request_body_force_override", "request_body_force_override", false)
	return err
}

func parseEndpoint(e jsonbytes.Value) (*Endpoint, error) {
	if !e.IsString() || e.Str() == "" {
		return nil, bad("override.endpoint", "must be a non-empty URL string")
	}
	// The URL may carry a credential in its query: errors never echo it.
	u, err := parseURL(e.Str())
	if err != nil {
		return nil, bad("override.endpoint", "%s", err)
	}
	ep := &Endpoint{Scheme: u.Scheme, Host: u.Host, Query: u.Query()}
	if u.EscapedPath() != "" && u.EscapedPath() != "/" {
		ep.Path = u.EscapedPath()
	}
	return ep, nil
}

// parseURL parses an upstream URL: http or https, a host, a port in
// 1..65535 if any, and nothing a proxy would not send (userinfo,
// fragment). An empty port ("host:") means the default one. Its errors
// say what is wrong and never quote the URL.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return nil, errors.New("must be an absolute http(s) URL like https://host[:port][/path][?query]")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must use http or https")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("has no host")
	case u.User != nil:
		return nil, errors.New("must not contain userinfo (user:password@); use auth.header or auth.query for credentials")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, errors.New("must not contain a fragment (#...)")
	}
	u.Host = strings.TrimSuffix(u.Host, ":")
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("has a port outside 1..65535")
		}
	}
	return u, nil
}

func prefix(p string, err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return &ConfigError{Field: p + ce.Field, Rule: ce.Rule}
	}
	return err
}

// onlyKeys rejects the keys of obj, the object at path ("" for the top
// level, else ending in '.'), that Fields does not list under path.
func onlyKeys(obj jsonbytes.Value, path string) error { return onlyKeysOf(Fields, obj, path) }

// onlyKeysOf is onlyKeys against the attribute list fields.
func onlyKeysOf(fields []string, obj jsonbytes.Value, path string) error {
	var err error
	obj.ForEach(func(k, _ jsonbytes.Value) bool {
		if known := childFields(fields, path); !slices.Contains(known, k.Str()) {
			err = bad(path+k.Str(), "is not a known field; known fields are %s", strings.Join(known, ", "))
		}
		return err == nil
	})
	return err
}

// childFields returns the names fields lists directly under path.
func childFields(fields []string, path string) []string {
	var names []string
	for _, f := range fields {
		if name, ok := strings.CutPrefix(f, path); ok && !strings.Contains(name, ".") {
			names = append(names, name)
		}
	}
	return names
}

func str(obj jsonbytes.Value, key string, required bool) (string, error) {
	v := obj.Get(key)
	if !v.Exists() {
		if required {
			return "", bad(key, "is required")
		}
		return "", nil
	}
	if !v.IsString() {
		return "", bad(key, "must be a string")
	}
	if required && v.Str() == "" {
		return "", bad(key, "must not be empty")
	}
	return v.Str(), nil
}

func boolean(obj jsonbytes.Value, field, key string, def bool) (bool, error) {
	v := obj.Get(key)
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if v.Exists() {
		return def, bad(field, "must be true or false")
	}
	return def, nil
}

func integer(obj jsonbytes.Value, key, field string, dst *int64, min, max int64) error {
	v := obj.Get(key)
	if !v.Exists() {
		return nil
	}
	f := v.Float()
	if !v.IsNumber() || f != float64(int64(f)) {
		return bad(field, "must be an integer")
	}
	n := int64(f)
	if n < min || n > max {
		if max >= 1<<40 {
			return bad(field, "must be at least %d, got %d", min, n)
		}
		return bad(field, "must be between %d and %d, got %d", min, max, n)
	}
	*dst = n
	return nil
}

// stringMap reads auth.header or auth.query: an object of string values,
// in document order. Names follow APISIX's schema (^[a-zA-Z0-9._-]+$), and
// no value may end its header early (CR, LF) or be cut by the host (NUL):
// Envoy's header map refuses such values, which would make every request
// fail later. $env:// values are resolved first, so the checks see what
// is sent. Errors name the key, never the value, which is a credential.
func stringMap(obj jsonbytes.Value, field string, lower bool, getenv func(string) string) ([][2]string, error) {
	if !obj.Exists() {
		return nil, nil
	}
	if !obj.IsObject() {
		return nil, bad(field, "must be an object of strings")
	}
	var out [][2]string
	var err error
	obj.ForEach(func(k, v jsonbytes.Value) bool {
		switch {
		case !isName(k.Str()):
			err = bad(field, "name %q is not valid: use letters, digits, '.', '_' and '-' (APISIX: ^[a-zA-Z0-9._-]+$)", k.Str())
		case !v.IsString():
			err = bad(field+"."+k.Str(), "must be a string")
		}
		if err != nil {
			return false
		}
		var value string
		if value, err = resolveRef(field+"."+k.Str(), v.Str(), getenv); err != nil {
			return false
		}
		if breaksHeader(value) {
			err = bad(field, "%q value contains a CR, LF or NUL character", k.Str())
			return false
		}
		name := k.Str()
		if lower {
			name = strings.ToLower(name)
		}
		out = append(out, [2]string{name, value})
		return true
	})
	return out, err
}

// Secret references, as APISIX writes them
// (https://apisix.apache.org/docs/apisix/terminology/secret/): $env://NAME
// is the value of the environment variable NAME, $env://NAME/key the
// string member key of the JSON object NAME holds; APISIX matches the
// prefix in any case. $secret://manager/id/key names a secret manager.
const (
	envRefPrefix    = "$env://"
	secretRefPrefix = "$secret://"
)

// resolveRef returns v with an $env:// reference replaced by its value.
// The reference is the whole value, as in APISIX, or ends it after
// literal text ("Bearer $env://OPENAI_API_KEY"), which APISIX's own
// ai-proxy does not resolve. The filter's environment is what the host
// gives the VM through WASI: Envoy's vm_config.environment_variables,
// Istio's WasmPlugin vmConfig.env, and on APISIX the environment of the
// nginx worker (wasm-nginx-module inherits it; nginx keeps only the
// variables of its env directives, APISIX's nginx_config.envs). Errors
// name the field and the variable, never a value.
func resolveRef(field, v string, getenv func(string) string) (string, error) {
	lower := strings.ToLower(v)
	if strings.Contains(lower, secretRefPrefix) {
		return "", bad(field, "is a $secret:// reference, which a proxy-wasm filter cannot resolve: it has no way to reach Vault or a cloud secret manager while it is configured. Put the secret in an environment variable of the proxy and refer to it as $env://NAME")
	}
	i := strings.Index(lower, envRefPrefix)
	if i < 0 {
		return v, nil
	}
	literal, ref := v[:i], v[i+len(envRefPrefix):]
	name, key, hasKey := strings.Cut(ref, "/")
	if !isEnvName(name) {
		return "", bad(field, "refers to the environment variable %q, which is not a valid name: use letters, digits and '_', not starting with a digit ($env://NAME or $env://NAME/key)", name)
	}
	value := ""
	if getenv != nil {
		value = getenv(name)
	}
	if value == "" {
		return "", bad(field, "refers to the environment variable %s, which is not set or empty in the filter's environment (Envoy: vm_config.environment_variables; Istio: WasmPlugin vmConfig.env; APISIX: nginx_config.envs)", name)
	}
	if hasKey {
		// Exact member lookup: key is a name, not a path.
		var member jsonbytes.Value
		if doc := []byte(value); jsonbytes.Valid(doc) {
			obj := jsonbytes.Parse(doc)
			obj.ForEach(func(k, m jsonbytes.Value) bool {
				if k.Str() == key {
					member = m
				}
				return true
			})
		}
		if !member.IsString() || member.Str() == "" {
			return "", bad(field, "refers to $env://%s/%s, but %s does not hold a JSON object with a non-empty string member %q", name, key, name, key)
		}
		value = member.Str()
	}
	return literal + value, nil
}

// isEnvName reports whether s is a C identifier, the names Istio's
// WasmPlugin and POSIX shells accept for environment variables.
func isEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// isName reports whether s matches ^[a-zA-Z0-9._-]+$, the names APISIX
// accepts for auth.header and auth.query keys.
func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// breaksHeader reports whether s holds a byte that would end a header
// line (CR, LF) or a C string (NUL) if it were sent in a header.
func breaksHeader(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// providerConf is provider_conf with the provider's defaults.
func (c *Config) providerConf() providers.Conf {
	return c.Provider.Conf(c.ProjectID, c.Region)
}

// isRegion reports whether s is an AWS region or a Google Cloud location
// name ("us-east-1", "europe-west4", "global"): lower-case letters, digits
// and '-'.
func isRegion(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
