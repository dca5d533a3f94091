package gcpauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testdata holds a throw-away service-account key (not a real credential),
// its public key, an assertion minted with golang.org/x/oauth2/jws for a
// fixed iat, and token endpoint answers (copied from the project fixtures).
const fixtures = "testdata/"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureAccount(t testing.TB) *ServiceAccount {
	t.Helper()
	sa, err := ParseServiceAccount(readFixture(t, "service-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func fixturePublicKey(t testing.TB) *rsa.PublicKey {
	t.Helper()
	block, _ := pem.Decode(readFixture(t, "service-account.public.pem"))
	if block == nil {
		t.Fatal("public key fixture is not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PublicKey)
}

// verifyJWT checks the RS256 signature of jwt with pub and returns its
// decoded header and claims.
func verifyJWT(t testing.TB, jwt string, pub *rsa.PublicKey) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d parts, want 3", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature is not unpadded base64url: %v", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	decode := func(s string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWT part is not unpadded base64url: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}

func TestParseServiceAccountFixture(t *testing.T) {
	sa := fixtureAccount(t)
	want := ServiceAccount{
		ClientEmail:  "ai-gateway-test@test-project-123456.iam.gserviceaccount.com",
		PrivateKeyID: "5e10c5b5a608a5e354cc52e77008f5a5831cd843",
		TokenURI:     "https://oauth2.googleapis.com/token",
		ProjectID:    "test-project-123456",
	}
	got := ServiceAccount{ClientEmail: sa.ClientEmail, PrivateKeyID: sa.PrivateKeyID, TokenURI: sa.TokenURI, ProjectID: sa.ProjectID}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if !sa.key.PublicKey.Equal(fixturePublicKey(t)) {
		t.Error("parsed private key does not match service-account.public.pem")
	}
}

// TestAssertionFixture mints the assertion of jwt-bearer-assertion.json: it
// must be byte-identical (RS256 is deterministic) and verify with the public
// key, with every claim as specified.
func TestAssertionFixture(t *testing.T) {
	var fx struct {
		Iat          int64  `json:"iat"`
		HeaderJSON   string `json:"header_json"`
		ClaimsJSON   string `json:"claims_json"`
		SigningInput string `json:"signing_input"`
		Assertion    string `json:"assertion"`
		TokenRequest struct {
			Body string `json:"body"`
		} `json:"token_request"`
	}
	if err := json.Unmarshal(readFixture(t, "jwt-bearer-assertion.json"), &fx); err != nil {
		t.Fatal(err)
	}
	sa := fixtureAccount(t)
	got, err := sa.Assertion(time.Unix(fx.Iat, 0), Scope)
	if err != nil {
		t.Fatal(err)
	}
	if got != fx.Assertion {
		t.Errorf("assertion\n got %s\nwant %s", got, fx.Assertion)
	}
	if !strings.HasPrefix(got, fx.SigningInput+".") {
		t.Errorf("signing input differs from the fixture's")
	}

	header, claims := verifyJWT(t, got, fixturePublicKey(t))
	wantHeader := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "5e10c5b5a608a5e354cc52e77008f5a5831cd843"}
	if !reflect.DeepEqual(header, wantHeader) {
		t.Errorf("header %v, want %v", header, wantHeader)
	}
	wantClaims := map[string]any{
		"iss":   "ai-gateway-test@test-project-123456.iam.gserviceaccount.com",
		"scope": "https://www.googleapis.com/auth/cloud-platform",
		"aud":   "https://oauth2.googleapis.com/token",
		"iat":   float64(fx.Iat),
		"exp":   float64(fx.Iat + 3600),
	}
	if !reflect.DeepEqual(claims, wantClaims) {
		t.Errorf("claims %v, want %v", claims, wantClaims)
	}

	body := TokenRequestBody(got)
	if string(body) != fx.TokenRequest.Body {
		t.Errorf("token request body\n got %s\nwant %s", body, fx.TokenRequest.Body)
	}
	if form := strings.TrimRight(string(readFixture(t, "token-request.form.txt")), "\r\n"); string(body) != form {
		t.Errorf("token request body differs from token-request.form.txt")
	}
}

// newKeyFile returns a service-account key file for a fresh RSA key, encoded
// as PKCS#8 or PKCS#1, and the key.
func newKeyFile(t testing.TB, pkcs1 bool, fields map[string]string) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if !pkcs1 {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	m := map[string]string{"type": "service_account", "private_key": string(pem.EncodeToMemory(block))}
	for k, v := range fields {
		m[k] = v
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data, key
}

func TestAssertionFreshKey(t *testing.T) {
	for _, c := range []struct {
		name       string
		pkcs1      bool
		fields     map[string]string
		wantHeader map[string]any
		wantAud    string
	}{
		{
			name:       "PKCS#8 with kid and token_uri",
			fields:     map[string]string{"client_email": "sa@p.iam.gserviceaccount.com", "private_key_id": "kid-1", "token_uri": "https://oauth2.example.test/token"},
			wantHeader: map[string]any{"alg": "RS256", "typ": "JWT", "kid": "kid-1"},
			wantAud:    "https://oauth2.example.test/token",
		},
		{
			name:       "PKCS#1 without kid or token_uri",
			pkcs1:      true,
			fields:     map[string]string{"client_email": "sa@p.iam.gserviceaccount.com"},
			wantHeader: map[string]any{"alg": "RS256", "typ": "JWT"},
			wantAud:    DefaultTokenURI,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, key := newKeyFile(t, c.pkcs1, c.fields)
			sa, err := ParseServiceAccount(data)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			const scope = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email"
			jwt, err := sa.Assertion(now, scope)
			if err != nil {
				t.Fatal(err)
			}
			header, claims := verifyJWT(t, jwt, &key.PublicKey)
			if !reflect.DeepEqual(header, c.wantHeader) {
				t.Errorf("header %v, want %v", header, c.wantHeader)
			}
			wantClaims := map[string]any{
				"iss": "sa@p.iam.gserviceaccount.com", "scope": scope, "aud": c.wantAud,
				"iat": float64(now.Unix()), "exp": float64(now.Unix() + 3600),
			}
			if !reflect.DeepEqual(claims, wantClaims) {
				t.Errorf("claims %v, want %v", claims, wantClaims)
			}
			// The fixture's public key must not verify it.
			parts := strings.Split(jwt, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			if rsa.VerifyPKCS1v15(fixturePublicKey(t), crypto.SHA256, digest[:], sig) == nil {
				t.Error("assertion verifies with an unrelated key")
			}
		})
	}
}

func TestParseServiceAccountErrors(t *testing.T) {
	good := readFixture(t, "service-account.json")
	var fields map[string]any
	if err := json.Unmarshal(good, &fields); err != nil {
		t.Fatal(err)
	}
	privateKey := fields["private_key"].(string)
	with := func(k string, v any) []byte {
		m := make(map[string]any, len(fields))
		for k, v := range fields {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed PKCS#1 key whose private exponent does not match.
	bad, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	bad.D.Add(bad.D, big.NewInt(2))
	badPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(bad)}))
	// The base64 body of the key, which no error may echo.
	keyBody := strings.Split(privateKey, "\n")[1]

	for _, c := range []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"not JSON", []byte(`{"type":"service_account",`), "not valid JSON"},
		{"JSON array", []byte(`[1]`), "not a JSON object"},
		{"wrong field type", with("client_email", 42), `"client_email"`},
		{"user credentials", with("type", "authorized_user"), `"authorized_user"`},
		{"no client_email", with("client_email", nil), `"client_email"`},
		{"no private_key", with("private_key", nil), `"private_key"`},
		{"private key not PEM", with("private_key", keyBody), "not a PEM block"},
		{"PEM of garbage", with("private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "not a PKCS#8 or PKCS#1"},
		{"inconsistent RSA key", with("private_key", badPEM), "not a consistent RSA key"},
		{"EC key", with("private_key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))), "not an RSA key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sa, err := ParseServiceAccount(c.data)
			if err == nil {
				t.Fatalf("no error; got %+v", sa)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not contain %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), keyBody[:20]) {
				t.Errorf("error %q echoes key material", err)
			}
		})
	}

	// A key whose newlines were escaped twice ("\\n") is still accepted.
	sa, err := ParseServiceAccount(with("private_key", strings.ReplaceAll(privateKey, "\n", `\n`)))
	if err != nil {
		t.Fatalf("double-escaped key: %v", err)
	}
	if !sa.key.PublicKey.Equal(fixturePublicKey(t)) {
		t.Error("double-escaped key parsed to a different key")
	}
}

func TestParseTokenResponse(t *testing.T) {
	for _, c := range []struct {
		name       string
		status     int
		body       string
		wantToken  string
		wantExpiry int64
		wantErr    []string // substrings of the error; nil = success
	}{
		{"fixture", 200, string(readFixture(t, "token-response.json")), "ya29.c.c0ASRK0GZ_TEST_ONLY_not_a_real_token_4bGrQ8Xl2wA7mCk", 3599, nil},
		{"docs example", 200, string(readFixture(t, "token-response-docs-example.json")), "1/8xbJqaOZXSUZbK1ucxVP-9fd1WdvqNVfMNmm5ZT6-w8", 3600, nil},
		{"expires_in as string", 200, `{"access_token":"t","expires_in":"120"}`, "t", 120, nil},
		{"invalid grant", 400, string(readFixture(t, "token-error-invalid-grant.json")), "", 0, []string{"400", "invalid_grant: Invalid JWT Signature."}},
		{"error without description", 401, `{"error":"unauthorized_client"}`, "", 0, []string{"401", "unauthorized_client"}},
		{"Google API error object", 403, `{"error":{"code":403,"message":"Permission denied.","status":"PERMISSION_DENIED"}}`, "", 0, []string{"403", "PERMISSION_DENIED: Permission denied."}},
		{"error in a 200", 200, `{"error":"invalid_scope","error_description":"Bad scope"}`, "", 0, []string{"invalid_scope: Bad scope"}},
		{"HTML error page", 502, "<html><body>Bad Gateway</body></html>", "", 0, []string{"502", "not JSON", "Bad Gateway"}},
		{"200 not JSON", 200, "ok", "", 0, []string{"200", "not a token response"}},
		{"no access_token", 200, `{"expires_in":3599}`, "", 0, []string{"without an access_token"}},
		{"no expires_in", 200, `{"access_token":"t"}`, "", 0, []string{"expires_in"}},
		{"zero expires_in", 200, `{"access_token":"t","expires_in":0}`, "", 0, []string{"expires_in"}},
		{"token with a line break", 200, `{"access_token":"t\r\nx: y","expires_in":60}`, "", 0, []string{"not allowed in a header"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, exp, err := ParseTokenResponse(c.status, []byte(c.body))
			if c.wantErr == nil {
				if err != nil || tok != c.wantToken || exp != c.wantExpiry {
					t.Fatalf("got (%q, %d, %v), want (%q, %d, nil)", tok, exp, err, c.wantToken, c.wantExpiry)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; got (%q, %d)", tok, exp)
			}
			if tok != "" || exp != 0 {
				t.Errorf("error with results (%q, %d)", tok, exp)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCacheTTL(t *testing.T) {
	for _, c := range []struct{ expiresIn, early, maxTTL, want int64 }{
		{3599, 60, 0, 3539},
		{3599, 0, 0, 3599},
		{3599, 60, 600, 600},
		{3599, 60, 5000, 3539},
		{30, 60, 0, 0},
		{60, 60, 0, 0},
		{30, 60, 10, 0},
	} {
		if got := CacheTTL(c.expiresIn, c.early, c.maxTTL); got != c.want {
			t.Errorf("CacheTTL(%d, %d, %d) = %d, want %d", c.expiresIn, c.early, c.maxTTL, got, c.want)
		}
	}
}

// TestTokenEndpoint runs the whole flow against a mock token endpoint that
// checks the request as Google would: form body, grant type, RS256
// signature with the account's public key, claims.
func TestTokenEndpoint(t *testing.T) {
	pub := fixturePublicKey(t)
	fixtureResponse := readFixture(t, "token-response.json")
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		fail := func(desc string) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": desc})
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			fail("want a POST of a form")
			return
		}
		raw, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(raw))
		if err != nil || form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			fail("bad grant_type")
			return
		}
		parts := strings.Split(form.Get("assertion"), ".")
		if len(parts) != 3 {
			fail("assertion is not a JWT")
			return
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			fail("Invalid JWT Signature.")
			return
		}
		var claims struct {
			Iss, Scope, Aud string
			Iat, Exp        int64
		}
		cj, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if json.Unmarshal(cj, &claims) != nil || claims.Aud != "https://oauth2.googleapis.com/token" ||
			claims.Iss == "" || claims.Scope != Scope || claims.Exp-claims.Iat != 3600 {
			fail("Invalid JWT claims.")
			return
		}
		w.Write(fixtureResponse)
	}))
	defer srv.Close()

	exchange := func(assertion string) (string, int64, error) {
		resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(string(TokenRequestBody(assertion))))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return ParseTokenResponse(resp.StatusCode, body)
	}

	sa := fixtureAccount(t)
	now := time.Unix(1735732800, 0)
	var store MemStore
	key := sa.CacheKey(Scope)

	// Cold cache: this worker fetches, the token endpoint accepts.
	if tok, st := Lookup(&store, key, now); st != Fetch || tok != "" {
		t.Fatalf("cold Lookup = (%q, %v), want Fetch", tok, st)
	}
	assertion, err := sa.Assertion(now, Scope)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := exchange(assertion)
	if err != nil {
		t.Fatal(err)
	}
	Complete(&store, key, tok, CacheTTL(exp, 60, 0), now)
	if got, st := Lookup(&store, key, now.Add(3538*time.Second)); st != Fresh || got != tok {
		t.Fatalf("Lookup after Complete = (%q, %v), want (%q, Fresh)", got, st, tok)
	}
	if _, st := Lookup(&store, key, now.Add(3539*time.Second)); st != Fetch {
		t.Fatalf("Lookup after the TTL = %v, want Fetch", st)
	}

	// A key the endpoint does not know: the error names the OAuth error.
	data, _ := newKeyFile(t, false, map[string]string{"client_email": "other@p.iam.gserviceaccount.com"})
	other, err := ParseServiceAccount(data)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := other.Assertion(now, Scope)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := exchange(bad); err == nil || !strings.Contains(err.Error(), "invalid_grant: Invalid JWT Signature.") {
		t.Fatalf("exchange with a foreign key: err = %v, want invalid_grant", err)
	}
	if calls != 2 {
		t.Fatalf("token endpoint called %d times, want 2", calls)
	}
}

func BenchmarkAssertion(b *testing.B) {
	sa := fixtureAccount(b)
	now := time.Unix(1735732800, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sa.Assertion(now, Scope); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParse feeds arbitrary bytes to the parsers: errors are fine, panics
// are not, and a token is only returned for a 2xx answer.
func FuzzParse(f *testing.F) {
	f.Add(200, []byte(`{"access_token":"t","expires_in":1}`))
	f.Add(400, []byte(`{"error":{"status":1}}`))
	f.Add(0, []byte(`{"type":"service_account","client_email":"a","private_key":"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		tok, exp, err := ParseTokenResponse(status, body)
		if err == nil && (status < 200 || status > 299 || tok == "" || exp <= 0) {
			t.Fatalf("accepted (%d, %q): token %q expires_in %d", status, body, tok, exp)
		}
		ParseServiceAccount(body)
	})
}
