// Package providers is the registry of LLM providers the gateway can reach.
//
// Each provider is one row of data: where it lives, how it authenticates,
// which wire protocol each client endpoint is sent as, and what it calls the
// max-tokens field. Code elsewhere asks the registry; it never tests a
// provider's name.
package providers

import (
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

// Auth is how a provider proves the caller's identity.
type Auth uint8

const (
	// AuthStatic: the operator's auth.header / auth.query are sent as is.
	AuthStatic Auth = iota
	// AuthSigV4: requests are signed with AWS Signature Version 4 (auth.aws).
	AuthSigV4
	// AuthGCP: an OAuth2 access token minted from a service account (auth.gcp).
	AuthGCP
)

// Endpoint is what one client endpoint becomes at this provider.
type Endpoint struct {
	Upstream  convert.Protocol // protocol spoken to the provider
	Path      string           // default path; "" = needs override.endpoint or a builder
	MaxTokens string           // field that caps output tokens ("" = not supported)
	// PathFor, when set, builds the path from provider_conf (Vertex AI
	// chat: project and location); it replaces Path.
	PathFor func(c Conf) string
	// ModelPath, when set, builds the path of each request from its model
	// (Bedrock, Vertex AI :predict): the request line depends on the body.
	// The model is one path segment, percent-encoded.
	ModelPath func(c Conf, model string, stream bool) string
}

// Conf is provider_conf: what locates the provider's API for one account.
// Region is already defaulted (Provider.Conf).
type Conf struct {
	ProjectID, Region string
}

// Provider describes one provider.
type Provider struct {
	Name   string
	Scheme string
	// Host is the default authority. It may contain {region}; "" means the
	// provider has no default and needs override.endpoint.
	Host string
	Auth Auth
	// Endpoints maps the client's protocol to what is sent upstream. A client
	// protocol missing here is converted to Endpoints[convert.OpenAIChat] when
	// a translator exists, else rejected.
	Endpoints map[convert.Protocol]Endpoint
	// ExtraHeaders are sent with every request (e.g. anthropic-version).
	ExtraHeaders [][2]string
	// NeedsEndpoint: override.endpoint is mandatory.
	NeedsEndpoint bool
	// RegionalHost, when set, builds the default authority from the
	// region instead of Host (Vertex AI: the global location has no
	// regional prefix).
	RegionalHost func(region string) string
	// DefaultRegion stands for an empty provider_conf.region.
	DefaultRegion string
	// SigV4Service is the service name auth.aws signs for.
	SigV4Service string
}

func chat(path, maxTokens string) Endpoint {
	return Endpoint{Upstream: convert.OpenAIChat, Path: path, MaxTokens: maxTokens}
}

var registry = []*Provider{
	{
		Name: "openai", Scheme: "https", Host: "api.openai.com",
		Endpoints: map[convert.Protocol]Endpoint{
			convert.OpenAIChat:       chat("/v1/chat/completions", "max_completion_tokens"),
			convert.OpenAIResponses:  {Upstream: convert.OpenAIResponses, Path: "/v1/responses", MaxTokens: "max_output_tokens"},
			convert.OpenAIEmbeddings: {Upstream: convert.OpenAIEmbeddings, Path: "/v1/embeddings"},
		},
	},
	{
		Name: "deepseek", Scheme: "https", Host: "api.deepseek.com",
		Endpoints: map[convert.Protocol]Endpoint{convert.OpenAIChat: chat("/chat/completions", "max_tokens")},
	},
	{
		Name: "azure-openai", Scheme: "https", NeedsEndpoint: true,
		Endpoints: map[convert.Protocol]Endpoint{
			convert.OpenAIChat:       chat("", "max_tokens"),
			convert.OpenAIEmbeddings: {Upstream: convert.OpenAIEmbeddings},
		},
	},
	{
		Name: "aimlapi", Scheme: "https", Host: "api.aimlapi.com",
		Endpoints: map[convert.Protocol]Endpoint{
			convert.OpenAIChat:       chat("/v1/chat/completions", "max_tokens"),
			convert.OpenAIEmbeddings: {Upstream: convert.OpenAIEmbeddings, Path: "/v1/embeddings"},
		},
	},
	{
		Name: "anthropic", Scheme: "https", Host: "api.anthropic.com",
		ExtraHeaders: [][2]string{{"anthropic-version", "2023-06-01"}},
		Endpoints: map[convert.Protocol]Endpoint{
			convert.OpenAIChat:        chat("/v1/chat/completions", "max_tokens"),
			convert.AnthropicMessages: {Upstream: convert.AnthropicMessages, Path: "/v1/messages", MaxTokens: "max_tokens"},
		},
	},
	{
		Name: "openrouter", Scheme: "https", Host: "openrouter.ai",
		Endpoints: map[convert.Protocol]Endpoint{
			convert.OpenAIChat:       chat("/api/v1/chat/completions", "max_tokens"),
			convert.OpenAIEmbeddings: {Upstream: convert.OpenAIEmbeddings, Path: "/api/v1/embeddings"},
		},
	},
	{
		Name: "gemini", Scheme: "https", Host: "generativelanguage.googleapis.com",
		Endpoints: map[convert.Protocol]Endpoint{
			convert.OpenAIChat:       chat("/v1beta/openai/chat/completions", "max_completion_tokens"),
			convert.OpenAIEmbeddings: {Upstream: convert.OpenAIEmbeddings, Path: "/v1beta/openai/embeddings"},
		},
	},
	{
		// Paths depend on provider_conf (project, region) and, for
		// embeddings, on the model: see VertexChatPath and VertexPredictPath.
		Name: "vertex-ai", Scheme: "https", Host: "aiplatform.googleapis.com", Auth: AuthGCP,
		RegionalHost: VertexHost, DefaultRegion: "global",
		Endpoints: map[convert.Protocol]Endpoint{
			convert.OpenAIChat: {Upstream: convert.OpenAIChat, MaxTokens: "max_completion_tokens",
				PathFor: func(c Conf) string { return VertexChatPath(c.ProjectID, c.Region) }},
			convert.OpenAIEmbeddings: {Upstream: convert.VertexPredict,
				ModelPath: func(c Conf, model string, _ bool) string { return VertexPredictPath(c.ProjectID, c.Region, model) }},
		},
	},
	{
		Name: "bedrock", Scheme: "https", Host: "bedrock-runtime.{region}.amazonaws.com", Auth: AuthSigV4, SigV4Service: "bedrock",
		Endpoints: map[convert.Protocol]Endpoint{
			convert.BedrockConverse: {Upstream: convert.BedrockConverse, MaxTokens: "inferenceConfig.maxTokens", ModelPath: bedrockPath},
			convert.OpenAIChat:      {Upstream: convert.BedrockConverse, MaxTokens: "inferenceConfig.maxTokens", ModelPath: bedrockPath},
		},
	},
	{
		Name: "openai-compatible", Scheme: "https", NeedsEndpoint: true,
		Endpoints: map[convert.Protocol]Endpoint{
			convert.OpenAIChat:       chat("", "max_tokens"),
			convert.OpenAIResponses:  {Upstream: convert.OpenAIResponses, MaxTokens: "max_output_tokens"},
			convert.OpenAIEmbeddings: {Upstream: convert.OpenAIEmbeddings},
		},
	},
}

// Lookup returns the provider with the given APISIX name.
func Lookup(name string) (*Provider, bool) {
	for _, p := range registry {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// Names lists every provider, in the order of the APISIX documentation.
func Names() []string {
	names := make([]string, len(registry))
	for i, p := range registry {
		names[i] = p.Name
	}
	return names
}

// Endpoint returns what a client speaking proto gets at this provider. A
// client protocol the provider does not serve natively is carried over the
// provider's OpenAI chat endpoint (a translator converts it); ok is false
// when there is nothing to send it to.
func (p *Provider) Endpoint(client convert.Protocol) (Endpoint, bool) {
	if e, ok := p.Endpoints[client]; ok {
		return e, true
	}
	if client == convert.AnthropicMessages {
		e, ok := p.Endpoints[convert.OpenAIChat]
		return e, ok
	}
	return Endpoint{}, false
}

func bedrockPath(_ Conf, model string, stream bool) string { return BedrockModelPath(model, stream) }

// Conf completes provider_conf with the provider's defaults.
func (p *Provider) Conf(projectID, region string) Conf {
	if region == "" {
		region = p.DefaultRegion
	}
	return Conf{ProjectID: projectID, Region: region}
}

// HostFor returns the default authority for the region (Conf.Region).
func (p *Provider) HostFor(region string) string {
	if p.RegionalHost != nil {
		return p.RegionalHost(region)
	}
	return strings.Replace(p.Host, "{region}", region, 1)
}

// RegionInHost reports whether provider_conf.region becomes part of the
// provider's host name, so it must be a valid host label.
func (p *Provider) RegionInHost() bool {
	return p.RegionalHost != nil || strings.Contains(p.Host, "{region}")
}

// PathOf returns the default path of an endpoint, "" when it is built per
// request (ModelPath) or the provider has none (override.endpoint).
func (p *Provider) PathOf(e Endpoint, c Conf) string {
	if e.PathFor != nil {
		return e.PathFor(c)
	}
	return e.Path
}

// SigningService is the SigV4 service that auth.aws signs for. A provider
// without one (an OpenAI-compatible endpoint of Bedrock's, say) signs for
// Bedrock, the one AWS service the gateway speaks to.
func (p *Provider) SigningService() string {
	if p.SigV4Service != "" {
		return p.SigV4Service
	}
	return "bedrock"
}
