package convert

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"slices"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

func init() {
	register(OpenAIEmbeddings, VertexPredict, func() Translator { return &openAIToVertex{} })
}

// openAIToVertex serves an OpenAI Embeddings client from a Vertex AI
// text-embedding model's :predict method (docs/protocol-mapping.md#vertex-embeddings).
type openAIToVertex struct {
	model  string // echoed in the response: Vertex does not return it
	base64 bool   // encoding_format "base64": Vertex returns floats only
	usage  Usage
}

// Request maps input (a string or an array of strings) to one instance
// per string and dimensions to parameters.outputDimensionality. Token-id
// input is rejected: Vertex embeds text.
func (t *openAIToVertex) Request(req *jsonbytes.Object, dst []byte, ed jsonbytes.Editor) ([]byte, error) {
	var input, dimensions jsonbytes.Value
	for _, m := range req.Members {
		switch v := jsonbytes.Value(m.Value); m.Key {
		case "model":
			t.model = v.String()
		case "encoding_format":
			t.base64 = v.Str() == "base64"
		case "input":
			input = v
		case "dimensions":
			dimensions = v
		}
	}

	var ow jsonbytes.ObjectWriter
	b := append(ow.Key(ow.Open(slices.Grow(dst, len(req.Bytes())+64), ed), "instances"), '[')
	switch {
	case input.IsString():
		b = appendVertexInstance(b, input)
	case input.IsArray():
		n := 0
		ok := true
		input.ForEach(func(_, s jsonbytes.Value) bool {
			if ok = s.IsString(); ok {
				if n > 0 {
					b = append(b, ',')
				}
				b = appendVertexInstance(b, s)
				n++
			}
			return ok
		})
		if !ok || n == 0 {
			return nil, errors.New("convert: vertex: input must be a string or a non-empty array of strings (Vertex AI embeds text, not token ids)")
		}
	default:
		return nil, errors.New("convert: vertex: input must be a string or an array of strings")
	}
	b = ow.End(append(b, ']'))
	if dimensions.IsNumber() {
		b = append(ow.Key(b, "parameters"), `{"outputDimensionality":`...)
		b = ow.End(append(append(b, dimensions...), '}'))
	}
	return ow.Close(b)
}

func appendVertexInstance(b []byte, s jsonbytes.Value) []byte {
	b = append(b, `{"content":`...)
	b = append(b, s...)
	return append(b, '}')
}

// Response maps predictions[i].embeddings.values to data[i].embedding
// (base64 of little-endian float32 when the client asked for it) and sums
// statistics.token_count into the usage.
func (t *openAIToVertex) Response(body []byte) ([]byte, error) {
	if !jsonbytes.Valid(body) {
		return nil, errors.New("convert: vertex: :predict response is not valid JSON")
	}
	preds := jsonbytes.Parse(body).Get("predictions")
	if !preds.IsArray() {
		return nil, errors.New("convert: vertex: :predict response has no predictions array")
	}
	b := make([]byte, 0, len(body)+128)
	b = append(b, `{"object":"list","data":[`...)
	var tokens int64
	var err error
	var floats []byte
	i := 0
	preds.ForEach(func(_, p jsonbytes.Value) bool {
		values := p.Get("embeddings.values")
		if !values.IsArray() {
			err = errors.New("convert: vertex: a prediction has no embeddings.values array")
			return false
		}
		tokens += p.Get("embeddings.statistics.token_count").Int()
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = appendInt(b, int64(i))
		b = append(b, `,"embedding":`...)
		if t.base64 {
			floats = floats[:0]
			values.ForEach(func(_, v jsonbytes.Value) bool {
				floats = binary.LittleEndian.AppendUint32(floats, math.Float32bits(float32(v.Float())))
				return true
			})
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, floats)
			b = append(b, '"')
		} else {
			b = append(b, values...)
		}
		b = append(b, '}')
		i++
		return true
	})
	if err != nil {
		return nil, err
	}
	t.usage = Usage{PromptTokens: tokens, TotalTokens: tokens}
	b = append(b, `],"model":`...)
	b = jsonbytes.AppendString(b, t.model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = appendInt(b, tokens)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, tokens)
	return append(b, "}}"...), nil
}

// Error rewrites a Google API error ({"error":{"code","message","status"}})
// as an OpenAI error.
func (t *openAIToVertex) Error(status int, body []byte) []byte {
	return toOpenAIError(status, body)
}

// Stream fails: :predict answers with one JSON body, never a stream.
func (t *openAIToVertex) Stream(chunk []byte, eos bool) ([]byte, error) {
	return nil, errors.New("convert: vertex: :predict does not stream; use Response")
}

func (t *openAIToVertex) StreamContentType() string { return "application/json" }
func (t *openAIToVertex) Usage() Usage              { return t.usage }
func (t *openAIToVertex) FirstToken() bool          { return false }
