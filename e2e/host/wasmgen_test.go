package host_test

import (
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// A tiny wasm assembler for modules with exactly the imports and exports a
// link test needs.

// wfn is an imported function (module set) or an exported one, whose body
// calls other functions with constant arguments and returns ret.
type wfn struct {
	module, name    string
	params, results string // "i32,i64"
	calls           []wcall
	ret             int64
}

type wcall struct {
	fn   string // "module.name" for imports, the export name otherwise
	args []int64
}

func types(s string) []api.ValueType {
	var t []api.ValueType
	for _, p := range strings.Split(s, ",") {
		switch p {
		case "i32":
			t = append(t, api.ValueTypeI32)
		case "i64":
			t = append(t, api.ValueTypeI64)
		}
	}
	return t
}

func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func wname(b []byte, s string) []byte { return append(uleb(b, uint64(len(s))), s...) }

func section(b []byte, id byte, payload []byte) []byte {
	return append(uleb(append(b, id), uint64(len(payload))), payload...)
}

// wasmModule assembles a module with one page of exported memory if mem.
func wasmModule(imports, exports []wfn, mem bool) []byte {
	all := append(append([]wfn(nil), imports...), exports...)
	index := map[string]int{}
	for i, f := range all {
		if f.module != "" {
			index[f.module+"."+f.name] = i
		} else {
			index[f.name] = i
		}
	}
	var ty []byte
	ty = uleb(ty, uint64(len(all)))
	for _, f := range all {
		ty = append(ty, 0x60)
		for _, ts := range []string{f.params, f.results} {
			vt := types(ts)
			ty = uleb(ty, uint64(len(vt)))
			ty = append(ty, vt...)
		}
	}
	var im []byte
	im = uleb(im, uint64(len(imports)))
	for i, f := range imports {
		im = append(wname(wname(im, f.module), f.name), 0x00)
		im = uleb(im, uint64(i))
	}
	var fn []byte
	fn = uleb(fn, uint64(len(exports)))
	for i := range exports {
		fn = uleb(fn, uint64(len(imports)+i))
	}
	var ex []byte
	n := len(exports)
	if mem {
		n++
	}
	ex = uleb(ex, uint64(n))
	for i, f := range exports {
		ex = append(wname(ex, f.name), 0x00)
		ex = uleb(ex, uint64(len(imports)+i))
	}
	if mem {
		ex = append(wname(ex, "memory"), 0x02, 0x00)
	}
	var code []byte
	code = uleb(code, uint64(len(exports)))
	for _, f := range exports {
		body := []byte{0x00} // no locals
		for _, c := range f.calls {
			callee := all[index[c.fn]]
			for i, t := range types(callee.params) {
				var a int64
				if i < len(c.args) {
					a = c.args[i]
				}
				if t == api.ValueTypeI64 {
					body = sleb(append(body, 0x42), a)
				} else {
					body = sleb(append(body, 0x41), a)
				}
			}
			body = uleb(append(body, 0x10), uint64(index[c.fn]))
			if callee.results != "" {
				body = append(body, 0x1a) // drop
			}
		}
		switch f.results {
		case "i32":
			body = sleb(append(body, 0x41), f.ret)
		case "i64":
			body = sleb(append(body, 0x42), f.ret)
		}
		body = append(body, 0x0b)
		code = append(uleb(code, uint64(len(body))), body...)
	}
	b := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	b = section(b, 1, ty)
	b = section(b, 2, im)
	b = section(b, 3, fn)
	if mem {
		b = section(b, 5, []byte{0x01, 0x00, 0x01})
	}
	b = section(b, 7, ex)
	return section(b, 10, code)
}

// minimal returns the exports every proxy-wasm module needs.
// minimal returns the exports every proxy-wasm module needs, replaced by
// those in extra with the same name.
func minimal(extra ...wfn) []wfn {
	out := append([]wfn(nil), extra...)
	for _, d := range []wfn{
		{name: "proxy_abi_version_0_2_1"},
		{name: "proxy_on_memory_allocate", params: "i32", results: "i32", ret: 1024},
		{name: "proxy_on_configure", params: "i32,i32", results: "i32", ret: 1},
	} {
		found := false
		for _, e := range extra {
			found = found || e.name == d.name
		}
		if !found {
			out = append(out, d)
		}
	}
	return out
}
