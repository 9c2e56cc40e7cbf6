package tests

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// 100 containers created, started and deleted in parallel all succeed, and
// list/state running meanwhile never fail nor print a half-written state.
func TestParallelChurn(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	const n = 100
	errs := make(chan string, n)
	stop := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Add(1)
	go func() {
		defer watchers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, serr, code := e.berth("list", "--format", "json")
			var list []map[string]any
			if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
				errs <- "list during churn: " + serr + out
				return
			}
			for _, c := range list {
				if c["id"] == "" || c["status"] == "" {
					errs <- "list printed a half-made entry: " + out
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id := "churn" + strconv.Itoa(i)
			if _, serr, code := e.berth("run", "--bundle", b, id); code != 0 {
				errs <- id + ": " + serr
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	watchers.Wait()
	close(errs)
	var all []string
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		t.Fatalf("%d failures, first: %s", len(all), all[0])
	}
	if out := e.mustBerth("list", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("containers left after the churn: %q", out)
	}
}

// 20 parallel creates of one ID: exactly one wins; the others say the ID is
// taken, and nothing of theirs is left.
func TestParallelCreateOneID(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, taken := 0, 0
	var other []string
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, serr, code := e.berth("create", "--bundle", b, "contested")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == 0:
				won++
			case strings.Contains(serr, "already exists"):
				taken++
			default:
				other = append(other, serr)
			}
		}()
	}
	wg.Wait()
	if won != 1 || taken != 19 || len(other) > 0 {
		t.Fatalf("won %d, taken %d, other %q; want exactly one winner", won, taken, other)
	}
	if st := e.state("contested"); st["status"] != "created" {
		t.Fatalf("the winner is %v", st["status"])
	}
	e.mustBerth("delete", "--force", "contested")
	if pids := initProcesses(e.root, b); len(pids) > 0 {
		t.Fatalf("losers left init processes: %v", pids)
	}
}

// state and delete racing one another on the same running container: every
// state either reads a whole state or says the container does not exist.
func TestStateDuringDelete(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"})
	for round := 0; round < 5; round++ {
		e.mustBerth("run", "-d", "--bundle", b, "racy")
		var wg sync.WaitGroup
		bad := make(chan string, 40)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, serr, code := e.berth("state", "racy")
				var st map[string]any
				switch {
				case code == 0 && json.Unmarshal([]byte(out), &st) == nil && st["id"] == "racy":
				case code != 0 && strings.Contains(serr, "does not exist"):
				default:
					bad <- serr + out
				}
			}()
		}
		e.mustBerth("delete", "--force", "racy")
		wg.Wait()
		close(bad)
		for b := range bad {
			t.Fatalf("state during delete: %q", b)
		}
	}
}
