package examples

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// credentialPatterns look like real credentials. The examples name their
// keys with $env:// (see docs/configuration.md), so none may match.
var credentialPatterns = []struct {
	what string
	re   *regexp.Regexp
}{
	{"an OpenAI-style key", regexp.MustCompile(`sk-[A-Za-z0-9_-]{20,}`)}, // sk-proj-… keys hold - and _
	{"an Anthropic key", regexp.MustCompile(`sk-ant-[A-Za-z0-9_-]{8,}`)},
	{"an AWS access key id", regexp.MustCompile(`AKIA[0-9A-Z]{16}`)},
	{"a Google API key", regexp.MustCompile(`AIza[0-9A-Za-z_-]{35}`)},
	{"a PEM private key", regexp.MustCompile(`-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----`)},
	{"a bearer token", regexp.MustCompile(`Bearer [A-Za-z0-9._~+/=-]{20,}`)},
}

// leakedCredentials lists what in text looks like a real credential.
func leakedCredentials(text string) []string {
	var found []string
	for _, p := range credentialPatterns {
		if p.re.MatchString(text) {
			found = append(found, p.what)
		}
	}
	return found
}

// No file under examples/ carries something that looks like a real key.
func TestExamplesCarryNoCredentials(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if found := leakedCredentials(string(raw)); len(found) > 0 {
			t.Errorf("%s holds %s: refer to it with $env://NAME instead", path, strings.Join(found, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The patterns find the credentials they describe and leave the
// placeholders and references of the examples alone. The samples are built
// at run time so that this file does not match itself.
func TestCredentialPatterns(t *testing.T) {
	key := func(prefix string, n int) string { return prefix + strings.Repeat("Ab1", n)[:n] }
	for _, leak := range []string{
		key("sk-proj-", 0) + key("", 40), key("sk-", 48), key("sk-ant-api03-", 90),
		key("AKIA", 0) + "IOSFODNN7EXAMPLE", key("AIza", 35),
		"-----BEGIN " + "PRIVATE KEY-----", "-----BEGIN RSA " + "PRIVATE KEY-----",
		`"Authorization": "Bearer ` + key("", 40) + `"`,
	} {
		if len(leakedCredentials(leak)) == 0 {
			t.Errorf("%q is not recognised as a credential", leak)
		}
	}
	for _, fine := range []string{
		`"Authorization": "Bearer $env://OPENAI_API_KEY"`, "Bearer sk-REPLACE-ME", "$env://AWS/secret_access_key",
		"mock-key", "Bearer operator-key",
	} {
		if found := leakedCredentials(fine); len(found) > 0 {
			t.Errorf("%q is taken for %v", fine, found)
		}
	}
}
