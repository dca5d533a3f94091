package envoy

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Envoy ships for (proc(5)).
const clockTicks = 100

// Pid is Envoy's process id.
func (e *Envoy) Pid() int { return e.cmd.Process.Pid }

// Wait blocks until Envoy exits and returns how it ended (an
// *exec.ExitError for a non-zero status).
func (e *Envoy) Wait() error {
	<-e.exited
	return e.err
}

// CPUTime is the CPU time Envoy has used so far, user plus system, all
// threads, from /proc/<pid>/stat (fields 14 and 15, proc(5)).
func (e *Envoy) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.Pid()))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing parenthesis, which is field 3.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name", e.Pid(), len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", e.Pid(), f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// RSS is Envoy's resident memory in bytes (VmRSS of /proc/<pid>/status).
func (e *Envoy) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.Pid()))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", e.Pid())
}

// BinaryAt returns the Envoy at path with its version, for programs that
// run Envoy outside tests (make run HOST=envoy, make bench-envoy).
func BinaryAt(path string) (Binary, error) {
	v, err := Version(path)
	if err != nil {
		return Binary{}, fmt.Errorf("%v; install the pinned versions with `make envoy` or set ENVOY_BIN=/path/to/envoy", err)
	}
	return Binary{Version: v, Path: path}, nil
}
