package resourceserver_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/fosite-mcp/fosite-mcp"

// TestDependencies_ResourceServerInAnotherProcess pins what a resource server in another
// process links when it imports this package and provider/jwtaccess (JWTs verified with
// jwtaccess.RemoteKeySet, or opaque tokens through introspection): none of the
// authorization server (provider, fosite's compose), registration, CIMD, rate limiting,
// compat or the storage. This package alone, and the SDK adapters (gosdk, mcpgo,
// sessions), link no fosite at all.
func TestDependencies_ResourceServerInAnotherProcess(t *testing.T) {
	forbidden := []string{
		module + "/mcp", module + "/mcp/registration", module + "/mcp/cimd", module + "/mcp/ratelimit",
		module + "/compat", module + "/storage/gorm", module + "/provider",
		"github.com/ory/fosite/compose", "gorm.io/gorm",
	}
	for _, tc := range []struct {
		name     string
		pkgs     []string
		noFosite bool
	}{
		{"resourceserver", []string{module + "/mcp/resourceserver"}, true},
		{"resourceserver+jwtaccess", []string{module + "/mcp/resourceserver", module + "/provider/jwtaccess"}, false},
		{"SDK adapters", []string{module + "/mcp/gosdk", module + "/mcp/mcpgo", module + "/mcp/sessions"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command("go", append([]string{"list", "-deps"}, tc.pkgs...)...).Output()
			if err != nil {
				t.Fatalf("go list -deps: %v", err)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 {
				t.Fatal("go list -deps listed nothing")
			}
			for _, d := range deps {
				for _, f := range forbidden {
					if d == f {
						t.Errorf("%v depends on %s", tc.pkgs, d)
					}
				}
				if tc.noFosite && strings.HasPrefix(d, "github.com/ory/") {
					t.Errorf("%v depends on %s", tc.pkgs, d)
				}
			}
		})
	}
}
