package ratelimit

import (
	"strings"
	"testing"
)

func TestCostExpr(t *testing.T) {
	u := Usage{PromptTokens: 100, CompletionTokens: 30, TotalTokens: 130, CacheReadTokens: 40, CacheCreationTokens: 10, ReasoningTokens: 5}
	tests := []struct {
		expr string
		u    Usage
		want int64
	}{
		{"total_tokens", u, 130},
		{"prompt_tokens + completion_tokens", u, 130},
		{"input_tokens + cache_creation_input_tokens + output_tokens", u, 50 + 10 + 30}, // APISIX's example, Anthropic's sense of input_tokens
		{"prompt_tokens - cache_read_input_tokens * 0.9", u, 64},
		{"cached_tokens", u, 40},
		{"reasoning_tokens * 2", u, 10},
		{"2 + 3 * 4", u, 14},
		{"(2 + 3) * 4", u, 20},
		{"10 - 4 - 3", u, 3}, // left-associative
		{"100 / 10 / 5", u, 2},
		{"-3 + 10", u, 7},
		{"- -4", u, 4},
		{"+4", u, 4},
		{"1.5e1", u, 15},
		{".5 + .5", u, 1},
		{"abs(completion_tokens - prompt_tokens)", u, 70},
		{"ceil(total_tokens / 100)", u, 2},
		{"floor(total_tokens / 100)", u, 1},
		{"max(prompt_tokens, completion_tokens * 4, 7)", u, 120},
		{"min(prompt_tokens, completion_tokens)", u, 30},
		{"max(1)", u, 1},
		{"math.floor(total_tokens / 100) + math.max(1, 2)", u, 3},
		{"  total_tokens\t/ 2\n", u, 65},
		// Rounded to the nearest integer, halves up; negative is 0.
		{"2.5", u, 3},
		{"2.49", u, 2},
		{"completion_tokens - prompt_tokens", u, 0},
		{"1 / 0", u, 0},
		{"0 / 0", u, 0},
		// A variable the response did not report counts 0.
		{"cache_read_input_tokens + 1", Usage{}, 1},
		{"total_tokens", Usage{PromptTokens: 3, CompletionTokens: 4}, 7},
		{"input_tokens", Usage{PromptTokens: 3, CacheReadTokens: 5}, 0},
	}
	for _, tt := range tests {
		e, err := Compile(tt.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.expr, err)
			continue
		}
		if got := e.Eval(tt.u); got != tt.want {
			t.Errorf("%q = %d, want %d", tt.expr, got, tt.want)
		}
	}
}

// A bad expression is refused at configure time with the byte where it
// goes wrong.
func TestCostExprErrors(t *testing.T) {
	tests := []struct {
		expr string
		pos  int
		msg  string
	}{
		{"", 0, "empty"},
		{"   ", 0, "empty"},
		{"total_tokens +", 14, "expected a number"},
		{"total_tokens + * 2", 15, `unexpected '*'`},
		{"(total_tokens", 13, `missing ')' for the '(' at byte 0`},
		{"total_tokens)", 12, `unexpected ')'`},
		{"total_tokens 2", 13, `unexpected '2'`},
		{"prompt_tokens + tokens", 16, `unknown variable "tokens"`},
		{"1 + sqrt(4)", 4, `unknown function "sqrt"`},
		{"abs(1, 2)", 0, "abs takes one argument, got 2"},
		{"max()", 4, "expected a number"},
		{"max(1, 2", 8, `missing ')' for the '(' at byte 3`},
		{"1..2", 0, `"1..2" is not a number`},
		{"2 ^ 3", 2, `unexpected '^'`},
		{"total_tokens % 2", 13, `unexpected '%'`},
		{"math.sqrt(1)", 0, `unknown function "sqrt"`},
		{"math.pi", 0, `unknown variable "pi"`},
		{"$x", 0, `unexpected '$'`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.expr)
		ee, ok := err.(*ExprError)
		if !ok {
			t.Errorf("Compile(%q) = %v, want an ExprError", tt.expr, err)
			continue
		}
		if ee.Pos != tt.pos || !strings.Contains(ee.Msg, tt.msg) {
			t.Errorf("Compile(%q) = at %d %q, want at %d %q", tt.expr, ee.Pos, ee.Msg, tt.pos, tt.msg)
		}
	}
}

func TestTemplate(t *testing.T) {
	vars := map[string]string{"http_x_user": "ann", "arg_team": "red", "uri": "/v1/chat/completions"}
	lookup := func(name string) string { return vars[name] }
	known := func(name string) bool { return name != "remote_port" }
	tests := []struct {
		tmpl     string
		want     string
		resolved int
	}{
		{"$http_x_user", "ann", 1},
		{"${http_x_user}", "ann", 1},
		{"$http_x_user $arg_team", "ann red", 2},
		{"${http_x_user}-x", "ann-x", 1},
		{"$http_x_missing", "", 0},
		{"$http_x_missing $http_x_user", " ann", 1},
		{"constant", "constant", 0},
		{"60", "60", 0},
	}
	for _, tt := range tests {
		tm, err := ParseTemplate(tt.tmpl, known)
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tt.tmpl, err)
			continue
		}
		if got, n := tm.Resolve(lookup); got != tt.want || n != tt.resolved {
			t.Errorf("%q resolves to (%q, %d), want (%q, %d)", tt.tmpl, got, n, tt.want, tt.resolved)
		}
	}
	for _, bad := range []string{"${http_x", "$", "a $ b", "$remote_port"} {
		if _, err := ParseTemplate(bad, known); err == nil {
			t.Errorf("ParseTemplate(%q) accepted", bad)
		}
	}
}
