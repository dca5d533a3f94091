package mock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// post sends body to url with headers given as name, value pairs.
func post(t *testing.T, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, b
}

type event struct{ name, data string }

// parseSSE splits a text/event-stream body into events.
func parseSSE(t *testing.T, body []byte) []event {
	t.Helper()
	if !bytes.HasSuffix(body, []byte("\n\n")) {
		t.Fatalf("stream does not end with a blank line: %q", body)
	}
	var out []event
	for _, block := range strings.Split(strings.TrimSuffix(string(body), "\n\n"), "\n\n") {
		var e event
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				e.name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				e.data = v
			} else {
				t.Fatalf("unexpected SSE line %q", line)
			}
		}
		out = append(out, e)
	}
	return out
}

const chatHello = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello there"}]}`

func TestRecordsRequests(t *testing.T) {
	s := NewOpenAI()
	defer s.Close()
	if s.Count() != 0 || s.Last().Method != "" {
		t.Fatalf("fresh server: Count()=%d Last()=%+v", s.Count(), s.Last())
	}
	post(t, s.URL+"/v1/chat/completions?x=1", chatHello, "X-Test", "a", "Host", "api.openai.com")
	post(t, s.URL+"/v1/embeddings", `{"model":"text-embedding-3-small","input":"hi"}`)

	if got := s.Count(); got != 2 {
		t.Fatalf("Count() = %d, want 2", got)
	}
	first := s.Requests()[0]
	checks := []struct{ name, got, want string }{
		{"method", first.Method, "POST"},
		{"path", first.Path, "/v1/chat/completions"},
		{"query", first.RawQuery, "x=1"},
		{"host", first.Host, "api.openai.com"},
		{"header", first.Header.Get("X-Test"), "a"},
		{"body", string(first.Body), chatHello},
		{"model", first.Model, "gpt-4o-mini"},
		{"Get", first.Get("messages.1.content").String(), "hello there"},
		{"last path", s.Last().Path, "/v1/embeddings"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	s.Reset()
	if s.Count() != 0 {
		t.Errorf("Count() after Reset = %d", s.Count())
	}
}

func TestModelOf(t *testing.T) {
	s := NewGCP(WithAPIKey("k"))
	defer s.Close()
	post(t, s.URL+"/v1/projects/p/locations/us-central1/publishers/google/models/text-embedding-005:predict?key=k", `{"instances":[{"content":"a"}]}`)
	if got := s.Last().Model; got != "text-embedding-005" {
		t.Errorf("Vertex model = %q", got)
	}
	o := NewOpenAI()
	defer o.Close()
	post(t, o.URL+"/openai/deployments/my-gpt/chat/completions?api-version=1", `{"messages":[{"role":"user","content":"hi"}]}`)
	if got := o.Last().Model; got != "my-gpt" {
		t.Errorf("Azure model = %q", got)
	}
	b := NewBedrock()
	defer b.Close()
	post(t, b.URL+"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fabc/converse", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)
	if got, want := b.Last().Model, "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc"; got != want {
		t.Errorf("Bedrock model = %q, want %q", got, want)
	}
	if got := b.Last().EscapedPath; !strings.Contains(got, "%3A") || !strings.Contains(got, "%2F") {
		t.Errorf("EscapedPath lost the wire encoding: %q", got)
	}
}

// Every mock's default error body for a forced status has the provider's shape.
func TestWithStatusDefaultBodies(t *testing.T) {
	tests := []struct {
		name, path, body string
		start            func(...Option) *Server
		status           int
		check            string // gjson path that must equal want
		want             string
		header           [2]string
	}{
		{"openai 429", "/v1/chat/completions", chatHello, NewOpenAI, 429, "error.type", "rate_limit_error", [2]string{}},
		{"openai 500", "/v1/chat/completions", chatHello, NewOpenAI, 500, "error.type", "server_error", [2]string{}},
		{"anthropic 529", "/v1/messages", `{}`, NewAnthropic, 529, "error.type", "overloaded_error", [2]string{}},
		{"bedrock 429", "/model/m/converse", `{}`, NewBedrock, 429, "message", "Too Many Requests", [2]string{"X-Amzn-Errortype", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"}},
		{"gcp 503", "/v1/projects/p/locations/l/publishers/google/models/m:predict?key=k", `{}`, NewGCP, 503, "error.status", "UNAVAILABLE", [2]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(WithStatus(tc.status, ""), WithAPIKey("k"))
			defer s.Close()
			resp, body := post(t, s.URL+tc.path, tc.body, "Authorization", "Bearer k", "x-api-key", "k", "anthropic-version", "2023-06-01")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := gjson.GetBytes(body, tc.check).String(); got != tc.want {
				t.Errorf("%s = %q, want %q in %s", tc.check, got, tc.want, body)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s = %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			}
		})
	}
}

func TestWithStatusCustomBodyAndHeader(t *testing.T) {
	s := NewOpenAI(WithStatus(418, `{"teapot":true}`), WithHeader("Retry-After", "7"))
	defer s.Close()
	resp, body := post(t, s.URL+"/v1/chat/completions", chatHello)
	if resp.StatusCode != 418 || string(body) != `{"teapot":true}` || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("got %d %s Retry-After=%q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}

func TestWithDelayHoldsFirstByte(t *testing.T) {
	const d = 30 * time.Millisecond
	s := NewOpenAI(WithDelay(d))
	defer s.Close()
	start := time.Now()
	resp, _ := post(t, s.URL+"/v1/chat/completions", chatHello)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if el := time.Since(start); el < d {
		t.Errorf("answered after %v, before the %v delay", el, d)
	}
}

func TestWithHangNeverAnswers(t *testing.T) {
	s := NewOpenAI(WithHang())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/chat/completions", strings.NewReader(chatHello))
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", err)
	}
	// A second request still in flight must not keep Close from returning.
	go http.Post(s.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatHello))
	for s.Count() < 2 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
}

func TestFragments(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"data: {\"a\":1}\n\n", []string{"data: {", "\"a\":1}\n", "\n"}},
		{"abc", []string{"a", "b", "c"}},
		{"ab", []string{"a", "b"}},
		{"a", []string{"a"}},
	}
	for _, tc := range tests {
		var got []string
		for _, p := range fragments([]byte(tc.in)) {
			got = append(got, string(p))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || strings.Join(got, "") != tc.in {
			t.Errorf("fragments(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The write pattern options change how bytes are cut, never the bytes.
func TestStreamWriteModesKeepBytes(t *testing.T) {
	const req = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three"}]}`
	var want []byte
	for _, opt := range []Option{WithChunkDelay(0), WithFragmentedStream(), WithCoalescedStream(), WithChunkDelay(time.Millisecond)} {
		s := NewOpenAI(opt)
		_, body := post(t, s.URL+"/v1/chat/completions", req)
		s.Close()
		if want == nil {
			want = body
			continue
		}
		if !bytes.Equal(body, want) {
			t.Errorf("stream differs:\n%s\nwant\n%s", body, want)
		}
	}
}

func TestStreamErrorAndCut(t *testing.T) {
	const req = `{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three"}]}`
	s := NewOpenAI(WithStreamError(2))
	defer s.Close()
	_, body := post(t, s.URL+"/v1/chat/completions", req)
	ev := parseSSE(t, body)
	if len(ev) != 3 || !gjson.Get(ev[2].data, "error.message").Exists() {
		t.Errorf("want 2 chunks then an error event, got %q", body)
	}

	c := NewOpenAI(WithStreamCut(2))
	defer c.Close()
	resp, err := http.Post(c.URL+"/v1/chat/completions", "application/json", strings.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("cut stream read cleanly: %q", got)
	}
	if n := bytes.Count(got, []byte("data: ")); n != 2 {
		t.Errorf("got %d events before the cut, want 2: %q", n, got)
	}
}

func TestStreamChunksPadsAndGroups(t *testing.T) {
	tests := []struct {
		chunks int
		msg    string
		want   []string
	}{
		{2, "a b c d", []string{"You said: a", " b c d"}},
		{8, "a", []string{"You", " said:", " a", " more", " more", " more", " more", " more"}},
	}
	for _, tc := range tests {
		s := NewOpenAI(WithStreamChunks(tc.chunks))
		_, body := post(t, s.URL+"/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"`+tc.msg+`"}]}`)
		s.Close()
		var got []string
		for _, e := range parseSSE(t, body) {
			if c := gjson.Get(e.data, "choices.0.delta.content"); c.Exists() && c.String() != "" {
				got = append(got, c.String())
			}
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("chunks(%d, %q) = %q, want %q", tc.chunks, tc.msg, got, tc.want)
		}
	}
}

func TestToolArgs(t *testing.T) {
	tests := []struct{ schema, want string }{
		{`{"type":"object","properties":{"location":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]}},"required":["location"]}`, `{"location":"mock"}`},
		{`{"type":"object","properties":{"n":{"type":"integer"},"ok":{"type":"boolean"},"u":{"type":"string","enum":["c","f"]},"l":{"type":"array"},"o":{"type":"object"}}}`, `{"n":1,"ok":true,"u":"c","l":[],"o":{}}`},
		{`{}`, `{}`},
	}
	for _, tc := range tests {
		if got := toolArgs(gjson.Parse(tc.schema)); got != tc.want {
			t.Errorf("toolArgs(%s) = %s, want %s", tc.schema, got, tc.want)
		}
	}
}

func TestEmbeddingIsDeterministic(t *testing.T) {
	a, b, c := Embedding("x", 16), Embedding("x", 16), Embedding("y", 16)
	if fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("Embedding not a function of its text: %v %v %v", a, b, c)
	}
	for _, v := range a {
		if v < -1 || v >= 1 {
			t.Errorf("value %v out of [-1, 1)", v)
		}
	}
}

// Many requests at once, each must get its own answer and be recorded.
func TestConcurrentRequests(t *testing.T) {
	s := NewOpenAI()
	defer s.Close()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := i%2 == 0
			body := fmt.Sprintf(`{"model":"m","stream":%t,"messages":[{"role":"user","content":"msg %d"}]}`, stream, i)
			resp, err := http.Post(s.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got := gjson.GetBytes(b, "choices.0.message.content").String()
			if stream {
				got = ""
				for _, e := range strings.Split(string(b), "\n\n") {
					got += gjson.Get(strings.TrimPrefix(e, "data: "), "choices.0.delta.content").String()
				}
			}
			if want := fmt.Sprintf("You said: msg %d", i); got != want {
				errs <- fmt.Sprintf("request %d: reply %q, want %q", i, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if s.Count() != n {
		t.Errorf("Count() = %d, want %d", s.Count(), n)
	}
}

// BenchmarkOpenAIChatStream measures one streamed chat round trip, to show
// the mock is not the bottleneck in e2e load tests.
func BenchmarkOpenAIChatStream(b *testing.B) {
	s := NewOpenAI()
	defer s.Close()
	const req = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a fairly ordinary question of ten words or so"}]}`
	for b.Loop() {
		resp, err := http.Post(s.URL+"/v1/chat/completions", "application/json", strings.NewReader(req))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// WithRecordLimit bounds what a mock keeps: the last n requests, oldest
// first, while Count still counts them all.
func TestRecordLimit(t *testing.T) {
	for _, keep := range []int{0, 1, 3} {
		s := NewOpenAI(WithRecordLimit(keep))
		for i := range 5 {
			body := fmt.Sprintf(`{"model":"m%d","messages":[{"role":"user","content":"hi"}]}`, i)
			resp, err := http.Post(s.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		var models []string
		for _, r := range s.Requests() {
			models = append(models, r.Model)
		}
		want := []string{"m0", "m1", "m2", "m3", "m4"}[5-keep:]
		wantLast := ""
		if keep > 0 {
			wantLast = "m4"
		}
		if s.Count() != 5 || strings.Join(models, ",") != strings.Join(want, ",") || s.Last().Model != wantLast {
			t.Errorf("keep %d: Count() = %d, recorded %v, Last %q; want 5, %v", keep, s.Count(), models, s.Last().Model, want)
		}
		s.Close()
	}
}
