// Package gcpauth implements Google service-account authentication for
// Vertex AI: the OAuth 2.0 JWT-bearer flow (RFC 7523) that trades an RS256
// assertion signed with the service account's key for an access token, and
// a token cache protocol over a compare-and-swap store (see Lookup).
//
// The package does no I/O: the caller sends the token request (in the filter,
// an HTTP callout to the token endpoint) and feeds the answer back. It imports
// only the standard library and starts no goroutines.
//
// The flow, for a service account sa:
//
//	assertion, _ := sa.Assertion(now, gcpauth.Scope)
//	// POST sa.TokenURI, Content-Type: application/x-www-form-urlencoded,
//	// body gcpauth.TokenRequestBody(assertion)
//	token, expiresIn, err := gcpauth.ParseTokenResponse(status, body)
//	// send "Authorization: Bearer " + token for CacheTTL(expiresIn, ...) seconds
package gcpauth

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Scope is the OAuth scope Vertex AI needs.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// DefaultTokenURI is used when the key file has no token_uri.
const DefaultTokenURI = "https://oauth2.googleapis.com/token"

// assertionLifetime is exp-iat of an assertion; Google accepts at most an hour.
const assertionLifetime = 3600

// ServiceAccount is a parsed service-account key file. Its private key is
// unexported so that it cannot be printed or marshalled by accident.
type ServiceAccount struct {
	ClientEmail  string
	PrivateKeyID string // the "kid" of assertions; may be empty
	TokenURI     string // the token endpoint, and the "aud" of assertions
	ProjectID    string

	key    *rsa.PrivateKey
	header string // base64url JWT header, the same for every assertion
}

// ParseServiceAccount parses a service-account key file as downloaded from
// the Google Cloud console ({"type":"service_account", ...}). client_email
// and private_key (a PEM PKCS#8 or PKCS#1 RSA key) are required; token_uri
// defaults to DefaultTokenURI.
//
// Errors name the field to fix and never contain key material.
func ParseServiceAccount(data []byte) (*ServiceAccount, error) {
	var f struct {
		Type, ProjectID, PrivateKeyID, PrivateKey, ClientEmail, TokenURI string
	}
	fields := [...]struct {
		name string
		dst  *string
	}{
		{"type", &f.Type}, {"project_id", &f.ProjectID}, {"private_key_id", &f.PrivateKeyID},
		{"private_key", &f.PrivateKey}, {"client_email", &f.ClientEmail}, {"token_uri", &f.TokenURI},
	}
	badField := ""
	err := readObject(data, func(key string, raw []byte) {
		for _, fd := range fields {
			// Names match in any case, as they did with encoding/json.
			if strings.EqualFold(key, fd.name) {
				s, ok := jsonString(raw)
				if !ok && badField == "" {
					badField = fd.name
				}
				*fd.dst = s
			}
		}
	})
	// Describe the error without echoing the input.
	var syn *jsonSyntaxError
	switch {
	case errors.As(err, &syn):
		return nil, fmt.Errorf("gcpauth: service account key is not valid JSON (error at byte %d)", syn.offset)
	case err != nil:
		return nil, errors.New("gcpauth: service account key is not a JSON object")
	case badField != "":
		return nil, fmt.Errorf("gcpauth: service account field %q must be a string", badField)
	}
	if f.Type != "" && f.Type != "service_account" {
		return nil, fmt.Errorf("gcpauth: credentials of type %q are not supported; need a service account key (type \"service_account\")", f.Type)
	}
	switch {
	case f.ClientEmail == "":
		return nil, errors.New(`gcpauth: service account key has no "client_email"`)
	case f.PrivateKey == "":
		return nil, errors.New(`gcpauth: service account key has no "private_key"`)
	}
	key, err := parseRSAKey(f.PrivateKey)
	if err != nil {
		return nil, err
	}
	sa := &ServiceAccount{
		ClientEmail:  f.ClientEmail,
		PrivateKeyID: f.PrivateKeyID,
		TokenURI:     f.TokenURI,
		ProjectID:    f.ProjectID,
		key:          key,
	}
	if sa.TokenURI == "" {
		sa.TokenURI = DefaultTokenURI
	}
	// Field order as golang.org/x/oauth2/jws, so assertions are byte-identical.
	h := []byte(`{"alg":"RS256","typ":"JWT"`)
	if sa.PrivateKeyID != "" {
		h = appendString(append(h, `,"kid":`...), sa.PrivateKeyID)
	}
	h = append(h, '}')
	sa.header = base64.RawURLEncoding.EncodeToString(h)
	return sa, nil
}

// parseRSAKey decodes a PEM private key, PKCS#8 ("BEGIN PRIVATE KEY", what
// Google issues) or PKCS#1 ("BEGIN RSA PRIVATE KEY"), whatever the PEM
// label says.
func parseRSAKey(s string) (*rsa.PrivateKey, error) {
	data := []byte(s)
	block, _ := pem.Decode(data)
	if block == nil && bytes.Contains(data, []byte(`\n`)) {
		// The key was escaped twice (e.g. "\\n" in YAML): unescape once.
		block, _ = pem.Decode(bytes.ReplaceAll(data, []byte(`\n`), []byte("\n")))
	}
	if block == nil {
		return nil, errors.New(`gcpauth: "private_key" is not a PEM block (want the PEM text of a "PRIVATE KEY" or "RSA PRIVATE KEY")`)
	}
	der := block.Bytes
	if inner, isPKCS8, isRSA := pkcs8RSA(der); isPKCS8 {
		if !isRSA {
			return nil, errors.New(`gcpauth: "private_key" is not an RSA key (its PKCS#8 algorithm is not rsaEncryption)`)
		}
		der = inner
	}
	p1, ok := parsePKCS1(der)
	if !ok || !p1.e.IsInt64() || p1.e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf(`gcpauth: "private_key" (PEM %q) is not a PKCS#8 or PKCS#1 two-prime RSA private key`, block.Type)
	}
	key := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: p1.n, E: int(p1.e.Int64())},
		D:         p1.d,
		Primes:    []*big.Int{p1.p, p1.q},
	}
	bad := errors.New(`gcpauth: "private_key" is not a consistent RSA key`)
	if key.Validate() != nil {
		return nil, bad
	}
	key.Precompute()
	// The key's own CRT values must be the ones its primes give, as
	// crypto/x509 requires.
	pc := key.Precomputed
	if pc.Dp == nil || pc.Dp.Cmp(p1.dp) != 0 || pc.Dq.Cmp(p1.dq) != 0 || pc.Qinv.Cmp(p1.qinv) != 0 {
		return nil, bad
	}
	return key, nil
}

// Assertion returns a JWT for the JWT-bearer token request, signed with
// RS256: header {"alg":"RS256","typ":"JWT","kid":PrivateKeyID} and claims
// {"iss":ClientEmail,"scope":scope,"aud":TokenURI,"exp":iat+3600,"iat":iat}
// with iat = now in Unix seconds. scope is a space-separated list of
// scopes, usually Scope. Signing is deterministic: the same inputs give the
// same assertion.
func (sa *ServiceAccount) Assertion(now time.Time, scope string) (string, error) {
	if scope == "" {
		return "", errors.New("gcpauth: empty scope")
	}
	if sa.key == nil {
		return "", errors.New("gcpauth: ServiceAccount has no key; create it with ParseServiceAccount")
	}
	iat := now.Unix()
	claims := appendString(append(make([]byte, 0, 256), `{"iss":`...), sa.ClientEmail)
	claims = appendString(append(claims, `,"scope":`...), scope)
	claims = appendString(append(claims, `,"aud":`...), sa.TokenURI)
	claims = strconv.AppendInt(append(claims, `,"exp":`...), iat+assertionLifetime, 10)
	claims = strconv.AppendInt(append(claims, `,"iat":`...), iat, 10)
	claims = append(claims, '}')
	enc := base64.RawURLEncoding
	b := make([]byte, 0, len(sa.header)+1+enc.EncodedLen(len(claims))+1+enc.EncodedLen(sa.key.Size()))
	b = append(b, sa.header...)
	b = append(b, '.')
	b = enc.AppendEncode(b, claims)
	digest := sha256.Sum256(b)
	sig, err := rsa.SignPKCS1v15(nil, sa.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("gcpauth: signing the assertion: %w", err)
	}
	b = append(b, '.')
	b = enc.AppendEncode(b, sig)
	return string(b), nil
}

// TokenRequestBody returns the application/x-www-form-urlencoded body of
// the token request that trades assertion for an access token.
func TokenRequestBody(assertion string) []byte {
	const grant = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
	return append([]byte(grant), url.QueryEscape(assertion)...)
}

// ParseTokenResponse reads the token endpoint's answer: the HTTP status and
// the body. On success it returns the access token and its lifetime in
// seconds (expires_in). Otherwise the error carries the endpoint's "error"
// and "error_description" (e.g. "invalid_grant: Invalid JWT Signature.");
// it never contains a token.
func ParseTokenResponse(status int, body []byte) (token string, expiresIn int64, err error) {
	var r struct {
		AccessToken, ExpiresIn, ErrorDescription string
		Error                                    []byte // raw
	}
	typeErr := false
	jsonErr := readObject(body, func(key string, raw []byte) {
		var ok bool
		switch strings.ToLower(key) {
		case "access_token":
			r.AccessToken, ok = jsonString(raw)
		case "expires_in":
			// A number, or a string holding one, as json.Number took.
			if ok = isNumber(raw); ok {
				r.ExpiresIn = string(raw)
			} else if r.ExpiresIn, ok = jsonString(raw); ok && r.ExpiresIn != "" && !isNumber([]byte(r.ExpiresIn)) {
				ok = false
			}
		case "error":
			r.Error, ok = raw, true
		case "error_description":
			r.ErrorDescription, ok = jsonString(raw)
		default:
			ok = true
		}
		typeErr = typeErr || !ok
	})
	if jsonErr == nil && typeErr {
		jsonErr = errNotObject
	}
	ok := status >= 200 && status <= 299
	if !ok || len(r.Error) > 0 {
		if jsonErr != nil {
			return "", 0, fmt.Errorf("gcpauth: token endpoint answered %d with a body that is not JSON: %q", status, clip(body))
		}
		return "", 0, fmt.Errorf("gcpauth: token endpoint answered %d: %s", status, describeError(r.Error, r.ErrorDescription))
	}
	if jsonErr != nil {
		return "", 0, fmt.Errorf("gcpauth: token endpoint answered %d with a body that is not a token response", status)
	}
	if r.AccessToken == "" {
		return "", 0, fmt.Errorf("gcpauth: token endpoint answered %d without an access_token", status)
	}
	for i := 0; i < len(r.AccessToken); i++ {
		if c := r.AccessToken[i]; c <= ' ' || c >= 0x7f {
			return "", 0, errors.New("gcpauth: access_token contains characters not allowed in a header")
		}
	}
	exp, perr := strconv.ParseInt(r.ExpiresIn, 10, 64)
	if perr != nil || exp <= 0 {
		return "", 0, errors.New("gcpauth: token response has no positive integer expires_in")
	}
	return r.AccessToken, exp, nil
}

// describeError renders the OAuth error ("invalid_grant" + description) or,
// from other Google front ends, {"error":{"code","message","status"}}.
func describeError(raw []byte, desc string) string {
	code, isString := jsonString(raw)
	if !isString {
		var status, message string
		ok := true
		err := readObject(raw, func(key string, v []byte) {
			var good bool
			switch strings.ToLower(key) {
			case "status":
				status, good = jsonString(v)
			case "message":
				message, good = jsonString(v)
			default:
				good = true
			}
			ok = ok && good
		})
		if err == nil && ok {
			code, desc = status, message
		}
	}
	switch {
	case code == "" && desc == "":
		return "no error description"
	case desc == "":
		return code
	case code == "":
		return desc
	}
	return code + ": " + desc
}

// clip shortens a non-JSON error body (an HTML error page, say) for a message.
func clip(b []byte) []byte {
	const max = 128
	if len(b) > max {
		return append(b[:max:max], "..."...)
	}
	return b
}

// CacheTTL returns how many seconds to cache a token that lives expiresIn
// seconds: expiresIn - expireEarlySecs, capped at maxTTL when maxTTL > 0,
// and never negative. With 0 the token should be used once and not cached.
func CacheTTL(expiresIn, expireEarlySecs, maxTTL int64) int64 {
	ttl := expiresIn - expireEarlySecs
	if maxTTL > 0 && ttl > maxTTL {
		ttl = maxTTL
	}
	return max(ttl, 0)
}
