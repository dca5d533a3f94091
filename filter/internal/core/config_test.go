package core

import (
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/tidwall/sjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

func TestParseConfigRejects(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"empty", ``, "configuration is empty"},
		{"not json", `{"provider":`, "not valid JSON"},
		{"array", `[]`, "must be a JSON object"},
		{"unknown top-level key", `{"provider":"openai","auth":{"header":{"a":"b"}},"frobnicate":1}`, "frobnicate is not a known field"},
		{"no provider", `{"auth":{"header":{"a":"b"}}}`, "provider is required"},
		{"unknown provider", `{"provider":"skynet","auth":{"header":{"a":"b"}}}`, `provider "skynet" is unknown`},
		{"no auth", `{"provider":"openai"}`, "auth is required"},
		{"empty auth", `{"provider":"openai","auth":{}}`, "auth needs header or query"},
		{"a dotted path as a key", `{"provider":"openai","auth":{"header":{"a":"b"}},"auth.aws":{}}`, "auth.aws is not a known field; known fields are provider, provider_conf, auth,"},
		{"unknown auth key", `{"provider":"openai","auth":{"header":{"a":"b"},"bearer":"x"}}`, "auth.bearer is not a known field"},
		{"auth header not string", `{"provider":"openai","auth":{"header":{"a":1}}}`, "auth.header.a must be a string"},
		{"timeout too small", `{"provider":"openai","auth":{"header":{"a":"b"}},"timeout":0}`, "timeout must be between 1 and 600000, got 0"},
		{"timeout too big", `{"provider":"openai","auth":{"header":{"a":"b"}},"timeout":600001}`, "timeout must be between 1 and 600000"},
		{"timeout not int", `{"provider":"openai","auth":{"header":{"a":"b"}},"timeout":1.5}`, "timeout must be an integer"},
		{"keepalive_timeout", `{"provider":"openai","auth":{"header":{"a":"b"}},"keepalive_timeout":999}`, "keepalive_timeout must be at least 1000"},
		{"keepalive_pool", `{"provider":"openai","auth":{"header":{"a":"b"}},"keepalive_pool":0}`, "keepalive_pool must be at least 1"},
		{"ssl_verify type", `{"provider":"openai","auth":{"header":{"a":"b"}},"ssl_verify":"yes"}`, "ssl_verify must be true or false"},
		{"endpoint not url", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"api.example.com/v1"}}`, "override.endpoint"},
		{"endpoint ftp", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"ftp://x/y"}}`, "override.endpoint must use http or https"},
		{"unknown override key", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"model":"x"}}`, "override.model is not a known field"},
		{"unknown llm_options key", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"llm_options":{"temperature":1}}}`, "override.llm_options.temperature is not a known field"},
		{"max_tokens zero", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"llm_options":{"max_tokens":0}}}`, "override.llm_options.max_tokens must be at least 1"},
		{"request_body unknown protocol", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"request_body":{"openai":{}}}}`, "override.request_body.openai is not a protocol"},
		{"request_body not object", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"request_body":{"openai-chat":[1]}}}`, "override.request_body.openai-chat must be an object"},
		{"openai-compatible without endpoint", `{"provider":"openai-compatible","auth":{"header":{"a":"b"}}}`, "override.endpoint is required when provider is \"openai-compatible\""},
		{"azure without endpoint", `{"provider":"azure-openai","auth":{"header":{"api-key":"b"}}}`, "override.endpoint is required when provider is \"azure-openai\""},
		{"bedrock without region", `{"provider":"bedrock","auth":{"aws":{"access_key_id":"a","secret_access_key":"b"}}}`, "provider_conf.region is required"},
		{"bedrock without aws", `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"header":{"a":"b"}}}`, "auth.aws is required"},
		{"bedrock empty key", `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"","secret_access_key":"b"}}}`, "auth.aws.access_key_id must not be empty"},
		{"vertex without provider_conf", `{"provider":"vertex-ai","auth":{"header":{"authorization":"Bearer t"}}}`, "provider_conf needs project_id and region"},
		{"vertex with a broken service account", `{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"r"},"auth":{"gcp":{"service_account_json":"{}"}}}`, "auth.gcp.service_account_json is not a usable service account"},
		{"vertex without credentials", `{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"us-central1"},"auth":{}}`, "auth.gcp.service_account_json is required"},
		{"logging key", `{"provider":"openai","auth":{"header":{"a":"b"}},"logging":{"verbose":true}}`, "logging.verbose is not a known field"},
		{"options not object", `{"provider":"openai","auth":{"header":{"a":"b"}},"options":"gpt-4"}`, "options must be an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.conf), nil)
			if err == nil {
				t.Fatalf("accepted %s", tc.conf)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "ai-proxy: ") {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// Values that end up in a header, a path, a query or a host name are
// refused at configure time when the proxy would refuse (or misroute) every
// request built from them. Errors name the field, never the value: the
// values are credentials, and "secret" must not appear in any error.
func TestParseConfigRejectsUnsafeValues(t *testing.T) {
	const aws = `"provider":"bedrock","provider_conf":{"region":"us-east-1"}`
	tests := []struct {
		name, conf, want string
	}{
		{"auth.header value with CR LF", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer secret\r\nX-Injected: 1"}}}`,
			`auth.header "Authorization" value contains a CR, LF or NUL character`},
		{"auth.header value with LF", `{"provider":"openai","auth":{"header":{"X-Key":"secret\n"}}}`, `auth.header "X-Key" value contains a CR, LF`},
		{"auth.header value with NUL", `{"provider":"openai","auth":{"header":{"X-Key":"sec\u0000ret"}}}`, `auth.header "X-Key" value contains a CR, LF or NUL`},
		{"auth.header name with a space", `{"provider":"openai","auth":{"header":{"Bad Header Name":"secret"}}}`,
			`auth.header name "Bad Header Name" is not valid`},
		{"auth.header name with a colon", `{"provider":"openai","auth":{"header":{"X-A:b":"secret"}}}`, `auth.header name "X-A:b" is not valid`},
		{"auth.header empty name", `{"provider":"openai","auth":{"header":{"":"secret"}}}`, `auth.header name "" is not valid`},
		{"auth.header name with CR", `{"provider":"openai","auth":{"header":{"X\rY":"secret"}}}`, `auth.header name "X\rY" is not valid`},
		{"auth.query value with LF", `{"provider":"gemini","auth":{"query":{"key":"secret\n"}}}`, `auth.query "key" value contains a CR, LF or NUL`},
		{"auth.query name with &", `{"provider":"gemini","auth":{"query":{"key&x":"secret"}}}`, `auth.query name "key&x" is not valid`},
		{"aws access key with LF", `{` + aws + `,"auth":{"aws":{"access_key_id":"AKIA\nsecret","secret_access_key":"s"}}}`,
			"auth.aws.access_key_id contains a CR, LF or NUL"},
		{"aws session token with CR", `{` + aws + `,"auth":{"aws":{"access_key_id":"AKIA","secret_access_key":"s","session_token":"secret\r"}}}`,
			"auth.aws.session_token contains a CR, LF or NUL"},
		{"bedrock region with a dot", `{"provider":"bedrock","provider_conf":{"region":"us-east-1.secret.example"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"b"}}}`,
			"provider_conf.region must be lower-case letters, digits and '-'"},
		{"bedrock region with a slash", `{"provider":"bedrock","provider_conf":{"region":"secret/x"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"b"}}}`,
			"provider_conf.region must be"},
		{"vertex region with a colon", `{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"secret:1"},"auth":{"header":{"authorization":"Bearer t"}}}`,
			"provider_conf.region must be"},
		{"model with LF", `{"provider":"openai","auth":{"header":{"a":"b"}},"options":{"model":"gpt\nsecret"}}`, "options.model contains a CR, LF or NUL"},
		{"endpoint userinfo", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"https://user:secret@api.example.com/v1"}}`,
			"override.endpoint must not contain userinfo"},
		{"endpoint fragment", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"https://api.example.com/v1?key=secret#frag"}}`,
			"override.endpoint must not contain a fragment"},
		{"endpoint empty fragment", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"https://api.example.com/v1?key=secret#"}}`,
			"override.endpoint must not contain a fragment"},
		{"endpoint without host", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"https:///v1?key=secret"}}`, "override.endpoint has no host"},
		{"endpoint relative", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"/v1?key=secret"}}`, "override.endpoint must be an absolute http(s) URL"},
		{"endpoint opaque", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"https:secret"}}`, "override.endpoint must be an absolute http(s) URL"},
		{"endpoint port out of range", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"https://api.example.com:99999/v1?key=secret"}}`,
			"override.endpoint has a port outside 1..65535"},
		{"endpoint with a control character", `{"provider":"openai","auth":{"header":{"a":"b"}},"override":{"endpoint":"https://api.example.com/v1\r\n?key=secret"}}`,
			"override.endpoint must be an absolute http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.conf), nil)
			if err == nil {
				t.Fatalf("accepted %s", tc.conf)
			}
			if !strings.HasPrefix(err.Error(), "ai-proxy: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error %q shows the value", err)
			}
		})
	}
}

// A service account's token_uri is checked like override.endpoint, since the
// token exchange is sent to it.
func TestParseConfigRejectsBadTokenURI(t *testing.T) {
	sa, err := os.ReadFile("testdata/service-account.json")
	if err != nil {
		t.Fatal(err)
	}
	for uri, want := range map[string]string{
		"ftp://oauth2.example.com/token":       "has a token_uri that must use http or https",
		"https://u:p@oauth2.example.com/token": "has a token_uri that must not contain userinfo",
		"oauth2.example.com/token":             "has a token_uri that must be an absolute http(s) URL",
	} {
		acct, _ := sjson.SetBytes(sa, "token_uri", uri)
		conf, _ := sjson.Set(`{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"us-central1"}}`, "auth.gcp.service_account_json", string(acct))
		_, err := ParseConfig([]byte(conf), nil)
		if err == nil || !strings.Contains(err.Error(), "auth.gcp.service_account_json "+want) {
			t.Errorf("token_uri %s: error %v, want %q", uri, err, want)
		}
	}
}

// Accepted edge values: names with every allowed character, ids with the
// characters Bedrock model ids and ARNs use, IPv6 and empty-port endpoints.
func TestParseConfigAcceptsEdgeValues(t *testing.T) {
	tests := []struct {
		name, conf string
		check      func(*Config) bool
	}{
		{"names with . _ -", `{"provider":"openai","auth":{"header":{"X-Api.Key_1":"Bearer a:b/c=="},"query":{"api_key.v-2":"k"}}}`,
			func(c *Config) bool {
				return c.AuthHeaders[0][0] == "x-api.key_1" && c.AuthQuery[0][0] == "api_key.v-2"
			}},
		{"bedrock ARN model", `{"provider":"bedrock","provider_conf":{"region":"us-gov-west-1"},"auth":{"aws":{"access_key_id":"AKIA","secret_access_key":"s\nt"}},
			"options":{"model":"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc.1"}}`,
			func(c *Config) bool { return c.Region == "us-gov-west-1" && strings.HasSuffix(c.Model, "/abc.1") }},
		{"vertex global", `{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"global"},"auth":{"header":{"authorization":"Bearer t"}}}`,
			func(c *Config) bool { return c.Region == "global" }},
		{"region unused by the provider", `{"provider":"openai","provider_conf":{"region":"EU West"},"auth":{"header":{"a":"b"}}}`,
			func(c *Config) bool { return c.Region == "EU West" }},
		{"IPv6 endpoint", `{"provider":"openai-compatible","auth":{"header":{"a":"b"}},"override":{"endpoint":"http://[::1]:8080/v1/chat/completions"}}`,
			func(c *Config) bool { return c.Endpoint.Host == "[::1]:8080" }},
		{"empty port", `{"provider":"openai-compatible","auth":{"header":{"a":"b"}},"override":{"endpoint":"http://llm.local:/v1"}}`,
			func(c *Config) bool { return c.Endpoint.Host == "llm.local" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("parsed %+v", c)
			}
		})
	}
}

func TestParseConfigAccepts(t *testing.T) {
	const full = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"},"query":{"key":"q"}},
		"options":{"model":"gpt-4o","temperature":0.5},
		"override":{"endpoint":"https://llm.example.com:8443/v1/chat/completions?api-version=1","llm_options":{"max_tokens":64},
			"request_body":{"openai-chat":{"user":"gw"}},"request_body_force_override":true},
		"logging":{"summaries":true,"payloads":false},"timeout":1000,"keepalive":false,"keepalive_timeout":2000,
		"keepalive_pool":3,"ssl_verify":false,"max_req_body_size":100,"max_response_bytes":200,"max_stream_duration_ms":300,
		"streaming_flush_interval_ms":0}`
	wrapped := `{"conf":` + quote(full) + `}`
	for name, raw := range map[string]string{"object": full, "apisix string conf": wrapped, "apisix object conf": `{"conf":` + full + `}`} {
		t.Run(name, func(t *testing.T) {
			c, err := ParseConfig([]byte(raw), nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Provider.Name != "openai" || c.Model != "gpt-4o" || c.MaxTokens != 64 || !c.RequestBodyForce ||
				!c.LogSummaries || c.TimeoutMS != 1000 || c.Keepalive || c.KeepaliveTimeoutMS != 2000 || c.KeepalivePool != 3 ||
				c.SSLVerify || c.MaxReqBodySize != 100 || c.MaxResponseBytes != 200 || c.MaxStreamDurationMS != 300 {
				t.Fatalf("parsed %+v", c)
			}
			if c.AuthHeaders[0] != [2]string{"authorization", "Bearer k"} || c.AuthQuery[0] != [2]string{"key", "q"} {
				t.Fatalf("auth %v %v", c.AuthHeaders, c.AuthQuery)
			}
			if c.Endpoint.Host != "llm.example.com:8443" || c.Endpoint.Path != "/v1/chat/completions" || c.Endpoint.Query.Get("api-version") != "1" {
				t.Fatalf("endpoint %+v", c.Endpoint)
			}
			if string(c.RequestBody[convert.OpenAIChat]) != `{"user":"gw"}` {
				t.Fatalf("request_body %q", c.RequestBody[convert.OpenAIChat])
			}
		})
	}
	c, err := ParseConfig([]byte(`{"provider":"deepseek","auth":{"header":{"Authorization":"Bearer k"}}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TimeoutMS != 30000 || !c.Keepalive || c.KeepaliveTimeoutMS != 60000 || c.KeepalivePool != 30 || !c.SSLVerify {
		t.Fatalf("defaults %+v", c)
	}
	sa, err := os.ReadFile("testdata/service-account.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err = ParseConfig([]byte(`{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"r"},"auth":{}}`),
		func(k string) string {
			if k == "GCP_SERVICE_ACCOUNT" {
				return string(sa)
			}
			return ""
		})
	if err != nil || c.GCP.Account == nil || c.GCP.ExpireEarlySecs != 60 {
		t.Fatalf("GCP_SERVICE_ACCOUNT fallback: %v %+v", err, c)
	}
}

func quote(s string) string { return string(appendJSONString(nil, s)) }

// testEnv is a VM environment for $env:// tests. Every value holds
// "secret", so a test can see that no error shows one.
var testEnv = map[string]string{
	"OPENAI_API_KEY": "sk-secret",
	"AUTH_HEADER":    "Bearer secret-token",
	"AWS_CREDS":      `{"id":"AKIDsecret","key":"secret-key","n":1}`,
	"GCP_SA":         "placeholder: replaced by the test",
	"WITH_CRLF":      "secret\r\nX-Injected: 1",
	"NOT_JSON":       "secret",
}

func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// $env:// references in credentials are resolved from the VM's environment
// once, when the plugin is configured, in APISIX's syntax: the whole value
// ($env://NAME, any case of the prefix), a string member of a JSON value
// ($env://NAME/key), or, as an extension, at the end of a literal prefix.
func TestParseConfigResolvesEnvReferences(t *testing.T) {
	sa, err := os.ReadFile("testdata/service-account.json")
	if err != nil {
		t.Fatal(err)
	}
	env := maps.Clone(testEnv)
	env["GCP_SA"] = string(sa)
	const aws = `"provider":"bedrock","provider_conf":{"region":"us-east-1"}`
	tests := []struct {
		name, conf string
		check      func(*Config) bool
	}{
		{"whole header value", `{"provider":"openai","auth":{"header":{"Authorization":"$env://AUTH_HEADER"}}}`,
			func(c *Config) bool { return c.AuthHeaders[0][1] == "Bearer secret-token" }},
		{"upper-case prefix as APISIX documents it", `{"provider":"openai","auth":{"header":{"Authorization":"$ENV://AUTH_HEADER"}}}`,
			func(c *Config) bool { return c.AuthHeaders[0][1] == "Bearer secret-token" }},
		{"after a literal prefix", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer $env://OPENAI_API_KEY"}}}`,
			func(c *Config) bool { return c.AuthHeaders[0][1] == "Bearer sk-secret" }},
		{"query value", `{"provider":"gemini","auth":{"query":{"key":"$env://OPENAI_API_KEY"}}}`,
			func(c *Config) bool { return c.AuthQuery[0][1] == "sk-secret" }},
		{"aws members of one JSON variable", `{` + aws + `,"auth":{"aws":{"access_key_id":"$env://AWS_CREDS/id","secret_access_key":"$env://AWS_CREDS/key","session_token":"$env://OPENAI_API_KEY"}}}`,
			func(c *Config) bool {
				return *c.AWS == AWSAuth{AccessKeyID: "AKIDsecret", SecretAccessKey: "secret-key", SessionToken: "sk-secret"}
			}},
		{"gcp service account", `{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"us-central1"},"auth":{"gcp":{"service_account_json":"$env://GCP_SA"}}}`,
			func(c *Config) bool { return c.GCP.Account != nil && c.GCP.ServiceAccountJSON == string(sa) }},
		{"literal values stay literal", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer $ENVx"}}}`,
			func(c *Config) bool { return c.AuthHeaders[0][1] == "Bearer $ENVx" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.conf), getenvFrom(env))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("parsed %+v %+v %+v", c, c.AWS, c.GCP)
			}
		})
	}
}

// A reference that cannot be resolved fails the configuration: the error
// names the field and the variable, never a value.
func TestParseConfigRejectsUnresolvableReferences(t *testing.T) {
	const aws = `"provider":"bedrock","provider_conf":{"region":"us-east-1"}`
	tests := []struct {
		name, conf, want string
	}{
		{"unset variable", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer $env://MISSING_KEY"}}}`,
			"auth.header.Authorization refers to the environment variable MISSING_KEY, which is not set or empty"},
		{"unset variable in auth.query", `{"provider":"gemini","auth":{"query":{"key":"$env://MISSING_KEY"}}}`,
			"auth.query.key refers to the environment variable MISSING_KEY"},
		{"unset variable in auth.aws", `{` + aws + `,"auth":{"aws":{"access_key_id":"$env://OPENAI_API_KEY","secret_access_key":"$env://MISSING_KEY"}}}`,
			"auth.aws.secret_access_key refers to the environment variable MISSING_KEY"},
		{"unset variable in auth.gcp", `{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"us-central1"},"auth":{"gcp":{"service_account_json":"$env://MISSING_SA"}}}`,
			"auth.gcp.service_account_json refers to the environment variable MISSING_SA"},
		{"missing JSON member", `{` + aws + `,"auth":{"aws":{"access_key_id":"$env://AWS_CREDS/nope","secret_access_key":"s"}}}`,
			`auth.aws.access_key_id refers to $env://AWS_CREDS/nope, but AWS_CREDS does not hold a JSON object with a non-empty string member "nope"`},
		{"JSON member not a string", `{` + aws + `,"auth":{"aws":{"access_key_id":"$env://AWS_CREDS/n","secret_access_key":"s"}}}`,
			`does not hold a JSON object with a non-empty string member "n"`},
		{"JSON member of a plain value", `{"provider":"openai","auth":{"header":{"a":"$env://NOT_JSON/key"}}}`,
			`NOT_JSON does not hold a JSON object`},
		{"invalid name", `{"provider":"openai","auth":{"header":{"a":"$env://1BAD"}}}`,
			`auth.header.a refers to the environment variable "1BAD", which is not a valid name`},
		{"empty name", `{"provider":"openai","auth":{"header":{"a":"$env://"}}}`, `which is not a valid name`},
		{"resolved value with CR LF", `{"provider":"openai","auth":{"header":{"X-Key":"$env://WITH_CRLF"}}}`,
			`auth.header "X-Key" value contains a CR, LF or NUL character`},
		{"resolved aws key with CR LF", `{` + aws + `,"auth":{"aws":{"access_key_id":"$env://WITH_CRLF","secret_access_key":"s"}}}`,
			"auth.aws.access_key_id contains a CR, LF or NUL"},
		{"$secret:// in a header", `{"provider":"openai","auth":{"header":{"Authorization":"$secret://vault/1/openai/key"}}}`,
			"auth.header.Authorization is a $secret:// reference, which a proxy-wasm filter cannot resolve"},
		{"$secret:// after a prefix", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer $secret://vault/1/openai/key"}}}`,
			"refer to it as $env://NAME"},
		{"$secret:// in auth.gcp", `{"provider":"vertex-ai","provider_conf":{"project_id":"p","region":"us-central1"},"auth":{"gcp":{"service_account_json":"$secret://gcp/1/sa"}}}`,
			"auth.gcp.service_account_json is a $secret:// reference"},
		{"$secret:// in auth.aws", `{` + aws + `,"auth":{"aws":{"access_key_id":"a","secret_access_key":"$secret://aws/1/key"}}}`,
			"auth.aws.secret_access_key is a $secret:// reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.conf), getenvFrom(testEnv))
			if err == nil {
				t.Fatalf("accepted %s", tc.conf)
			}
			if !strings.HasPrefix(err.Error(), "ai-proxy: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			for _, v := range []string{"sk-secret", "secret-token", "AKIDsecret", "secret-key", "X-Injected", "vault/1", "aws/1", "gcp/1"} {
				if strings.Contains(err.Error(), v) {
					t.Fatalf("error %q shows a value", err)
				}
			}
		})
	}
	// Without an environment at all, a reference is as unset.
	if _, err := ParseConfig([]byte(`{"provider":"openai","auth":{"header":{"a":"$env://OPENAI_API_KEY"}}}`), nil); err == nil {
		t.Fatal("resolved a reference without an environment")
	}
}
