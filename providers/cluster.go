package providers

import "strings"

// ClusterName returns the name of the cluster that serves authority, the
// host[:port] of an http or https URL: the authority itself when it has a
// port, else the authority with the scheme's default port (80 for http,
// 443 otherwise). APISIX dials this name; Envoy needs a cluster of this
// name. An IPv6 literal keeps its brackets ("[::1]" → "[::1]:443"): its
// colons are not a port separator.
func ClusterName(scheme, authority string) string {
	host := authority
	if i := strings.LastIndexByte(authority, ':'); i > strings.LastIndexByte(authority, ']') {
		if i < len(authority)-1 {
			return authority
		}
		host = authority[:i] // "host:" has an empty port: use the default
	}
	if scheme == "http" {
		return host + ":80"
	}
	return host + ":443"
}
