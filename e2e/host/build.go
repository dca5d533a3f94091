package host

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildWasm builds the Go package in pkgDir as a proxy-wasm module the way
// the filter ships: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared
// -trimpath, with optional build tags. The output goes to a temporary
// directory that is removed afterwards.
func BuildWasm(pkgDir string, tags ...string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "host-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "module.wasm")
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(goTool(), append(args, ".")...)
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("host: building %s for wasip1: %v\n%s", pkgDir, err, b)
	}
	return os.ReadFile(out)
}

// goTool is the go command of the running toolchain if it can be found.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
