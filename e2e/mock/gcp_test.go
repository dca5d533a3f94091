package mock

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// serviceAccount loads the fixture key pair.
func serviceAccount(t *testing.T) (*rsa.PrivateKey, *rsa.PublicKey) {
	t.Helper()
	sa, err := os.ReadFile(filepath.Join(fixtures, "gcp", "service-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(gjson.GetBytes(sa, "private_key").String()))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(filepath.Join(fixtures, "gcp", "service-account.public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(pubPEM)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey), pub.(*rsa.PublicKey)
}

func signJWT(t *testing.T, k *rsa.PrivateKey, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	in := enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(claims))
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + enc(sig)
}

func claims(iat int64, scope, aud string) string {
	return fmt.Sprintf(`{"iss":"sa@p.iam.gserviceaccount.com","scope":%q,"aud":%q,"exp":%d,"iat":%d}`, scope, aud, iat+3600, iat)
}

func tokenForm(assertion string) string {
	return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}.Encode()
}

func TestGCPTokenExchange(t *testing.T) {
	priv, pub := serviceAccount(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fixtureForm, err := os.ReadFile(filepath.Join(fixtures, "gcp", "token-request.form.txt"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	const scope, aud = "https://www.googleapis.com/auth/cloud-platform", "https://oauth2.googleapis.com/token"
	tests := []struct {
		name, form string
		status     int
		errCode    string
		errDesc    string
	}{
		{"fresh assertion", tokenForm(signJWT(t, priv, claims(now-10, scope, aud))), 200, "", ""},
		{"fixture assertion is too old", strings.TrimSpace(string(fixtureForm)), 400, "invalid_grant", "reasonable timeframe"},
		{"other key", tokenForm(signJWT(t, other, claims(now, scope, aud))), 400, "invalid_grant", "Invalid JWT Signature."},
		{"lifetime over an hour", tokenForm(signJWT(t, priv, strings.Replace(claims(now, scope, aud), fmt.Sprint(now+3600), fmt.Sprint(now+7200), 1))), 400, "invalid_grant", "60 minutes"},
		{"no scope", tokenForm(signJWT(t, priv, claims(now, "", aud))), 400, "invalid_scope", "scope"},
		{"garbage", tokenForm("not.a.jwt"), 400, "invalid_grant", "Invalid JWT Signature."},
		{"wrong grant", "grant_type=client_credentials&assertion=x", 400, "unsupported_grant_type", "client_credentials"},
		{"no assertion", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", 400, "invalid_request", "assertion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewGCP(WithJWTKey(pub), WithTokenTTL(120))
			defer s.Close()
			resp, body := post(t, s.URL+"/token", tc.form, "Content-Type", "application/x-www-form-urlencoded")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			r := gjson.ParseBytes(body)
			if tc.status == 200 {
				if r.Get("access_token").String() != "ya29.mock-1" || r.Get("expires_in").Int() != 120 || r.Get("token_type").String() != "Bearer" || s.TokenCount() != 1 {
					t.Errorf("got %s, TokenCount %d", body, s.TokenCount())
				}
				return
			}
			if r.Get("error").String() != tc.errCode || !strings.Contains(r.Get("error_description").String(), tc.errDesc) || s.TokenCount() != 0 {
				t.Errorf("got %s, want %s / %q, TokenCount %d", body, tc.errCode, tc.errDesc, s.TokenCount())
			}
		})
	}
}

const predictPath = "/v1/projects/p/locations/us-central1/publishers/google/models/text-embedding-005:predict"

func TestGCPVertexNeedsIssuedToken(t *testing.T) {
	s := NewGCP()
	defer s.Close()
	const req = `{"instances":[{"content":"hi"}]}`
	if resp, body := post(t, s.URL+predictPath, req); resp.StatusCode != 401 || gjson.GetBytes(body, "error.status").String() != "UNAUTHENTICATED" {
		t.Errorf("no token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := post(t, s.URL+predictPath, req, "Authorization", "Bearer ya29.mock-1"); resp.StatusCode != 401 {
		t.Errorf("token never issued: %d", resp.StatusCode)
	}
	for i := 1; i <= 2; i++ {
		_, body := post(t, s.URL+"/token", tokenForm("x.y.z"), "Content-Type", "application/x-www-form-urlencoded")
		tok := gjson.GetBytes(body, "access_token").String()
		if want := fmt.Sprintf("ya29.mock-%d", i); tok != want {
			t.Fatalf("token %q, want %q", tok, want)
		}
		if resp, body := post(t, s.URL+predictPath, req, "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
			t.Errorf("issued token rejected: %d %s", resp.StatusCode, body)
		}
	}
	if s.TokenCount() != 2 {
		t.Errorf("TokenCount() = %d", s.TokenCount())
	}
}

func TestGCPExpiredToken(t *testing.T) {
	s := NewGCP(WithTokenTTL(0))
	defer s.Close()
	_, body := post(t, s.URL+"/token", tokenForm("x.y.z"))
	if gjson.GetBytes(body, "expires_in").Int() != 0 {
		t.Fatalf("expires_in: %s", body)
	}
	if resp, _ := post(t, s.URL+predictPath, `{"instances":[{"content":"hi"}]}`, "Authorization", "Bearer ya29.mock-1"); resp.StatusCode != 401 {
		t.Errorf("expired token accepted: %d", resp.StatusCode)
	}
}

func TestGCPPredict(t *testing.T) {
	s := NewGCP(WithAPIKey("express"))
	defer s.Close()
	resp, body := post(t, s.URL+predictPath+"?key=express", `{"instances":[{"content":"How do I reset my password?","task_type":"RETRIEVAL_QUERY"},{"content":"Password reset"}],"parameters":{"outputDimensionality":4}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	preds := gjson.GetBytes(body, "predictions").Array()
	texts := []string{"How do I reset my password?", "Password reset"}
	if len(preds) != 2 {
		t.Fatalf("predictions: %s", body)
	}
	for i, p := range preds {
		var got []float32
		for _, v := range p.Get("embeddings.values").Array() {
			got = append(got, float32(v.Float()))
		}
		if want := Embedding(texts[i], 4); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("values %d = %v, want %v", i, got, want)
		}
		if n := p.Get("embeddings.statistics.token_count").Int(); n != int64(len(strings.Fields(texts[i]))) || p.Get("embeddings.statistics.truncated").Bool() {
			t.Errorf("statistics %d: %s", i, p.Get("embeddings.statistics").Raw)
		}
	}
	if n := gjson.GetBytes(body, "metadata.billableCharacterCount").Int(); n != 41 {
		t.Errorf("billableCharacterCount = %d", n)
	}

	for _, bad := range []string{`{"instances":[]}`, `{"instances":[{"title":"x"}]}`, `{`} {
		if resp, body := post(t, s.URL+predictPath, bad, "x-goog-api-key", "express"); resp.StatusCode != 400 || gjson.GetBytes(body, "error.status").String() != "INVALID_ARGUMENT" {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
	if resp, _ := post(t, s.URL+predictPath+"?key=other", `{"instances":[{"content":"x"}]}`); resp.StatusCode != 401 {
		t.Errorf("wrong express key: %d", resp.StatusCode)
	}
}

func TestGCPOpenAICompatChat(t *testing.T) {
	s := NewGCP()
	defer s.Close()
	_, tok := post(t, s.URL+"/token", tokenForm("x.y.z"))
	raw, err := os.ReadFile(filepath.Join(fixtures, "gcp", "vertex-openai-chat-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	fx := gjson.ParseBytes(raw)
	for _, key := range []string{"_request.url_regional", "_request.url_global"} {
		u, _ := url.Parse(fx.Get(key).String())
		resp, body := post(t, s.URL+u.Path, fx.Get("body").Raw, "Authorization", "Bearer "+gjson.GetBytes(tok, "access_token").String())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", u.Path, resp.StatusCode, body)
		}
		if r := gjson.ParseBytes(body); r.Get("model").String() != "google/gemini-2.5-flash" || r.Get("choices.0.message.content").String() != "You said: Hello!" {
			t.Errorf("%s: %s", u.Path, body)
		}
	}
	resp, body := post(t, s.URL+"/v1/projects/p/locations/l/endpoints/openapi/chat/completions", `{"model":"m"}`)
	if resp.StatusCode != 401 || gjson.GetBytes(body, "error.code").Int() != 401 {
		t.Errorf("no token: %d %s", resp.StatusCode, body)
	}
}
