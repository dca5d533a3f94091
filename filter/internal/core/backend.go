package core

import (
	"net/url"
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/gcpauth"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/providers"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/sigv4"
)

// Backend is one upstream instance: the provider row, where its API is
// (endpoint and override), how requests prove who sends them (static
// headers and query, a SigV4 signer or a GCP token source), the options,
// llm_options and request_body overrides, and where each client protocol
// goes. It is built once, from the configuration, and no request changes
// it (the signer's day key is a cache, not a setting). ai-proxy has one;
// a multi-instance plugin picks one per attempt.
type Backend struct {
	cfg      *Config // the instance's provider, auth, options and overrides
	provider *providers.Provider
	conf     providers.Conf // provider_conf with the provider's defaults
	targets  *targets

	options       []option
	patches       [8][]option     // override.request_body by upstream protocol
	plans         [8]*editPlan    // by client protocol, as targets
	modelJSON     []byte          // options.model as a JSON string
	maxTokensJSON []byte          // llm_options.max_tokens
	headers       [][2]string     // auth.header, then the provider's own headers
	authNames     map[string]bool // headers the operator's auth sets
	signer        *sigv4.Signer   // auth.aws: keeps the derived key for the day
	token         *tokenSource    // auth.gcp with a service account
}

// tokenSource is where a GCP access token for the instance comes from.
type tokenSource struct {
	account                           *gcpauth.ServiceAccount
	key                               string // its cache key in the token store
	expireEarlySecs, maxTTL           int64
	tokenScheme, tokenHost, tokenPath string
}

// newBackend prepares the instance a validated configuration describes.
func newBackend(cfg *Config) *Backend {
	b := &Backend{cfg: cfg, provider: cfg.Provider, conf: cfg.providerConf(), targets: buildTargets(cfg), options: parseMembers(cfg.Options, "model")}
	if cfg.Model != "" {
		b.modelJSON = appendJSONString(nil, cfg.Model)
	}
	b.maxTokensJSON = strconv.AppendInt(nil, cfg.MaxTokens, 10)
	for p, patch := range cfg.RequestBody {
		if int(p) < len(b.patches) {
			b.patches[p] = parseMembers(patch, "")
		}
	}
	for p, t := range b.targets {
		if t != nil {
			b.plans[p] = newEditPlan(b, t)
		}
	}
	if a := cfg.AWS; a != nil {
		b.signer = &sigv4.Signer{Credentials: sigv4.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey, SessionToken: a.SessionToken},
			Region: cfg.Region, Service: cfg.Provider.SigningService()}
	}
	for _, set := range [...][][2]string{cfg.AuthHeaders, cfg.Provider.ExtraHeaders} {
		for _, kv := range set {
			b.headers = setPair(b.headers, kv[0], kv[1])
		}
	}
	b.authNames = map[string]bool{}
	for _, kv := range cfg.AuthHeaders {
		b.authNames[kv[0]] = true
	}
	if g := cfg.GCP; g != nil && g.Account != nil {
		ts := &tokenSource{account: g.Account, key: g.Account.CacheKey(gcpauth.Scope), expireEarlySecs: g.ExpireEarlySecs, maxTTL: g.MaxTTL}
		uri := g.Account.TokenURI
		if uri == "" {
			uri = gcpauth.DefaultTokenURI
		}
		if u, err := url.Parse(uri); err == nil {
			ts.tokenScheme, ts.tokenHost, ts.tokenPath = u.Scheme, u.Host, u.EscapedPath()
		}
		b.token = ts
	}
	return b
}

// needsToken reports whether requests carry a minted GCP token.
func (b *Backend) needsToken() bool { return b.token != nil }
