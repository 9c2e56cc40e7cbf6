package cgroups

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// blockIOSteps: v1 has blkio.* files (the weight ones are blkio.bfq.* when
// the BFQ scheduler provides them); v2 has io.weight (or io.bfq.weight,
// which takes v1's scale) and io.max.
func blockIOSteps(b *specs.LinuxBlockIO, v2 bool) []step {
	if b == nil {
		return nil
	}
	dev := func(major, minor int64, v string) string { return fmt.Sprintf("%d:%d %s", major, minor, v) }
	var out []step
	if v2 {
		if b.Weight != nil && *b.Weight != 0 || len(b.WeightDevice) > 0 {
			out = append(out, step{run: func(dir string) error { return setWeightV2(dir, b) }})
		}
		for _, t := range []struct {
			key  string
			devs []specs.LinuxThrottleDevice
		}{{"rbps", b.ThrottleReadBpsDevice}, {"wbps", b.ThrottleWriteBpsDevice}, {"riops", b.ThrottleReadIOPSDevice}, {"wiops", b.ThrottleWriteIOPSDevice}} {
			for _, d := range t.devs {
				out = append(out, step{file: "io.max", value: dev(d.Major, d.Minor, t.key+"="+strconv.FormatUint(d.Rate, 10))})
			}
		}
		return out
	}
	if b.Weight != nil && *b.Weight != 0 || len(b.WeightDevice) > 0 {
		out = append(out, step{ctrl: "blkio", run: func(dir string) error { return setWeightV1(dir, b) }})
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		out = append(out, step{ctrl: "blkio", file: "blkio.leaf_weight", value: strconv.FormatUint(uint64(*b.LeafWeight), 10)})
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice}, {"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice}, {"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			out = append(out, step{ctrl: "blkio", file: t.file, value: dev(d.Major, d.Minor, strconv.FormatUint(d.Rate, 10))})
		}
	}
	return out
}

func setWeightV1(dir string, b *specs.LinuxBlockIO) error {
	weight, perDevice := "blkio.weight", "blkio.weight_device"
	if _, err := os.Stat(dir + "/" + weight); errors.Is(err, os.ErrNotExist) {
		weight, perDevice = "blkio.bfq.weight", "blkio.bfq.weight_device"
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := writeFile(dir, weight, strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil && *d.Weight != 0 {
			if err := writeFile(dir, perDevice, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
				return err
			}
		}
		if d.LeafWeight != nil && *d.LeafWeight != 0 {
			if err := writeFile(dir, "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setWeightV2 prefers io.bfq.weight, on v1's 10-1000 scale, and takes
// per-device weights there when BFQ accepts them; io.weight gets the weight
// converted to 1-10000 (runc's formula).
func setWeightV2(dir string, b *specs.LinuxBlockIO) error {
	bfq, err := readFile(dir, "io.bfq.weight")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	hasBFQ := err == nil
	if b.Weight != nil && *b.Weight != 0 {
		if hasBFQ {
			err = writeFile(dir, "io.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10))
		} else {
			err = writeFile(dir, "io.weight", strconv.FormatUint(blkioToIOWeight(*b.Weight), 10))
		}
		if err != nil {
			return err
		}
	}
	// A BFQ that takes per-device weights shows "default N", not a number.
	if _, numeric := strconv.Atoi(bfq); !hasBFQ || numeric == nil {
		return nil
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil && *d.Weight != 0 {
			if err := writeFile(dir, "io.bfq.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
				return err
			}
		}
	}
	return nil
}

// blkioToIOWeight maps v1's 10-1000 onto io.weight's 1-10000.
func blkioToIOWeight(w uint16) uint64 {
	if w < 10 {
		w = 10
	}
	return 1 + (uint64(w)-10)*9999/990
}
