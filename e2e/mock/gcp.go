package mock

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// NewGCP starts Google's OAuth token endpoint and Vertex AI on one server:
//   - POST …/token: the JWT-bearer exchange (form grant_type + assertion),
//     answering {"access_token":"ya29.mock-<n>","expires_in":<ttl>,"token_type":"Bearer"};
//     see WithTokenTTL and WithJWTKey.
//   - POST …/publishers/google/models/{model}:predict: text embeddings,
//     instances[].content → predictions[].embeddings{values, statistics}.
//   - the OpenAI-compatible …/endpoints/openapi/chat/completions (and any
//     other path NewOpenAI serves).
//
// Vertex endpoints require "Authorization: Bearer <token>" with an unexpired
// token this server issued, unless WithAPIKey, WithAuthHeader or
// WithQueryKey is given, which then replace the token check (express mode).
func NewGCP(opts ...Option) *Server {
	return newServer(opts, func(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
		p := r.URL.Path
		if r.Method == http.MethodPost && strings.HasSuffix(p, "/token") {
			s.token(w, body)
			return
		}
		if !s.vertexAuth(w, r) {
			return
		}
		if r.Method == http.MethodPost && strings.Contains(p, "/publishers/google/models/") && strings.HasSuffix(p, ":predict") {
			if s.gate(w, r, googleError) {
				s.predict(w, body)
			}
			return
		}
		s.serveOpenAIPaths(w, r, body, googleError)
	})
}

// TokenCount returns how many access tokens the token endpoint has issued.
func (s *Server) TokenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

var googleStatus = map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
	404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

// googleError writes Google's error envelope; code is ignored because the
// status name follows from the HTTP status.
func googleError(w http.ResponseWriter, status int, _, msg string) {
	name := googleStatus[status]
	if name == "" {
		name = "UNKNOWN"
	}
	writeJSON(w, status, obj{"error": obj{"code": status, "message": msg, "status": name}})
}

func (s *Server) vertexAuth(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.apiKey != "" || len(s.cfg.headers) > 0 || len(s.cfg.query) > 0 {
		k := s.cfg.apiKey
		if (k == "" || r.URL.Query().Get("key") == k || r.Header.Get("X-Goog-Api-Key") == k) && s.checkKeys(r) == "" {
			return true
		}
		googleError(w, http.StatusUnauthorized, "", "API key not valid. Please pass a valid API key.")
		return false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, issued := s.tokens[tok]
	s.mu.Unlock()
	if ok && issued && time.Now().Before(exp) {
		return true
	}
	googleError(w, http.StatusUnauthorized, "", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
	return false
}

func (s *Server) token(w http.ResponseWriter, body []byte) {
	fail := func(code, desc string) {
		writeJSON(w, http.StatusBadRequest, obj{"error": code, "error_description": desc})
	}
	form, err := url.ParseQuery(string(body))
	switch {
	case err != nil || form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
		fail("unsupported_grant_type", "Invalid grant_type: "+form.Get("grant_type"))
		return
	case form.Get("assertion") == "":
		fail("invalid_request", "Missing required parameter: assertion")
		return
	}
	if s.cfg.jwtKey != nil {
		if code, desc := verifyJWT(form.Get("assertion"), s.cfg.jwtKey, time.Now()); code != "" {
			fail(code, desc)
			return
		}
	}
	s.mu.Lock()
	tok := fmt.Sprintf("ya29.mock-%d", len(s.tokens)+1)
	s.tokens[tok] = time.Now().Add(time.Duration(s.cfg.tokenTTL) * time.Second)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj{"access_token": tok, "expires_in": s.cfg.tokenTTL, "token_type": "Bearer"})
}

// verifyJWT checks an RS256 JWT-bearer assertion the way Google does and
// returns the OAuth error code and description, or "" when it is good.
func verifyJWT(jwt string, key *rsa.PublicKey, now time.Time) (string, string) {
	const badSig = "Invalid JWT Signature."
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "invalid_grant", badSig
	}
	header, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	claims, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err1 != nil || err2 != nil || err3 != nil || gjson.GetBytes(header, "alg").String() != "RS256" ||
		rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return "invalid_grant", badSig
	}
	c := gjson.ParseBytes(claims)
	iat, exp, t := c.Get("iat").Int(), c.Get("exp").Int(), now.Unix()
	switch {
	case c.Get("iss").String() == "":
		return "invalid_grant", "Invalid email or User ID"
	case c.Get("scope").String() == "" || !strings.HasSuffix(c.Get("aud").String(), "/token"):
		return "invalid_scope", "Invalid OAuth scope or ID token audience provided."
	case exp <= iat || exp-iat > 3600 || t < iat-300 || t > exp:
		return "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	}
	return "", ""
}

// predict answers Vertex text-embedding :predict with Embedding(content,
// parameters.outputDimensionality) per instance.
func (s *Server) predict(w http.ResponseWriter, body []byte) {
	req := gjson.ParseBytes(body)
	instances := req.Get("instances").Array()
	if !gjson.ValidBytes(body) || len(instances) == 0 {
		googleError(w, http.StatusBadRequest, "", "Invalid JSON payload received. 'instances' must be a non-empty list.")
		return
	}
	dims := int(req.Get("parameters.outputDimensionality").Int())
	if dims <= 0 {
		dims = defaultDims
	}
	var preds []obj
	chars := 0
	for i, in := range instances {
		text := in.Get("content")
		if text.Type != gjson.String || text.Str == "" {
			googleError(w, http.StatusBadRequest, "", fmt.Sprintf("instances[%d].content is required and must be a non-empty string.", i))
			return
		}
		chars += utf8.RuneCountInString(text.Str)
		preds = append(preds, obj{"embeddings": obj{
			"values":     Embedding(text.Str, dims),
			"statistics": obj{"token_count": len(strings.Fields(text.Str)), "truncated": false},
		}})
	}
	writeJSON(w, http.StatusOK, obj{"predictions": preds, "metadata": obj{"billableCharacterCount": chars}})
}
