package host

import (
	"crypto/rand"
	"encoding/binary"
	"sort"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// envoyWASI is proxy-wasm-cpp-host's hand-written wasi_snapshot_preview1
// (HOST src/exports.cc, docs/proxy-wasm-abi.md#wasi): the 18 functions of
// c4d7bb0 (#427) for Envoy 1.33–1.38, plus the stubs of 94091cd (#533)
// for EnvoyFixed. A module importing anything else fails to link.
func envoyWASI(p Profile) []hostFunc {
	// fd_seek, fd_close and proc_exit only log (and succeed). proc_exit
	// does not abort the VM in cpp-host.
	trace := func(name string) func(*VM, []uint64) uint32 {
		return func(vm *VM, _ []uint64) uint32 {
			vm.logf(LogTrace, "wasi_unstable "+name)
			return errnoSuccess
		}
	}
	fs := []hostFunc{
		{"fd_write", i32s(4), ret32, wasiFdWrite},
		{"fd_read", i32s(4), ret32, answer(errnoNosys)}, // "Don't support reading of any files."
		{"fd_seek", sig("i32,i64,i32,i32"), ret32, trace("fd_seek")},
		{"fd_close", i32s(1), ret32, trace("fd_close")},
		{"fd_fdstat_get", i32s(2), ret32, func(vm *VM, s []uint64) uint32 {
			// Only stdout and stderr: rights_base = FD_WRITE (64).
			if fd := uint32(s[0]); fd != 1 && fd != 2 {
				return errnoBadf
			}
			p := uint32(s[1])
			return okOrFault(vm.putU64(p, 0) && vm.putU64(p+8, 64) && vm.putU64(p+16, 0))
		}},
		{"fd_fdstat_set_flags", i32s(2), ret32, answer(errnoNosys)},
		{"environ_get", i32s(2), ret32, wasiEnvironGet},
		{"environ_sizes_get", i32s(2), ret32, func(vm *VM, s []uint64) uint32 {
			env := envList(vm.cfg.Env)
			size := 0
			for _, e := range env {
				size += len(e) + 1
			}
			return okOrFault(vm.putU32(uint32(s[0]), uint32(len(env))) && vm.putU32(uint32(s[1]), uint32(size)))
		}},
		{"args_get", i32s(2), ret32, answer(errnoSuccess)},
		{"args_sizes_get", i32s(2), ret32, func(vm *VM, s []uint64) uint32 {
			return okOrFault(vm.putU32(uint32(s[0]), 0) && vm.putU32(uint32(s[1]), 0))
		}},
		{"clock_time_get", sig("i32,i64,i32"), ret32, func(vm *VM, s []uint64) uint32 {
			var now uint64
			switch uint32(s[0]) {
			case 0: // realtime
				now = uint64(time.Now().UnixNano())
			case 1: // monotonic
				now = uint64(time.Since(processStart)) + monotonicBase
			default:
				return errnoNotsup
			}
			return okOrFault(vm.putU64(uint32(s[2]), now))
		}},
		{"random_get", i32s(2), ret32, func(vm *VM, s []uint64) uint32 {
			n := uint32(s[1])
			if n > 64<<10 {
				return errnoInval
			}
			b, ok := vm.read(uint32(s[0]), n)
			if ok {
				_, _ = rand.Read(b)
			}
			return okOrFault(ok)
		}},
		{"sched_yield", nil, ret32, answer(errnoSuccess)},
		{"poll_oneoff", i32s(4), ret32, func(vm *VM, s []uint64) uint32 {
			if p == Envoy {
				// c4d7bb0: ENOSYS, nevents untouched. Go's runtime throws
				// "poll_oneoff failed" on it (golang/go#78513).
				return errnoNosys
			}
			// #533: success with no events (does not sleep).
			return okOrFault(vm.putU32(uint32(s[3]), 0))
		}},
		{"proc_exit", i32s(1), nil, trace("proc_exit")},
		{"path_open", sig("i32,i32,i32,i32,i32,i64,i64,i32,i32"), ret32, answer(errnoNoent)},
		{"fd_prestat_get", i32s(2), ret32, answer(errnoBadf)},
		{"fd_prestat_dir_name", i32s(3), ret32, answer(errnoNosys)},
	}
	if p == EnvoyFixed {
		// #533 stubs. Their bodies are not in the reference notes
		// ("ENOTSUP-ish"); they answer ENOTSUP. path_link and path_symlink
		// are declared with one parameter too few (6 and 4 i32), so a
		// module importing them fails to link, as on V8.
		for _, st := range []struct{ name, params string }{
			{"clock_res_get", "i32,i32"}, {"fd_advise", "i32,i64,i64,i32"}, {"fd_allocate", "i32,i64,i64"},
			{"fd_datasync", "i32"}, {"fd_fdstat_set_rights", "i32,i64,i64"}, {"fd_filestat_get", "i32,i32"},
			{"fd_filestat_set_size", "i32,i64"}, {"fd_filestat_set_times", "i32,i64,i64,i32"},
			{"fd_pread", "i32,i32,i32,i64,i32"}, {"fd_pwrite", "i32,i32,i32,i64,i32"},
			{"fd_readdir", "i32,i32,i32,i64,i32"}, {"fd_renumber", "i32,i32"}, {"fd_sync", "i32"},
			{"fd_tell", "i32,i32"}, {"path_create_directory", "i32,i32,i32"},
			{"path_filestat_get", "i32,i32,i32,i32,i32"}, {"path_filestat_set_times", "i32,i32,i32,i32,i64,i64,i32"},
			{"path_link", "i32,i32,i32,i32,i32,i32"}, {"path_readlink", "i32,i32,i32,i32,i32,i32"},
			{"path_remove_directory", "i32,i32,i32"}, {"path_rename", "i32,i32,i32,i32,i32,i32"},
			{"path_symlink", "i32,i32,i32,i32"}, {"path_unlink_file", "i32,i32,i32"},
			{"sock_accept", "i32,i32,i32"}, {"sock_recv", "i32,i32,i32,i32,i32,i32"},
			{"sock_send", "i32,i32,i32,i32,i32"}, {"sock_shutdown", "i32,i32"},
		} {
			fs = append(fs, hostFunc{st.name, sig(st.params), ret32, answer(errnoNotsup)})
		}
	}
	return fs
}

var (
	processStart = time.Now()
	// monotonicBase keeps monotonic time away from zero, as a real clock.
	monotonicBase = uint64(time.Hour)
)

// okOrFault is errno SUCCESS if the guest memory access succeeded.
func okOrFault(ok bool) uint32 {
	if ok {
		return errnoSuccess
	}
	return errnoFault
}

func sig(params string) []api.ValueType {
	var t []api.ValueType
	for _, p := range strings.Split(params, ",") {
		if p == "i64" {
			t = append(t, i64)
		} else {
			t = append(t, i32)
		}
	}
	return t
}

// wasiFdWrite sends fd 1 to the info log and fd 2 to the error log, one
// line per call with a trailing newline removed; other fds are EBADF
// (HOST writevImpl).
func wasiFdWrite(vm *VM, s []uint64) uint32 {
	level := LogInfo
	switch uint32(s[0]) {
	case 1:
	case 2:
		level = LogError
	default:
		return errnoBadf
	}
	iovs, n := uint32(s[1]), uint32(s[2])
	var b []byte
	for i := uint32(0); i < n; i++ {
		vec, ok := vm.read(iovs+8*i, 8)
		if !ok {
			return errnoFault
		}
		ptr, l := binary.LittleEndian.Uint32(vec), binary.LittleEndian.Uint32(vec[4:])
		if l == 0 {
			continue
		}
		data, ok := vm.read(ptr, l)
		if !ok {
			return errnoFault
		}
		b = append(b, data...)
	}
	if len(b) > 0 {
		vm.logf(level, strings.TrimSuffix(string(b), "\n"))
	}
	return okOrFault(vm.putU32(uint32(s[3]), uint32(len(b))))
}

func wasiEnvironGet(vm *VM, s []uint64) uint32 {
	arr, buf := uint32(s[0]), uint32(s[1])
	for _, e := range envList(vm.cfg.Env) {
		if !vm.putU32(arr, buf) || !vm.mem.WriteString(buf, e) || !vm.mem.WriteByte(buf+uint32(len(e)), 0) {
			return errnoFault
		}
		arr += 4
		buf += uint32(len(e)) + 1
	}
	return errnoSuccess
}

// envList renders the environment as sorted "k=v" strings.
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
