package convert

// Writers shared by the translators that serve an OpenAI Chat Completions
// client (from Anthropic Messages and from Bedrock Converse). Both read the
// upstream's content as blocks (see block) and answer with the same
// chat.completion and chat.completion.chunk shapes.

// appendChatHead writes the fields a chat.completion or chat.completion.chunk
// starts with, up to and including `"choices":[`. id and model are JSON
// strings.
func appendChatHead(b []byte, object, id, model string, created int64) []byte {
	b = append(b, `{"id":`...)
	b = append(b, id...)
	b = append(b, `,"object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = appendInt(b, created)
	b = append(b, `,"model":`...)
	b = append(b, model...)
	return append(b, `,"choices":[`...)
}

// appendChatMessage writes a chat.completion choice's message from content
// blocks: the text blocks joined as content (null when there is none), the
// thinking blocks joined as reasoning_content, the tool_use blocks as
// tool_calls.
func appendChatMessage(b []byte, blocks []block) []byte {
	b = append(b, `{"role":"assistant","content":`...)
	b, _ = appendJoined(b, blocks, `"text"`, "null")
	mark := len(b)
	b = append(b, `,"reasoning_content":`...)
	if b2, n := appendJoined(b, blocks, `"thinking"`, ""); n > 0 {
		b = b2
	} else {
		b = b[:mark]
	}
	calls := 0
	for _, blk := range blocks {
		if blk.typ != `"tool_use"` {
			continue
		}
		if calls == 0 {
			b = append(b, `,"tool_calls":[`...)
		} else {
			b = append(b, ',')
		}
		calls++
		b = append(b, `{"id":`...)
		b = appendAsString(b, blk.id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendAsString(b, blk.name)
		b = append(b, `,"arguments":`...)
		b = appendJSONAsString(b, blk.input)
		b = append(b, "}}"...)
	}
	if calls > 0 {
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJoined writes one JSON string concatenating the text (or thinking)
// of the blocks of type typ, or none when there are none, and reports how
// many there were. The texts are joined escaped, as they stand in the input.
func appendJoined(b []byte, blocks []block, typ, none string) ([]byte, int) {
	n := 0
	for _, blk := range blocks {
		if blk.typ != typ {
			continue
		}
		if n == 0 {
			b = append(b, '"')
		}
		n++
		if typ == `"thinking"` {
			b = append(b, inner(blk.thinking)...)
		} else {
			b = append(b, inner(blk.text)...)
		}
	}
	if n == 0 {
		return append(b, none...), 0
	}
	return append(b, '"'), n
}

// The chunk writers below append one chat.completion.chunk event with one
// choice. head is "data: " and appendChatHead's output for the stream.

// appendDeltaChunk appends a chunk whose delta is deltaHead, the raw value
// s, then deltaTail.
func appendDeltaChunk(b, head []byte, deltaHead string, s []byte, deltaTail string) []byte {
	b = append(b, head...)
	b = append(b, `{"index":0,"delta":`...)
	b = append(b, deltaHead...)
	b = append(b, s...)
	b = append(b, deltaTail...)
	return append(b, `,"finish_reason":null}]}`+"\n\n"...)
}

// appendToolCallChunk appends the chunk that starts tool call index, with
// its id and name (raw values, written as strings) and no arguments yet.
func appendToolCallChunk(b, head []byte, index int64, id, name []byte) []byte {
	b = append(b, head...)
	b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":`...)
	b = appendInt(b, index)
	b = append(b, `,"id":`...)
	b = appendAsString(b, id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = appendAsString(b, name)
	return append(b, `,"arguments":""}}]},"finish_reason":null}]}`+"\n\n"...)
}

// appendArgumentsChunk appends a chunk with s, a JSON string, as the next
// fragment of tool call index's arguments.
func appendArgumentsChunk(b, head []byte, index int64, s []byte) []byte {
	b = append(b, head...)
	b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":`...)
	b = appendInt(b, index)
	b = append(b, `,"function":{"arguments":`...)
	b = append(b, s...)
	return append(b, `}}]},"finish_reason":null}]}`+"\n\n"...)
}

// appendFinishChunk appends the chunk with an empty delta and the finish
// reason.
func appendFinishChunk(b, head []byte, finish string) []byte {
	b = append(b, head...)
	b = append(b, `{"index":0,"delta":{},"finish_reason":"`...)
	b = append(b, finish...)
	return append(b, "\"}]}\n\n"...)
}

// appendChatUsage writes u as an OpenAI usage object with
// prompt_tokens_details always present, the way OpenAI sends it. Cache
// writes have no standard field; they go in
// prompt_tokens_details.cache_creation_tokens as Envoy AI Gateway does.
func appendChatUsage(b []byte, u Usage) []byte {
	b = appendUsageTotals(b, u)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, u.CacheReadTokens)
	if u.CacheCreationTokens > 0 {
		b = append(b, `,"cache_creation_tokens":`...)
		b = appendInt(b, u.CacheCreationTokens)
	}
	return append(b, "}}"...)
}

// appendOpenAIUsage writes u as the usage object Envoy AI Gateway gives
// Bedrock's OpenAI clients: prompt_tokens_details only for cache reads.
func appendOpenAIUsage(b []byte, u Usage) []byte {
	b = appendUsageTotals(b, u)
	if u.CacheReadTokens > 0 {
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = appendInt(b, u.CacheReadTokens)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendUsageTotals opens a usage object with its three totals.
func appendUsageTotals(b []byte, u Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, u.PromptTokens)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, u.CompletionTokens)
	b = append(b, `,"total_tokens":`...)
	return appendInt(b, u.TotalTokens)
}
