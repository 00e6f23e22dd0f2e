package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The binary must not link text/template (or html/template, built on it):
// its dynamic MethodByName makes the linker keep every exported method of
// every reachable type, which doubled cordon's size (59 MB to 118 MB, all
// of the EC2 client) and added tens of MB of RSS. OPA keeps its own
// method-less copy for the same reason; the report writes HTML itself.
func TestNoReflectiveTemplatesInTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "text/template" || pkg == "html/template" {
			t.Errorf("cordon links %s; render without it (see engine/report's HTML writer)", pkg)
		}
	}
}
