// Package gateway serves HTTP through the ai-proxy filter running in the
// e2e host harness, like a small Envoy: routes choose a plugin
// configuration, the filter rewrites the request, and the gateway forwards
// it where the filter pointed it (a dynamic forward proxy), streaming the
// response back through the filter chunk by chunk.
package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the gateway's YAML file.
type Config struct {
	Routes []Route `yaml:"routes"`
	// Clusters maps an authority ("host" or "host:port") or a callout
	// cluster name to where it really connects: a base URL such as
	// http://127.0.0.1:18001, or builtin:<provider> for an embedded mock.
	Clusters map[string]string `yaml:"clusters"`
	// Env sets variables of the filter's environment, like Envoy's
	// vm_config.environment_variables.key_values; they win over the
	// variables Options.Env passes from the gateway's own environment.
	// Values may use ${VAR:-default} like the rest of the file.
	Env map[string]string `yaml:"env"`
}

// Route is one route: an exact URI, or a prefix when it ends in /*.
type Route struct {
	ID      string                    `yaml:"id"`
	URI     string                    `yaml:"uri"`
	Methods []string                  `yaml:"methods"`
	Plugins map[string]map[string]any `yaml:"plugins"`

	plugin []byte // the ai-proxy JSON configuration
}

// PluginNames are the plugin keys a route may use.
var PluginNames = []string{"ai-proxy", "ai-proxy-multi"}

// rateLimiting is a plugin key a route may add to one of PluginNames; the
// filter is then given the plugins keyed by name, as APISIX lists them.
const rateLimiting = "ai-rate-limiting"

// LoadConfig reads path, expanding ${VAR} and ${VAR:-default} from the
// environment.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(raw)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// ParseConfig parses a YAML configuration.
func ParseConfig(raw []byte) (*Config, error) {
	raw = envRef.ReplaceAllFunc(raw, func(m []byte) []byte {
		g := envRef.FindSubmatch(m)
		if v, ok := os.LookupEnv(string(g[1])); ok && v != "" {
			return []byte(v)
		}
		return g[3]
	})
	var c Config
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if len(c.Routes) == 0 {
		return nil, fmt.Errorf("gateway config: no routes")
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.URI == "" || r.URI[0] != '/' {
			return nil, fmt.Errorf("gateway config: route %q: uri must start with /", r.ID)
		}
		for _, name := range PluginNames {
			if conf, ok := r.Plugins[name]; ok {
				var v any = conf
				if rl, ok := r.Plugins[rateLimiting]; ok {
					v = map[string]any{name: conf, rateLimiting: rl}
				}
				var err error
				if r.plugin, err = json.Marshal(v); err != nil {
					return nil, fmt.Errorf("gateway config: route %q: %v", r.ID, err)
				}
			}
		}
		if r.plugin == nil {
			return nil, fmt.Errorf("gateway config: route %q has no %s plugin", r.ID, strings.Join(PluginNames, " or "))
		}
	}
	return &c, nil
}

// envRefName finds the variables that $env:// references name (see
// docs/configuration.md); APISIX matches the prefix in any case.
var envRefName = regexp.MustCompile(`(?i)\$env://([A-Za-z_][A-Za-z0-9_]*)`)

// EnvNames returns the environment variables the routes' plugin
// configurations refer to with $env://, sorted, each once.
func (c *Config) EnvNames() []string {
	var names []string
	for _, r := range c.Routes {
		for _, m := range envRefName.FindAllSubmatch(r.plugin, -1) {
			if name := string(m[1]); !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// PluginConfig is the JSON the filter receives for the route.
func (r *Route) PluginConfig() []byte { return r.plugin }

func (r *Route) match(method, path string) bool {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if p, ok := strings.CutSuffix(r.URI, "/*"); ok {
		if path != p && !strings.HasPrefix(path, p+"/") {
			return false
		}
	} else if path != r.URI {
		return false
	}
	if len(r.Methods) == 0 {
		return true
	}
	for _, m := range r.Methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}
