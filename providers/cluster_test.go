package providers

import (
	"net/url"
	"testing"
)

func TestClusterName(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"https://api.openai.com/v1/chat/completions", "api.openai.com:443"},
		{"http://api.openai.com/v1", "api.openai.com:80"},
		{"https://example.com:8443/v1", "example.com:8443"},
		{"http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://127.0.0.1", "127.0.0.1:80"},
		{"http://example.com:/v1", "example.com:80"},
		{"http://[::1]:8080", "[::1]:8080"},
		{"http://[::1]", "[::1]:80"},
		{"https://[2001:db8::1]/v1", "[2001:db8::1]:443"},
		{"https://[2001:db8::1]:9443/v1", "[2001:db8::1]:9443"},
		{"https://[fe80::1%25eth0]/v1", "[fe80::1%eth0]:443"},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if got := ClusterName(u.Scheme, u.Host); got != tc.want {
			t.Errorf("ClusterName(%q, %q) = %q, want %q", u.Scheme, u.Host, got, tc.want)
		}
	}
}
