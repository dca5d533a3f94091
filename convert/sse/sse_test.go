package sse

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ev is an Event with owned strings, for comparisons. Name and ID use "<nil>"
// for an absent field so that absent and empty can be told apart.
type ev struct{ Name, Data, ID string }

func own(e Event) ev {
	o := ev{Name: "<nil>", Data: string(e.Data), ID: "<nil>"}
	if e.Name != nil {
		o.Name = string(e.Name)
	}
	if e.ID != nil {
		o.ID = string(e.ID)
	}
	return o
}

// parseChunks feeds chunks to a fresh Parser and flushes it.
func parseChunks(chunks ...[]byte) []ev {
	var p Parser
	var out []ev
	fn := func(e Event) { out = append(out, own(e)) }
	for _, c := range chunks {
		p.Feed(c, fn)
	}
	p.Flush(fn)
	return out
}

func TestParser(t *testing.T) {
	tests := []struct {
		name, in string
		want     []ev
	}{
		{"openai data line", "data: {\"a\":1}\n\n", []ev{{"<nil>", `{"a":1}`, "<nil>"}}},
		{"named event", "event: ping\ndata: {}\n\n", []ev{{"ping", "{}", "<nil>"}}},
		{"crlf", "event: x\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", []ev{{"x", "1", "<nil>"}, {"<nil>", "2", "<nil>"}}},
		{"cr only", "event: x\rdata: 1\r\rdata: 2\r\r", []ev{{"x", "1", "<nil>"}, {"<nil>", "2", "<nil>"}}},
		{"comment keepalive", ": keepalive\n\n: OPENROUTER PROCESSING\n\ndata: a\n\n", []ev{{"<nil>", "a", "<nil>"}}},
		{"multi-line data", "data: a\ndata: b\ndata:\ndata: c\n\n", []ev{{"<nil>", "a\nb\n\nc", "<nil>"}}},
		{"no space after colon", "data:x\nevent:y\n\n", []ev{{"y", "x", "<nil>"}}},
		{"only one space is stripped", "data:  x \n\n", []ev{{"<nil>", " x ", "<nil>"}}},
		{"empty data frame is delivered", "data:\n\ndata: \n\n", []ev{{"<nil>", "", "<nil>"}, {"<nil>", "", "<nil>"}}},
		{"blank lines alone dispatch nothing", "\n\n\r\n\n", nil},
		{"field without colon", "data\n\n", []ev{{"<nil>", "", "<nil>"}}},
		{"unknown fields and retry ignored", "retry: 10\nfoo: bar\ndata: z\n\n", []ev{{"<nil>", "z", "<nil>"}}},
		{"id", "id: 7\ndata: z\n\n", []ev{{"<nil>", "z", "7"}}},
		{"id with NUL ignored", "id: 7\x00\ndata: z\n\n", []ev{{"<nil>", "z", "<nil>"}}},
		{"last event name wins", "event: a\nevent: b\ndata: z\n\n", []ev{{"b", "z", "<nil>"}}},
		{"event without data", "event: ping\n\n", []ev{{"ping", "", "<nil>"}}},
		{"unterminated final event", "data: a\n\ndata: b", []ev{{"<nil>", "a", "<nil>"}, {"<nil>", "b", "<nil>"}}},
		{"final event missing blank line", "data: a\n", []ev{{"<nil>", "a", "<nil>"}}},
		{"colon inside value", "data: {\"k\":\"v:w\"}\n\n", []ev{{"<nil>", `{"k":"v:w"}`, "<nil>"}}},
		{"done", "data: [DONE]\n\n", []ev{{"<nil>", "[DONE]", "<nil>"}}},
		{"empty input", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseChunks([]byte(tc.in))
			if !equal(got, tc.want) {
				t.Fatalf("whole input:\n got %q\nwant %q", got, tc.want)
			}
			// Every split point, and byte by byte, must give the same events.
			in := []byte(tc.in)
			for i := 0; i <= len(in); i++ {
				if got := parseChunks(in[:i:i], in[i:]); !equal(got, tc.want) {
					t.Fatalf("split at %d:\n got %q\nwant %q", i, got, tc.want)
				}
			}
			if got := parseChunks(bytewise(in)...); !equal(got, tc.want) {
				t.Fatalf("byte by byte:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestParserFixtures checks every recorded stream: the events match a
// straightforward whole-input parse, whatever the chunking.
func TestParserFixtures(t *testing.T) {
	files := fixtureFiles(t)
	rng := rand.New(rand.NewSource(1))
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			want := reference(string(in))
			if len(want) == 0 {
				t.Fatal("reference parse found no events")
			}
			if got := parseChunks(in); !equal(got, want) {
				t.Fatalf("whole input:\n got %q\nwant %q", got, want)
			}
			for i := 0; i <= len(in); i++ {
				// Cap the first chunk so a Parser that kept references into
				// it would be caught by the write below.
				a := append([]byte(nil), in[:i]...)
				var p Parser
				var got []ev
				fn := func(e Event) { got = append(got, own(e)) }
				p.Feed(a, fn)
				for j := range a {
					a[j] = '#'
				}
				p.Feed(in[i:], fn)
				p.Flush(fn)
				if !equal(got, want) {
					t.Fatalf("split at %d:\n got %q\nwant %q", i, got, want)
				}
			}
			for n := 0; n < 50; n++ {
				if got := parseChunks(randomChunks(rng, in)...); !equal(got, want) {
					t.Fatalf("random chunking %d:\n got %q\nwant %q", n, got, want)
				}
			}
		})
	}
}

func TestAppendEventRoundTrip(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"message_stop", `{"type":"message_stop"}`, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
		{"x", "a\nb\r\nc", "event: x\ndata: a\ndata: b\ndata: c\n\n"},
		{"", "", "data: \n\n"},
	}
	for _, tc := range tests {
		got := AppendEvent([]byte("prefix"), tc.name, []byte(tc.data))
		if string(got) != "prefix"+tc.want {
			t.Errorf("AppendEvent(%q, %q) = %q, want %q", tc.name, tc.data, got, tc.want)
		}
		evs := parseChunks(got[len("prefix"):])
		wantName := tc.name
		if wantName == "" {
			wantName = "<nil>"
		}
		wantData := strings.ReplaceAll(tc.data, "\r\n", "\n")
		if len(evs) != 1 || evs[0].Name != wantName || evs[0].Data != wantData {
			t.Errorf("round trip of %q: got %q", tc.data, evs)
		}
	}
}

// TestFeedSteadyStateAllocs pins the "no allocation in the steady state"
// contract: once buffers have grown, split events cost nothing.
func TestFeedSteadyStateAllocs(t *testing.T) {
	in := []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0}\n\n")
	var p Parser
	n := 0
	fn := func(e Event) { n++ }
	feed := func() {
		p.Feed(in[:10], fn)
		p.Feed(in[10:40], fn)
		p.Feed(in[40:], fn)
	}
	feed()
	if allocs := testing.AllocsPerRun(100, feed); allocs != 0 {
		t.Fatalf("Feed allocated %v times per event", allocs)
	}
	if n != 102 { // one warm-up call, AllocsPerRun's own warm-up, 100 runs
		t.Fatalf("got %d events, want 102", n)
	}
}

func fixtureFiles(t *testing.T) []string {
	var files []string
	for _, pattern := range []string{"testdata/*.sse", "../testdata/*/*.sse", "../testdata/mapping/*/*.sse"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d fixture streams", len(files))
	}
	return files
}

// reference is a deliberately naive whole-input parser, the oracle for the
// chunked one.
func reference(s string) []ev {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var out []ev
	cur, pending, hasData := ev{Name: "<nil>", ID: "<nil>"}, false, false
	lines := strings.Split(s, "\n")
	for _, l := range append(lines, "") {
		switch {
		case l == "":
			if pending {
				out = append(out, cur)
			}
			cur, pending, hasData = ev{Name: "<nil>", ID: "<nil>"}, false, false
		case l[0] == ':':
		default:
			f, v, _ := strings.Cut(l, ":")
			v = strings.TrimPrefix(v, " ")
			switch f {
			case "data":
				if hasData {
					cur.Data += "\n"
				}
				cur.Data += v
				pending, hasData = true, true
			case "event":
				cur.Name, pending = v, true
			case "id":
				cur.ID = v
			}
		}
	}
	return out
}

func randomChunks(rng *rand.Rand, in []byte) [][]byte {
	var out [][]byte
	for len(in) > 0 {
		n := 1 + rng.Intn(min(len(in), 64))
		out = append(out, in[:n])
		in = in[n:]
	}
	return out
}

func bytewise(in []byte) [][]byte {
	out := make([][]byte, len(in))
	for i := range in {
		out[i] = in[i : i+1]
	}
	return out
}

func equal(a, b []ev) bool {
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

var benchStream = bytes.Repeat([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" San Francisco for you in\"}}\n\n"), 64)

// BenchmarkParserPerEvent reports the cost of one typical Anthropic delta
// event when the stream arrives in 512-byte chunks (events split across
// chunks, several per chunk).
func BenchmarkParserPerEvent(b *testing.B) {
	var p Parser
	n := 0
	fn := func(e Event) { n += len(e.Data) }
	events := bytes.Count(benchStream, []byte("\n\n"))
	b.SetBytes(int64(len(benchStream) / events))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		for off := 0; off < len(benchStream); off += 512 {
			p.Feed(benchStream[off:min(off+512, len(benchStream))], fn)
		}
		i += events
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" San Francisco for you in"}}`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendEvent(buf[:0], "content_block_delta", data)
	}
}
