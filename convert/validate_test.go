package convert

import (
	"strings"
	"testing"
)

// A converter refuses a request member of the wrong shape, naming it and
// what it must be, instead of dropping it: an answer made without the
// client's tools or stop sequences would look like a success.
func TestMalformedMembersAreRefused(t *testing.T) {
	const anthropicMsgs = `"max_tokens":10,"messages":[{"role":"user","content":"q"}]`
	const openAIMsgs = `"messages":[{"role":"user","content":"q"}]`
	tests := []struct {
		name             string
		client, upstream Protocol
		in, wantErr      string
	}{
		// Anthropic client, OpenAI upstream.
		{"tools string", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":"search"}`, "tools must be an array of tool objects, got a string"},
		{"tools object", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":{"name":"search"}}`, "tools must be an array of tool objects, got an object"},
		{"tools items", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[1,"x",null]}`, "tools[0] must be a tool object, got a number"},
		{"tool null item", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[{"name":"f"},null]}`, "tools[1] must be a tool object, got null"},
		{"tool without name", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[{"input_schema":{}}]}`, "tools[0].name is required"},
		{"tool name number", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[{"name":5}]}`, "tools[0].name must be a non-empty string, got a number"},
		{"tool schema string", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[{"name":"f","input_schema":"{}"}]}`, "tools[0].input_schema must be a JSON schema object, got a string"},
		{"tool type number", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[{"type":1,"name":"f"}]}`, "tools[0].type must be a string"},
		{"tool_choice string", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[{"name":"f"}],"tool_choice":"auto"}`, "tool_choice must be an object"},
		{"tool_choice type", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[{"name":"f"}],"tool_choice":{"type":"required"}}`, `tool_choice.type must be "auto", "any", "tool" or "none"`},
		{"tool_choice tool without name", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"tools":[{"name":"f"}],"tool_choice":{"type":"tool"}}`, "tool_choice.name must be"},
		{"system number", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"system":42}`, "system must be a string or an array of text blocks, got a number"},
		{"system object", AnthropicMessages, OpenAIChat, `{"system":{"text":"s"},` + anthropicMsgs + `}`, "system must be a string or an array of text blocks, got an object"},
		{"system block string", AnthropicMessages, OpenAIChat, `{"system":["s"],` + anthropicMsgs + `}`, "system[0] must be a content block object, got a string"},
		{"system block image", AnthropicMessages, OpenAIChat, `{"system":[{"type":"image","source":{}}],` + anthropicMsgs + `}`, `system[0].type must be "text"`},
		{"system text number", AnthropicMessages, OpenAIChat, `{"system":[{"type":"text","text":1}],` + anthropicMsgs + `}`, "system[0].text must be a string"},
		{"messages object", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":{"role":"user"}}`, "messages must be an array of messages, got an object"},
		{"message string", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":["hi"]}`, "messages[0] must be a message object, got a string"},
		{"message without content", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user"}]}`, "messages[0].content is required"},
		{"content number", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":3}]}`, "messages[0].content must be a string or an array of content blocks, got a number"},
		{"content block number", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":[1]}]}`, "messages[0].content[0] must be a content block object, got a number"},
		{"content block without type", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type must be a string"},
		{"text block without text", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":null}]}]}`, "messages[0].content[0].text must be a string"},
		{"assistant block", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[null]}]}`, "messages[1].content[0] must be a content block object, got null"},
		{"tool_use input string", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":"{}"}]}]}`, "messages[0].content[0].input must be an object"},
		{"tool_use without id", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]}`, "messages[0].content[0].id must be a string"},
		{"tool_result without id", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"r"}]}]}`, "messages[0].content[0].tool_use_id must be a string"},
		{"tool_result content number", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":7}]}]}`, "messages[0].content[0].content must be a string or an array of content blocks, got a number"},
		{"tool_result inner block", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":["r"]}]}]}`, "messages[0].content[0].content[0] must be a content block object, got a string"},
		{"image without source", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":[{"type":"image"}]}]}`, "messages[0].content[0].source must be an object"},
		{"role missing", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"content":"x"}]}`, `messages[0].role must be "user" or "assistant", got none`},
		{"stop_sequences string", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"stop_sequences":"END"}`, "stop_sequences must be an array of strings, got a string"},
		{"stop_sequences item", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"stop_sequences":["END",1]}`, "stop_sequences[1] must be a string, got a number"},
		{"metadata string", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"metadata":"u"}`, "metadata must be an object, got a string"},
		{"metadata user_id number", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"metadata":{"user_id":1}}`, "metadata.user_id must be a string, got a number"},
		{"max_tokens string", AnthropicMessages, OpenAIChat, `{"max_tokens":"10","messages":[{"role":"user","content":"q"}]}`, "max_tokens must be a number, got a string"},
		{"temperature string", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"temperature":"hot"}`, "temperature must be a number, got a string"},
		{"stream string", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"stream":"true"}`, "stream must be a boolean, got a string"},
		{"thinking string", AnthropicMessages, OpenAIChat, `{` + anthropicMsgs + `,"thinking":"on"}`, "thinking must be an object, got a string"},

		// OpenAI client, Anthropic upstream.
		{"openai tools string", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tools":"search"}`, "tools must be an array of tool objects, got a string"},
		{"openai tools items", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tools":[1]}`, "tools[0] must be a tool object, got a number"},
		{"openai tool without type", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tools":[{"function":{"name":"f"}}]}`, "tools[0].type must be a string"},
		{"openai tool function string", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tools":[{"type":"function","function":"f"}]}`, "tools[0].function must be an object, got a string"},
		{"openai tool without name", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name is required"},
		{"openai tool parameters", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`, "tools[0].function.parameters must be a JSON schema object, got an array"},
		{"openai tool_choice word", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"any"}`, `tool_choice must be "none", "auto", "required"`},
		{"openai tool_choice number", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tool_choice":1}`, "tool_choice must be"},
		{"openai tool_choice function without name", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function"}}`, "tool_choice.function.name must be"},
		{"openai stop number", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"stop":1}`, "stop must be a string or an array of strings, got a number"},
		{"openai stop item", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"stop":[null]}`, "stop[0] must be a string, got null"},
		{"openai max_tokens string", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"max_tokens":"5"}`, "max_tokens must be a number, got a string"},
		{"openai stream_options", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"stream_options":true}`, "stream_options must be an object, got a boolean"},
		{"openai parallel_tool_calls", OpenAIChat, AnthropicMessages, `{` + openAIMsgs + `,"parallel_tool_calls":"no"}`, "parallel_tool_calls must be a boolean, got a string"},
		{"openai messages object", OpenAIChat, AnthropicMessages, `{"messages":{}}`, "messages must be an array of messages, got an object"},
		{"openai message string", OpenAIChat, AnthropicMessages, `{"messages":["hi"]}`, "messages[0] must be a message object, got a string"},
		{"openai content number", OpenAIChat, AnthropicMessages, `{"messages":[{"role":"user","content":1}]}`, "messages[0].content must be a string or an array of content parts, got a number"},
		{"openai content part", OpenAIChat, AnthropicMessages, `{"messages":[{"role":"user","content":["hi"]}]}`, "messages[0].content[0] must be a content part object, got a string"},
		{"openai tool_calls object", OpenAIChat, AnthropicMessages, `{"messages":[{"role":"assistant","tool_calls":{}}]}`, "messages[0].tool_calls must be an array of tool calls, got an object"},

		// OpenAI client, Bedrock upstream.
		{"bedrock tools string", OpenAIChat, BedrockConverse, `{` + openAIMsgs + `,"tools":"search"}`, "tools must be an array of tool objects, got a string"},
		{"bedrock tools object", OpenAIChat, BedrockConverse, `{` + openAIMsgs + `,"tools":{"type":"function"}}`, "tools must be an array of tool objects, got an object"},
		{"bedrock tools items", OpenAIChat, BedrockConverse, `{` + openAIMsgs + `,"tools":[1,"x",null]}`, "tools[0] must be a tool object, got a number"},
		{"bedrock tool without name", OpenAIChat, BedrockConverse, `{` + openAIMsgs + `,"tools":[{"type":"function","function":{"name":""}}]}`, "tools[0].function.name must be a non-empty string"},
		{"bedrock tool_choice number", OpenAIChat, BedrockConverse, `{` + openAIMsgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":2}`, "tool_choice must be"},
		{"bedrock stop object", OpenAIChat, BedrockConverse, `{` + openAIMsgs + `,"stop":{"a":1}}`, "stop must be a string or an array of strings, got an object"},
		{"bedrock temperature string", OpenAIChat, BedrockConverse, `{` + openAIMsgs + `,"temperature":"0.5"}`, "temperature must be a number, got a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := request(mustNew(t, tt.client, tt.upstream), []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v (out %s), want it to contain %q", err, out, tt.wantErr)
			}
		})
	}
}

// Members of the right shape, null optional members and server tools
// still convert.
func TestWellFormedMembersStillConvert(t *testing.T) {
	tests := []struct {
		name             string
		client, upstream Protocol
		in               string
	}{
		{"anthropic nulls", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":"q"}],"system":null,"tools":null,"tool_choice":null,"metadata":null,"stop_sequences":null,"temperature":null}`},
		{"anthropic server tool", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":"q"}],"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}]}`},
		{"anthropic thinking block", AnthropicMessages, OpenAIChat, `{"max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"a"}]}]}`},
		{"openai nulls", OpenAIChat, AnthropicMessages, `{"messages":[{"role":"assistant","content":null,"tool_calls":null},{"role":"user","content":"q"}],"stop":null,"tools":null,"tool_choice":null,"user":null}`},
		{"openai custom tool", OpenAIChat, AnthropicMessages, `{"messages":[{"role":"user","content":"q"}],"tools":[{"type":"custom","custom":{"name":"c"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`},
		{"bedrock stop string", OpenAIChat, BedrockConverse, `{"messages":[{"role":"user","content":"q"}],"stop":"END","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := request(mustNew(t, tt.client, tt.upstream), []byte(tt.in)); err != nil {
				t.Fatalf("%v (out %s)", err, out)
			}
		})
	}
}
