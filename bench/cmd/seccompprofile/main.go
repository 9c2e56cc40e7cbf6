// Command seccompprofile reads an OCI config.json on stdin, sets
// linux.seccomp to docker's default seccomp profile for that spec (moby's
// profiles/seccomp, which takes the spec's capabilities and architecture into
// account) and writes the config to stdout. Used by bench/run:
//
//	go run ./bench/cmd/seccompprofile < config.json > config.seccomp.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seccompprofile:", err)
		os.Exit(1)
	}
}

func run() error {
	var spec specs.Spec
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		return fmt.Errorf("reading config.json from stdin: %w", err)
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	p, err := mobyseccomp.GetDefaultProfile(&spec)
	if err != nil {
		return fmt.Errorf("docker's default profile: %w", err)
	}
	spec.Linux.Seccomp = p
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "\t")
	return enc.Encode(&spec)
}
