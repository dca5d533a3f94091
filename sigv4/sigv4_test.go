package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// vectors.json: 28 AWS SigV4 test-suite cases, 1 derived, 7 Bedrock cases
// computed with botocore and checked against aws-sdk-go-v2 (provenance in
// testdata/README.md and in each vector's "source" field).
const vectorsFile = "testdata/vectors.json"

type vector struct {
	Name                     string      `json:"name"`
	Method                   string      `json:"method"`
	Host                     string      `json:"host"`
	Path                     string      `json:"path"`
	Query                    string      `json:"query"`
	Headers                  [][2]string `json:"headers"`
	HeadersAddedAfterSigning [][2]string `json:"headers_added_after_signing"`
	Body                     string      `json:"body"`
	BodySHA256               string      `json:"body_sha256"`
	Date                     string      `json:"date"`
	Region                   string      `json:"region"`
	Service                  string      `json:"service"`
	AccessKeyID              string      `json:"access_key_id"`
	SecretAccessKey          string      `json:"secret_access_key"`
	SessionToken             *string     `json:"session_token"`
	Options                  struct {
		URIEncodePath bool `json:"uri_encode_path"`
		NormalizePath bool `json:"normalize_path"`
	} `json:"options"`
	Expected struct {
		CanonicalURI     string `json:"canonical_uri"`
		CanonicalRequest string `json:"canonical_request"`
		StringToSign     string `json:"string_to_sign"`
		SignedHeaders    string `json:"signed_headers"`
		Signature        string `json:"signature"`
		Authorization    string `json:"authorization"`
	} `json:"expected"`
}

func loadVectors(t testing.TB) []vector {
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return f.Vectors
}

// TestVectors signs every vector (the AWS suite and the Bedrock vectors) and
// compares every intermediate result.
func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			// The signer always encodes the path once more and normalises
			// it (the rules for every service but S3). A vector that asks
			// for something else is outside this package's contract.
			if !v.Options.URIEncodePath {
				t.Fatal("vector wants no path encoding (S3 rules); unsupported")
			}
			if !v.Options.NormalizePath && normalizePath(v.Path) != v.Path {
				t.Fatal("vector wants an unnormalised path that normalisation would change; unsupported")
			}
			if sha256Hex([]byte(v.Body)) != v.BodySHA256 {
				t.Fatalf("fixture body_sha256 does not match its body")
			}

			s := Signer{
				Credentials: Credentials{AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey},
				Region:      v.Region,
				Service:     v.Service,
			}
			r := &Request{Method: v.Method, Host: v.Host, Path: v.Path, Query: v.Query, Body: []byte(v.Body)}
			// The vector lists every header present at signing time; the
			// ones Sign computes itself are checked against its output.
			var wantDate, wantToken string
			for _, h := range v.Headers {
				switch strings.ToLower(h[0]) {
				case "host":
					if h[1] != v.Host {
						t.Fatalf("Host header %q differs from host %q", h[1], v.Host)
					}
				case "x-amz-date":
					wantDate = h[1]
				case "x-amz-security-token":
					wantToken = h[1]
				default:
					r.Headers = append(r.Headers, h)
				}
			}
			if wantToken != "" {
				if v.SessionToken == nil || *v.SessionToken != wantToken {
					t.Fatal("signed X-Amz-Security-Token differs from session_token")
				}
				s.Credentials.SessionToken = wantToken
			} // else: no token, or a token added after signing (unsigned).

			now, err := time.Parse(timeFormat, v.Date)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.sign(r, now, true)
			if err != nil {
				t.Fatal(err)
			}
			e := v.Expected
			if uri := strings.Split(got.canonicalRequest, "\n")[1]; uri != e.CanonicalURI {
				t.Errorf("canonical URI\n got %q\nwant %q", uri, e.CanonicalURI)
			}
			for _, c := range []struct{ what, got, want string }{
				{"canonical request", got.canonicalRequest, e.CanonicalRequest},
				{"string to sign", got.stringToSign, e.StringToSign},
				{"signed headers", strings.Split(got.canonicalRequest, "\n")[strings.Count(got.canonicalRequest, "\n")-1], e.SignedHeaders},
				{"signature", got.authorization[strings.LastIndex(got.authorization, "=")+1:], e.Signature},
				{"authorization", got.authorization, e.Authorization},
			} {
				if c.got != c.want {
					t.Errorf("%s\n got %q\nwant %q", c.what, c.got, c.want)
				}
			}

			// The public API returns the same, plus the headers to set.
			hdrs, err := s.Sign(r, now)
			if err != nil {
				t.Fatal(err)
			}
			want := [][2]string{{"authorization", e.Authorization}, {"x-amz-date", wantDate}}
			if wantToken != "" {
				want = append(want, [2]string{"x-amz-security-token", wantToken})
			}
			if !equalHeaders(hdrs, want) {
				t.Errorf("Sign headers\n got %q\nwant %q", hdrs, want)
			}
		})
	}
}

func equalHeaders(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNormalizePath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/model/a%3A0/converse", "/model/a%3A0/converse"},
		{"/example/..", "/"},
		{"/example1/example2/../..", "/"},
		{"//", "/"},
		{"/./", "/"},
		{"/./example", "/example"},
		{"//example//", "/example/"},
		{"/a/./b/../c/", "/a/c/"},
		{"/a/.", "/a"},
		{"/../a", "/a"},
		{"/a/%2E%2E/b", "/a/%2E%2E/b"}, // encoded dots are not dot segments
		{"/a.b/..c/", "/a.b/..c/"},
	} {
		if got := normalizePath(c.in); got != c.want {
			t.Errorf("normalizePath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=10&a=1", "a=1&a=10&a=2"},
		{"flag", "flag="},
		{"a=b=c", "a=b%3Dc"},
		{"&&a=1&", "a=1"},
		{"q=a%20b", "q=a%20b"},
		{"q=a+b", "q=a%2Bb"},               // '+' is a literal plus
		{"q=%zz%4", "q=%25zz%254"},         // malformed escapes are literal '%'
		{"k=a%2Fb&k=a-b", "k=a%2Fb&k=a-b"}, // sorted after encoding: '%' < '-'
		{"%E1%88%B4=bar", "%E1%88%B4=bar"}, // already encoded UTF-8
		{"\u1234=bar", "%E1%88%B4=bar"},    // raw UTF-8
		{"arn=arn:aws:x/y", "arn=arn%3Aaws%3Ax%2Fy"},
	} {
		if got := string(appendCanonicalQuery(nil, c.in)); got != c.want {
			t.Errorf("canonical query of %q = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAppendHeaderValue(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"application/json", "application/json"},
		{" \t a \t", "a"},
		{"  a   b  c ", "a b c"},
		{"a \t  b", "a \t b"}, // only runs of spaces collapse
		{" \t ", ""},
	} {
		if got := string(appendHeaderValue(nil, c.in)); got != c.want {
			t.Errorf("appendHeaderValue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestAppendDate checks the x-amz-date formatter against time.Format,
// including non-UTC times and years that do not have four digits.
func TestAppendDate(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	east := time.FixedZone("east", 14*3600)
	times := []time.Time{{}, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}
	for range 1000 {
		times = append(times, time.Unix(rng.Int64N(400_000_000_000)-62_000_000_000, 0).In(east))
	}
	for _, tm := range times {
		if got, want := string(appendDate(nil, tm)), tm.UTC().Format(timeFormat); got != want {
			t.Errorf("appendDate(%v) = %q, want %q", tm, got, want)
		}
	}
}

// TestTokenChars checks the tchar table against RFC 9110, section 5.6.2.
func TestTokenChars(t *testing.T) {
	const rfc = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for c := range 256 {
		if want := strings.IndexByte(rfc, byte(c)) >= 0; tchar[c] != want {
			t.Errorf("tchar[%q] = %v, want %v", byte(c), tchar[c], want)
		}
	}
}

// TestErrorsNameFieldsNotSecrets checks that invalid input is refused with a
// message that says what to fix and leaks neither credentials nor values.
func TestErrorsNameFieldsNotSecrets(t *testing.T) {
	const secret, token, value = "SECRET/abc+def", "TOKEN-xyz", "header-value-secret"
	good := func() (*Signer, *Request) {
		return &Signer{
				Credentials: Credentials{AccessKeyID: "AKID", SecretAccessKey: secret, SessionToken: token},
				Region:      "us-east-1", Service: "bedrock",
			}, &Request{Method: "POST", Host: "bedrock-runtime.us-east-1.amazonaws.com", Path: "/",
				Headers: [][2]string{{"x-api-key", value}}}
	}
	for _, c := range []struct {
		name, wantErr string
		mutate        func(*Signer, *Request)
	}{
		{"no access key", "AccessKeyID", func(s *Signer, _ *Request) { s.Credentials.AccessKeyID = "" }},
		{"no secret", "SecretAccessKey", func(s *Signer, _ *Request) { s.Credentials.SecretAccessKey = "" }},
		{"token with newline", "SessionToken", func(s *Signer, _ *Request) { s.Credentials.SessionToken = token + "\n" }},
		{"no region", "Region", func(s *Signer, _ *Request) { s.Region = "" }},
		{"no service", "Service", func(s *Signer, _ *Request) { s.Service = "" }},
		{"no method", "Method", func(_ *Signer, r *Request) { r.Method = "" }},
		{"no host", "Host", func(_ *Signer, r *Request) { r.Host = "" }},
		{"bad header name", `"bad name"`, func(_ *Signer, r *Request) { r.Headers = [][2]string{{"bad name", value}} }},
		{"header value with CRLF", `"x-api-key"`, func(_ *Signer, r *Request) { r.Headers[0][1] = value + "\r\nx: y" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, r := good()
			if _, err := s.Sign(r, time.Unix(0, 0)); err != nil {
				t.Fatalf("unmutated request: %v", err)
			}
			c.mutate(s, r)
			hdrs, err := s.Sign(r, time.Unix(0, 0))
			if err == nil {
				t.Fatalf("no error; headers %q", hdrs)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.wantErr) {
				t.Errorf("error %q does not name %s", msg, c.wantErr)
			}
			for _, leak := range []string{secret, token, value} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q leaks %q", msg, leak)
				}
			}
		})
	}
}

// TestCrossCheckAWSSDK signs several hundred generated requests with this
// package and with aws-sdk-go-v2's signer and requires byte-identical
// Authorization headers. One Signer is reused throughout while credentials,
// region, service and date change, which also exercises the key cache.
func TestCrossCheckAWSSDK(t *testing.T) {
	rng := rand.New(rand.NewPCG(20250115, 42)) // fixed seed: reproducible
	sdk := v4.NewSigner()
	var s Signer
	withToken := 0
	const n = 600
	for i := range n {
		g := genRequest(rng)
		if g.creds.SessionToken != "" {
			withToken++
		}
		s.Credentials, s.Region, s.Service = g.creds, g.region, g.service

		hdrs, err := s.Sign(&g.req, g.now)
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}

		url := "https://" + g.req.Host + g.req.Path
		if g.req.Query != "" {
			url += "?" + g.req.Query
		}
		hr, err := http.NewRequest(g.req.Method, url, bytes.NewReader(g.req.Body))
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		// The generator must produce what the SDK signs: the same escaped
		// path and raw query.
		if hr.URL.EscapedPath() != g.req.Path || hr.URL.RawQuery != g.req.Query {
			t.Fatalf("#%d: net/url changed the request line: %q ? %q", i, hr.URL.EscapedPath(), hr.URL.RawQuery)
		}
		hr.ContentLength = g.contentLength
		for _, h := range g.req.Headers {
			if !strings.EqualFold(h[0], "content-length") {
				hr.Header.Add(h[0], h[1])
			}
		}
		err = sdk.SignHTTP(context.Background(), aws.Credentials{
			AccessKeyID: g.creds.AccessKeyID, SecretAccessKey: g.creds.SecretAccessKey, SessionToken: g.creds.SessionToken,
		}, hr, g.payloadHash, g.service, g.region, g.now)
		if err != nil {
			t.Fatalf("#%d: SDK: %v", i, err)
		}

		want := [][2]string{
			{"authorization", hr.Header.Get("Authorization")},
			{"x-amz-date", hr.Header.Get("X-Amz-Date")},
		}
		if tok := hr.Header.Get("X-Amz-Security-Token"); tok != "" {
			want = append(want, [2]string{"x-amz-security-token", tok})
		}
		if !equalHeaders(hdrs, want) {
			got, _ := s.sign(&g.req, g.now, true)
			t.Fatalf("#%d %s %s?%s headers %q\n got %q\nwant %q\ncanonical request:\n%s",
				i, g.req.Method, g.req.Path, g.req.Query, g.req.Headers, hdrs, want, got.canonicalRequest)
		}
	}
	// The generator must cover both credential kinds.
	if withToken < n/4 || withToken > 3*n/4 {
		t.Fatalf("%d of %d requests had a session token; generator is skewed", withToken, n)
	}
}

type genReq struct {
	req           Request
	creds         Credentials
	region        string
	service       string
	now           time.Time
	contentLength int64 // what the SDK sees; signed as content-length when > 0
	payloadHash   string
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func genRequest(rng *rand.Rand) genReq {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	region := pick("us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1")
	g := genReq{
		region:  region,
		service: pick("bedrock", "bedrock", "bedrock", "execute-api", "sts"),
		// Mostly one of three days, so that consecutive requests often share
		// the date and differ in secret, region or service only (the key
		// cache must notice); sometimes any second of 2015..2030.
		now: time.Unix(pickInt64(rng, 1420070400+rng.Int64N(16*365*86400), 1736899200, 1736985600, 1751328000)+rng.Int64N(86400), 0),
	}
	// A small pool of key pairs, so that the secret often repeats.
	keyRng := rand.New(rand.NewPCG(uint64(rng.IntN(3)), 0))
	g.creds = Credentials{
		AccessKeyID:     "AKIA" + randString(keyRng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
		SecretAccessKey: randString(keyRng, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/", 40),
	}
	if rng.IntN(2) == 0 {
		g.creds.SessionToken = randString(rng, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=", 100+rng.IntN(300))
	}

	host := pick("bedrock-runtime."+region+".amazonaws.com", "vpce-0abc.bedrock-runtime."+region+".vpce.amazonaws.com",
		"localhost:8443", "127.0.0.1:9000")
	model := pick(
		"anthropic.claude-3-5-sonnet-20240620-v1:0",
		"us.anthropic.claude-3-5-haiku-20241022-v1:0",
		"arn:aws:bedrock:"+region+":123456789012:application-inference-profile/a1b2c3d4e5f6",
		"arn:aws:bedrock:"+region+":123456789012:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0",
		"amazon.nova-lite-v1:0",
		"cohere.command-r-plus-v1:0",
		"model with space+plus(1)~",
		"\u00fcber-\u6a21\u578b",
	)
	op := pick("converse", "converse-stream", "invoke", "invoke-with-response-stream")
	path := "/model/" + escapeRandomly(rng, model, pathSubDelims) + "/" + op
	if rng.IntN(8) == 0 {
		path = pick("/", "/guardrail/gr-1/version/2/apply", "/async-invoke", "/a:b/c@d/e!f$g'h(i)j*k,l;m=n&o")
	}

	var query []string
	for range rng.IntN(4) {
		k := randQueryPart(rng)
		switch rng.IntN(5) {
		case 0:
			query = append(query, k) // no '='
		case 1:
			query = append(query, k+"=") // empty value
		default:
			query = append(query, k+"="+randQueryPart(rng))
		}
		if rng.IntN(4) == 0 { // repeated key
			query = append(query, k+"="+randQueryPart(rng))
		}
	}

	var body []byte
	switch rng.IntN(4) {
	case 0: // empty
	case 1:
		body = []byte(`{"messages":[{"role":"user","content":[{"text":"` + pick("hi", "\u3053\u3093\u306b\u3061\u306f", "caf\u00e9 \U0001F600") + `"}]}]}`)
	default:
		body = make([]byte, rng.IntN(4096))
		for i := range body {
			body[i] = byte(rng.UintN(256))
		}
	}

	var hdrs [][2]string
	names := []string{"Content-Type", "content-type", "Accept", "X-Amz-Target", "x-custom-header", "X-Custom-Header", "X-Amzn-Bedrock-Trace", "x-amz-meta-a"}
	for range rng.IntN(5) {
		name := names[rng.IntN(len(names))]
		hdrs = append(hdrs, [2]string{name, randHeaderValue(rng)})
	}
	g.payloadHash = sha256Hex(body)
	if rng.IntN(6) == 0 { // caller-provided payload hash, signed as a header
		if rng.IntN(2) == 0 {
			g.payloadHash = "UNSIGNED-PAYLOAD"
		}
		hdrs = append(hdrs, [2]string{pick("X-Amz-Content-Sha256", "x-amz-content-sha256"), g.payloadHash})
	}
	g.contentLength = -1
	if len(body) > 0 && rng.IntN(2) == 0 {
		g.contentLength = int64(len(body))
		hdrs = append(hdrs, [2]string{"Content-Length", strconv.Itoa(len(body))})
	}
	g.req = Request{
		Method:  pick("GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD"),
		Host:    host,
		Path:    path,
		Query:   strings.Join(query, "&"),
		Headers: hdrs,
		Body:    body,
	}
	return g
}

// Characters that may appear unescaped in a path segment, and in a query
// name or value (where '&', '=', ';' and '+' would change the meaning).
const (
	pathSubDelims  = ":@!$&'()*,;=+"
	querySubDelims = ":@!$'()*,/?"
)

func pickInt64(rng *rand.Rand, xs ...int64) int64 { return xs[rng.IntN(len(xs))] }

func randString(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// escapeRandomly percent-encodes s: unreserved bytes never, bytes in raw
// half of the time, all others always.
func escapeRandomly(rng *rand.Rand, s, raw string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUnreserved(c):
			b.WriteByte(c)
		case strings.IndexByte(raw, c) >= 0 && rng.IntN(2) == 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
		}
	}
	return b.String()
}

// randQueryPart returns an encoded query name or value: unreserved bytes
// raw, sub-delimiters that net/url keeps raw, and escapes of anything
// (space as %20, UTF-8, '+', '&', '=' ...).
func randQueryPart(rng *rand.Rand) string {
	var b strings.Builder
	for range 1 + rng.IntN(8) {
		switch rng.IntN(6) {
		case 0, 1:
			b.WriteString(randString(rng, "abcXYZ019-_.~", 1+rng.IntN(3)))
		case 2:
			b.WriteString(randString(rng, querySubDelims, 1))
		case 3:
			b.WriteString(escapeRandomly(rng, string(rune(rng.IntN(0x800))), querySubDelims))
		case 4:
			b.WriteString([]string{"%20", "%2B", "%26", "%3D", "%25", "%2F", "%3a", "%e2%82%ac"}[rng.IntN(8)])
		default:
			b.WriteString("%E1%88%B4")
		}
	}
	return b.String()
}

// randHeaderValue returns printable ASCII with leading, trailing and
// repeated inner spaces.
func randHeaderValue(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(4) {
		b.WriteByte(' ')
	}
	for range rng.IntN(30) {
		if rng.IntN(5) == 0 {
			b.WriteString(strings.Repeat(" ", 1+rng.IntN(3)))
		} else {
			b.WriteByte(byte('!' + rng.IntN('~'-'!'+1)))
		}
	}
	for range rng.IntN(3) {
		b.WriteByte(' ')
	}
	return b.String()
}

func BenchmarkSign10KB(b *testing.B) {
	body := bytes.Repeat([]byte(`{"text":"0123456789abcdef"},`), 10*1024/28+1)[:10*1024]
	s := Signer{
		Credentials: Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "token"},
		Region:      "us-east-1",
		Service:     "bedrock",
	}
	r := &Request{
		Method:  "POST",
		Host:    "bedrock-runtime.us-east-1.amazonaws.com",
		Path:    "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
		Headers: [][2]string{{"content-type", "application/json"}, {"accept", "application/json"}},
		Body:    body,
	}
	now := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(r, now); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSign checks that no input panics and that a signed request always
// gets a well-formed Authorization header.
func FuzzSign(f *testing.F) {
	f.Add("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/a%3A0/converse", "", "content-type", "application/json", []byte("{}"))
	f.Add("GET", "h:1", "//a/../b/./", "a=%&b=%zz&&=&+=+", "X", "  a   b  ", []byte(nil))
	f.Fuzz(func(t *testing.T, method, host, path, query, hname, hvalue string, body []byte) {
		s := Signer{Credentials: Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, Region: "us-east-1", Service: "bedrock"}
		r := &Request{Method: method, Host: host, Path: path, Query: query, Headers: [][2]string{{hname, hvalue}}, Body: body}
		hdrs, err := s.Sign(r, time.Unix(1736942400, 0))
		if err != nil {
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the secret: %v", err)
			}
			return
		}
		auth := hdrs[0][1]
		i := strings.LastIndex(auth, "Signature=")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/20250115/us-east-1/bedrock/aws4_request, SignedHeaders=") ||
			i < 0 || len(auth)-i-len("Signature=") != 64 {
			t.Fatalf("malformed authorization %q", auth)
		}
	})
}
