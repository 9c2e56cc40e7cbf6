package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change a running container's resource limits",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "JSON LinuxResources from a file, or - for stdin"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight, 10-1000"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period (µs)"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota (µs), -1 for none"},
		&cli.StringFlag{Name: "cpu-burst", Usage: "CPU CFS burst (µs)"},
		&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpu-rt-period", Usage: "CPU realtime period (µs)"},
		&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "CPU realtime runtime (µs)"},
		&cli.StringFlag{Name: "cpu-idle", Usage: "CPU idle policy (0 or 1)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use (e.g. 0-1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (bytes, or with k/m/g), -1 for none"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit, -1 for none"},
		&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of processes, -1 for none"},
		&cli.StringFlag{Name: "l3-cache-schema", Usage: "not supported"},
		&cli.StringFlag{Name: "mem-bw-schema", Usage: "not supported"},
	},
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		res, err := updateResources(c)
		if err != nil {
			return err
		}
		return libcontainer.Update(c.String("root"), id, res)
	},
}

// updateResources reads --resources, then lets each flag override it.
func updateResources(c *cli.Context) (*specs.LinuxResources, error) {
	res := &specs.LinuxResources{}
	if path := c.String("resources"); path != "" {
		var r io.Reader = os.Stdin
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("update: --resources: %w", err)
			}
			defer f.Close()
			r = f
		}
		if err := json.NewDecoder(r).Decode(res); err != nil {
			return nil, fmt.Errorf("update: --resources %s: not LinuxResources JSON: %w", path, err)
		}
	}
	for _, unsupported := range []string{"l3-cache-schema", "mem-bw-schema"} {
		if c.IsSet(unsupported) {
			return nil, fmt.Errorf("update: --%s: Intel RDT is not supported", unsupported)
		}
	}
	mem := func() *specs.LinuxMemory {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		return res.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		return res.CPU
	}
	var err error
	for _, f := range []struct {
		name string
		set  func(string) error
	}{
		{"memory", func(v string) error { return setBytes(&mem().Limit, v) }},
		{"memory-reservation", func(v string) error { return setBytes(&mem().Reservation, v) }},
		{"memory-swap", func(v string) error { return setBytes(&mem().Swap, v) }},
		{"cpu-quota", func(v string) error { return setInt(&cpu().Quota, v) }},
		{"cpu-rt-runtime", func(v string) error { return setInt(&cpu().RealtimeRuntime, v) }},
		{"cpu-idle", func(v string) error { return setInt(&cpu().Idle, v) }},
		{"cpu-period", func(v string) error { return setUint(&cpu().Period, v) }},
		{"cpu-burst", func(v string) error { return setUint(&cpu().Burst, v) }},
		{"cpu-share", func(v string) error { return setUint(&cpu().Shares, v) }},
		{"cpu-rt-period", func(v string) error { return setUint(&cpu().RealtimePeriod, v) }},
		{"cpuset-cpus", func(v string) error { cpu().Cpus = v; return nil }},
		{"cpuset-mems", func(v string) error { cpu().Mems = v; return nil }},
		{"pids-limit", func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			res.Pids = &specs.LinuxPids{Limit: &n}
			return err
		}},
		{"blkio-weight", func(v string) error {
			n, err := strconv.ParseUint(v, 10, 16)
			w := uint16(n)
			res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
			return err
		}},
	} {
		if c.IsSet(f.name) {
			if err = f.set(c.String(f.name)); err != nil {
				return nil, fmt.Errorf("update: --%s %q: %w", f.name, c.String(f.name), err)
			}
		}
	}
	return res, nil
}

func setInt[T ~int64](dst **T, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("not a number")
	}
	t := T(n)
	*dst = &t
	return nil
}

func setUint(dst **uint64, v string) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("not a non-negative number")
	}
	*dst = &n
	return nil
}

// setBytes parses "-1", "1048576", "512k", "64m", "1g".
func setBytes(dst **int64, v string) error {
	mult := int64(1)
	s := strings.ToLower(strings.TrimSuffix(strings.ToLower(v), "b"))
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1<<10, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		mult, s = 1<<20, strings.TrimSuffix(s, "m")
	case strings.HasSuffix(s, "g"):
		mult, s = 1<<30, strings.TrimSuffix(s, "g")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not a size (bytes, or a number with k, m or g)")
	}
	if n > 0 {
		n *= mult
	}
	*dst = &n
	return nil
}
