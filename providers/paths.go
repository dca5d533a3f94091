package providers

// Paths built from request data: each value is one URI segment,
// percent-encoded so that no model id can add path segments.

// BedrockModelPath returns the path of the Converse (or ConverseStream)
// operation for a model id, inference profile id or ARN. The id is one URI
// segment, so every byte outside A-Z a-z 0-9 - _ . ~ is percent-encoded
// (':' → %3A, '/' → %2F), as the AWS SDKs send it. A SigV4 signer must
// sign this path as it is (encoding it once more for the canonical URI).
func BedrockModelPath(model string, stream bool) string {
	op := "/converse"
	if stream {
		op = "/converse-stream"
	}
	b := make([]byte, 0, len("/model/")+len(model)*3+len(op))
	b = append(b, "/model/"...)
	b = appendPathSegment(b, model)
	return string(append(b, op...))
}

// appendPathSegment appends s percent-encoding every byte that is not an
// RFC 3986 unreserved character, and the dots of a "." or ".." segment,
// which a proxy would otherwise resolve as a relative path.
func appendPathSegment(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	dots := s == "." || s == ".."
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !dots && ('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b
}

// VertexHost returns the Vertex AI API host for a location: the global
// location has no regional prefix (docs/protocol-mapping.md#vertex-ai-endpoints).
func VertexHost(region string) string {
	if region == "global" {
		return "aiplatform.googleapis.com"
	}
	return region + "-aiplatform.googleapis.com"
}

// VertexPredictPath returns the path of a Google publisher model's :predict
// method (Vertex AI embeddings). Each argument is one path segment and is
// percent-encoded as such.
func VertexPredictPath(projectID, region, model string) string {
	b := vertexLocationPath("/v1", projectID, region)
	b = append(b, "/publishers/google/models/"...)
	b = appendPathSegment(b, model)
	return string(append(b, ":predict"...))
}

// VertexChatPath returns the path of Vertex AI's OpenAI-compatible chat
// completions endpoint. Its body is OpenAI Chat with a publisher-prefixed
// model ("google/gemini-2.5-flash").
func VertexChatPath(projectID, region string) string {
	b := vertexLocationPath("/v1beta1", projectID, region)
	return string(append(b, "/endpoints/openapi/chat/completions"...))
}

func vertexLocationPath(version, projectID, region string) []byte {
	b := make([]byte, 0, 128)
	b = append(b, version...)
	b = append(b, "/projects/"...)
	b = appendPathSegment(b, projectID)
	b = append(b, "/locations/"...)
	return appendPathSegment(b, region)
}
