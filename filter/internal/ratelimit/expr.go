// Package ratelimit is the arithmetic of ai-rate-limiting's token budgets,
// without Wasm: cost expressions, variable templates and fixed-window
// counters in a shared key-value store with compare-and-swap. The filter's
// core decides when to check and charge them.
package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Usage is what a response reported, in the OpenAI sense: PromptTokens
// includes the tokens read from and written to a cache. It has the shape of
// convert.Usage, which converts to it.
type Usage struct {
	PromptTokens        int64
	CompletionTokens    int64
	TotalTokens         int64
	CacheReadTokens     int64
	CacheCreationTokens int64
	ReasoningTokens     int64
}

// Variables are the names a cost expression may read, as the providers'
// usage objects spell them: OpenAI's prompt_tokens (cache included) and
// Anthropic's input_tokens (cache excluded), completion_tokens and
// output_tokens for the same count.
var Variables = []string{
	"prompt_tokens", "completion_tokens", "total_tokens",
	"input_tokens", "output_tokens",
	"cache_read_input_tokens", "cache_creation_input_tokens", "cached_tokens",
	"reasoning_tokens",
}

func (u *Usage) value(name string) float64 {
	switch name {
	case "prompt_tokens":
		return float64(u.PromptTokens)
	case "completion_tokens", "output_tokens":
		return float64(u.CompletionTokens)
	case "total_tokens":
		if u.TotalTokens == 0 {
			return float64(u.PromptTokens + u.CompletionTokens)
		}
		return float64(u.TotalTokens)
	case "input_tokens":
		return float64(max(u.PromptTokens-u.CacheReadTokens-u.CacheCreationTokens, 0))
	case "cache_read_input_tokens", "cached_tokens":
		return float64(u.CacheReadTokens)
	case "cache_creation_input_tokens":
		return float64(u.CacheCreationTokens)
	case "reasoning_tokens":
		return float64(u.ReasoningTokens)
	}
	return 0 // a variable the response did not report counts 0
}

// Expr is a compiled cost_expr: arithmetic (+ - * / and parentheses) over
// numbers, usage Variables and the functions abs, ceil, floor, max and min,
// as APISIX's ai-rate-limiting evaluates it
// (https://apisix.apache.org/docs/apisix/plugins/ai-rate-limiting/).
type Expr struct {
	nodes []node
	root  int
}

type node struct {
	op   byte // 'n' number, 'v' variable, 'f' function, or + - * / and 'u' (negation)
	num  float64
	name string
	args []int // operands: indexes into nodes
}

// ExprError is a cost expression that does not compile: Pos is the byte
// offset (0-based) where it went wrong.
type ExprError struct {
	Pos int
	Msg string
}

func (e *ExprError) Error() string { return fmt.Sprintf("at byte %d: %s", e.Pos, e.Msg) }

var functions = map[string][2]int{ // name: least and most arguments (0: any)
	"abs": {1, 1}, "ceil": {1, 1}, "floor": {1, 1}, "max": {1, 0}, "min": {1, 0},
}

// Compile parses a cost expression.
func Compile(src string) (*Expr, error) {
	p := parser{src: src}
	p.skip()
	if p.pos == len(src) {
		return nil, &ExprError{0, "the expression is empty"}
	}
	root, err := p.sum()
	if err != nil {
		return nil, err
	}
	if p.pos < len(src) {
		return nil, &ExprError{p.pos, fmt.Sprintf("unexpected %q", src[p.pos])}
	}
	return &Expr{nodes: p.nodes, root: root}, nil
}

type parser struct {
	src   string
	pos   int
	nodes []node
}

func (p *parser) skip() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *parser) add(n node) int {
	p.nodes = append(p.nodes, n)
	return len(p.nodes) - 1
}

// sum := product (('+' | '-') product)*
func (p *parser) sum() (int, error) {
	return p.binary("+-", (*parser).product)
}

// product := unary (('*' | '/') unary)*
func (p *parser) product() (int, error) {
	return p.binary("*/", (*parser).unary)
}

func (p *parser) binary(ops string, operand func(*parser) (int, error)) (int, error) {
	l, err := operand(p)
	if err != nil {
		return 0, err
	}
	for p.pos < len(p.src) && strings.IndexByte(ops, p.src[p.pos]) >= 0 {
		op := p.src[p.pos]
		p.pos++
		p.skip()
		r, err := operand(p)
		if err != nil {
			return 0, err
		}
		l = p.add(node{op: op, args: []int{l, r}})
	}
	return l, nil
}

// unary := ('-' | '+') unary | primary
func (p *parser) unary() (int, error) {
	if p.pos < len(p.src) && (p.src[p.pos] == '-' || p.src[p.pos] == '+') {
		neg := p.src[p.pos] == '-'
		p.pos++
		p.skip()
		x, err := p.unary()
		if err != nil || !neg {
			return x, err
		}
		return p.add(node{op: 'u', args: []int{x}}), nil
	}
	return p.primary()
}

// primary := number | name | name '(' sum (',' sum)* ')' | '(' sum ')'
func (p *parser) primary() (int, error) {
	start := p.pos
	if start == len(p.src) {
		return 0, &ExprError{start, "expected a number, a variable, a function or '(' at the end"}
	}
	c := p.src[start]
	switch {
	case c == '(':
		p.pos++
		p.skip()
		x, err := p.sum()
		if err != nil {
			return 0, err
		}
		if err := p.expect(')', start); err != nil {
			return 0, err
		}
		return x, nil
	case c >= '0' && c <= '9' || c == '.':
		for p.pos < len(p.src) && (isDigit(p.src[p.pos]) || p.src[p.pos] == '.') {
			p.pos++
		}
		if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
			p.pos++
			if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
				p.pos++
			}
			for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
				p.pos++
			}
		}
		f, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, &ExprError{start, fmt.Sprintf("%q is not a number", p.src[start:p.pos])}
		}
		p.skip()
		return p.add(node{op: 'n', num: f}), nil
	case isNameStart(c):
		for p.pos < len(p.src) && (isNameStart(p.src[p.pos]) || isDigit(p.src[p.pos])) {
			p.pos++
		}
		name := p.src[start:p.pos]
		if name == "math" && p.pos < len(p.src) && p.src[p.pos] == '.' {
			// Lua's math.floor and friends, which APISIX's environment also has.
			p.pos++
			fn := p.pos
			for p.pos < len(p.src) && isNameStart(p.src[p.pos]) {
				p.pos++
			}
			name = p.src[fn:p.pos]
		}
		p.skip()
		if p.pos < len(p.src) && p.src[p.pos] == '(' {
			return p.call(name, start)
		}
		if !contains(Variables, name) {
			return 0, &ExprError{start, fmt.Sprintf("unknown variable %q; use %s", name, strings.Join(Variables, ", "))}
		}
		return p.add(node{op: 'v', name: name}), nil
	}
	return 0, &ExprError{start, fmt.Sprintf("unexpected %q; expected a number, a variable, a function or '('", c)}
}

func (p *parser) call(name string, start int) (int, error) {
	arity, ok := functions[name]
	if !ok {
		return 0, &ExprError{start, fmt.Sprintf("unknown function %q; use abs, ceil, floor, max or min", name)}
	}
	open := p.pos
	p.pos++
	p.skip()
	var args []int
	for {
		x, err := p.sum()
		if err != nil {
			return 0, err
		}
		args = append(args, x)
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			p.pos++
			p.skip()
			continue
		}
		break
	}
	if err := p.expect(')', open); err != nil {
		return 0, err
	}
	if len(args) < arity[0] || arity[1] > 0 && len(args) > arity[1] {
		return 0, &ExprError{start, fmt.Sprintf("%s takes %s, got %d", name, plural(arity), len(args))}
	}
	return p.add(node{op: 'f', name: name, args: args}), nil
}

func plural(arity [2]int) string {
	if arity[1] == 1 {
		return "one argument"
	}
	return "one or more arguments"
}

func (p *parser) expect(c byte, open int) error {
	if p.pos < len(p.src) && p.src[p.pos] == c {
		p.pos++
		p.skip()
		return nil
	}
	if p.pos == len(p.src) {
		return &ExprError{p.pos, fmt.Sprintf("missing %q for the %q at byte %d", c, p.src[open], open)}
	}
	return &ExprError{p.pos, fmt.Sprintf("unexpected %q; expected %q", p.src[p.pos], c)}
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isNameStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Eval is the cost of a response: the expression's value, 0 when it is
// negative or not finite (a division by zero), rounded to the nearest
// integer, halves up.
func (e *Expr) Eval(u Usage) int64 {
	v := e.eval(e.root, &u)
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	if v >= math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(math.Floor(v + 0.5))
}

func (e *Expr) eval(i int, u *Usage) float64 {
	n := &e.nodes[i]
	switch n.op {
	case 'n':
		return n.num
	case 'v':
		return u.value(n.name)
	case 'u':
		return -e.eval(n.args[0], u)
	case '+':
		return e.eval(n.args[0], u) + e.eval(n.args[1], u)
	case '-':
		return e.eval(n.args[0], u) - e.eval(n.args[1], u)
	case '*':
		return e.eval(n.args[0], u) * e.eval(n.args[1], u)
	case '/':
		return e.eval(n.args[0], u) / e.eval(n.args[1], u)
	}
	x := e.eval(n.args[0], u)
	switch n.name {
	case "abs":
		return math.Abs(x)
	case "ceil":
		return math.Ceil(x)
	case "floor":
		return math.Floor(x)
	}
	for _, a := range n.args[1:] {
		y := e.eval(a, u)
		if n.name == "max" {
			x = math.Max(x, y)
		} else {
			x = math.Min(x, y)
		}
	}
	return x
}
