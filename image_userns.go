package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/libcontainer"
)

func init() { image.UserNSPrefix = userNSPrefix }

// userNSPrefix is the command prefix that runs a command as root of a user
// namespace mapped as berth maps a non-root user's containers.
func userNSPrefix() ([]string, error) {
	uids, gids := libcontainer.AutoIDMaps()
	if len(uids) < 2 || len(gids) < 2 {
		return nil, errors.New("a non-root user needs newuidmap, newgidmap and a range in /etc/subuid and /etc/subgid to own an image's files")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("a non-root user needs unshare(1) (util-linux): %w", err)
	}
	return []string{unshare, "--map-root-user",
		fmt.Sprintf("--map-users=%d,%d,%d", uids[1].HostID, uids[1].ContainerID, uids[1].Size),
		fmt.Sprintf("--map-groups=%d,%d,%d", gids[1].HostID, gids[1].ContainerID, gids[1].Size), "--"}, nil
}

// inUserNS runs `berth image ARGS` for a non-root user again as root of a
// user namespace with the maps berth gives the user's containers (0 -> the
// user, 1..65536 -> its first /etc/subuid and /etc/subgid range), made by
// unshare(1) with newuidmap/newgidmap: there the puller can chown a layer's
// files to the ids the image names, which land in the user's subordinate
// range on the host, and image rm can remove them. dir is the store.
func inUserNS(dir string, args []string) error {
	prefix, err := userNSPrefix()
	if err != nil {
		return fmt.Errorf("image %s: %w", args[0], err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("image %s: %w", args[0], err)
	}
	cmd := exec.Command(prefix[0], append(prefix[1:], exe, "image")...)
	cmd.Args = append(cmd.Args, args...)
	cmd.Env = append(os.Environ(), "BERTH_DATA_DIR="+dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("image %s: %w", args[0], err)
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitCode(128 + int(ws.Signal()))
		}
		return exitCode(ee.ExitCode()) // it said why
	}
	if err != nil {
		return fmt.Errorf("image %s: %w", args[0], err)
	}
	return nil
}
