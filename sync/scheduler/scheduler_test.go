package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tandem/models"
	"tandem/sync/engine"
	"tandem/sync/runner"
)

type source struct {
	mu    sync.Mutex
	pairs []models.Pair
}

func (s *source) Pairs() ([]models.Pair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]models.Pair(nil), s.pairs...), nil
}

// fakeRunner counts runs per pair, checks single flight, and can block or fail.
type fakeRunner struct {
	mu       sync.Mutex
	runs     map[uint]int
	inFlight map[uint]int
	overlap  bool
	fail     map[uint]error
	block    map[uint]chan struct{}
	triggers []string
	started  chan uint
	canceled chan uint
}

func newFake() *fakeRunner {
	return &fakeRunner{runs: map[uint]int{}, inFlight: map[uint]int{}, fail: map[uint]error{},
		block: map[uint]chan struct{}{}, started: make(chan uint, 1000), canceled: make(chan uint, 100)}
}

func (f *fakeRunner) RunID(ctx context.Context, id uint, opt engine.Options) (engine.Result, error) {
	f.mu.Lock()
	f.inFlight[id]++
	if f.inFlight[id] > 1 {
		f.overlap = true
	}
	f.runs[id]++
	f.triggers = append(f.triggers, opt.Trigger)
	block, err := f.block[id], f.fail[id]
	f.mu.Unlock()
	f.started <- id
	if opt.Progress != nil {
		opt.Progress(engine.Progress{Phase: "fetch", Done: 1, Total: 2})
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			f.canceled <- id
			err = ctx.Err()
		}
	}
	f.mu.Lock()
	f.inFlight[id]--
	f.mu.Unlock()
	if err != nil {
		return engine.Result{}, err
	}
	return engine.Result{Created: 1}, nil
}

func (f *fakeRunner) count(id uint) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[id]
}

func waitStart(t *testing.T, f *fakeRunner, id uint) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got := <-f.started:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("pair %d never ran", id)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func pair(id uint, interval string, paused bool) models.Pair {
	return models.Pair{ID: id, Name: "p" + string(rune('0'+id)), Interval: interval, Paused: paused}
}

func TestBackoff(t *testing.T) {
	iv := 10 * time.Second
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 100 * time.Second, 100 * time.Second}
	for n, w := range want {
		if got := Backoff(iv, n, 100*time.Second); got != w {
			t.Errorf("failures %d: got %v want %v", n, got, w)
		}
	}
	if got := Backoff(time.Hour, 3, time.Minute); got != time.Hour {
		t.Errorf("cap below interval: got %v", got)
	}
}

func TestRunsUnpausedPairsRepeatedly(t *testing.T) {
	src := &source{pairs: []models.Pair{pair(1, "5ms", false), pair(2, "5ms", true)}}
	f := newFake()
	s := New(src, f, Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three runs of pair 1", func() bool { return f.count(1) >= 3 })
	s.Stop()
	if f.count(2) != 0 {
		t.Fatalf("paused pair ran %d times", f.count(2))
	}
	if f.overlap {
		t.Fatal("two runs of one pair overlapped")
	}
	st, ok := s.Status(2)
	if !ok || !st.Paused || !st.NextRun.IsZero() {
		t.Fatalf("paused pair status: %+v", st)
	}
	st, _ = s.Status(1)
	if st.Last == nil || st.Last.Created != 1 || st.LastErr != nil || st.Failures != 0 {
		t.Fatalf("pair 1 status: %+v", st)
	}
}

func TestSingleFlightAndSyncNowQueues(t *testing.T) {
	src := &source{pairs: []models.Pair{pair(1, "1h", false)}}
	f := newFake()
	release := make(chan struct{})
	f.block[1] = release
	s := New(src, f, Options{})
	defer s.Stop()
	s.Start()
	waitStart(t, f, 1) // the start-up run, blocked
	for i := 0; i < 5; i++ {
		if err := s.SyncNow(1); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Status(1); !st.Running {
		t.Fatalf("status while running: %+v", st)
	}
	if f.count(1) != 1 {
		t.Fatalf("SyncNow started a second run while one was going: %d", f.count(1))
	}
	f.mu.Lock()
	f.block[1] = nil
	f.mu.Unlock()
	close(release)
	waitStart(t, f, 1) // the queued manual run
	waitFor(t, "idle", func() bool { st, _ := s.Status(1); return !st.Running })
	if n := f.count(1); n != 2 {
		t.Fatalf("five SyncNow during a run should give one more run, got %d runs", n)
	}
	if f.overlap {
		t.Fatal("runs overlapped")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.triggers[0] != "timer" || f.triggers[1] != "manual" {
		t.Fatalf("triggers: %v", f.triggers)
	}
	if err := s.SyncNow(99); err == nil {
		t.Fatal("SyncNow of an unknown pair accepted")
	}
}

func TestBackoffAfterFailures(t *testing.T) {
	src := &source{pairs: []models.Pair{pair(1, "2ms", false)}}
	f := newFake()
	f.fail[1] = errors.New("system unreachable")
	var mu sync.Mutex
	var ends []Status
	s := New(src, f, Options{MaxBackoff: 20 * time.Millisecond})
	s.OnChange(func(st Status) {
		if !st.Running && !st.LastEnd.IsZero() {
			mu.Lock()
			ends = append(ends, st)
			mu.Unlock()
		}
	})
	s.Start()
	waitFor(t, "five failed runs", func() bool { return f.count(1) >= 5 })
	s.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(ends) < 4 {
		t.Fatalf("only %d run ends reported", len(ends))
	}
	for i, st := range ends[:4] {
		if st.Failures != i+1 || st.LastErr == nil || st.Last != nil {
			t.Fatalf("end %d: %+v", i, st)
		}
		want := Backoff(2*time.Millisecond, i+1, 20*time.Millisecond)
		if got := st.NextRun.Sub(st.LastEnd); got != want {
			t.Fatalf("end %d: next run after %v, want %v", i, got, want)
		}
	}
	if ends[3].NextRun.Sub(ends[3].LastEnd) != 20*time.Millisecond {
		t.Fatal("backoff not capped")
	}
}

func TestRecoveryResetsFailures(t *testing.T) {
	src := &source{pairs: []models.Pair{pair(1, "2ms", false)}}
	f := newFake()
	f.fail[1] = errors.New("boom")
	s := New(src, f, Options{})
	defer s.Stop()
	s.Start()
	waitFor(t, "two failures", func() bool { st, _ := s.Status(1); return st.Failures >= 2 })
	f.mu.Lock()
	delete(f.fail, 1)
	f.mu.Unlock()
	s.SyncNow(1)
	waitFor(t, "a good run", func() bool { st, _ := s.Status(1); return st.Failures == 0 && st.Last != nil })
	st, _ := s.Status(1)
	if st.LastErr != nil {
		t.Fatalf("error kept after a good run: %v", st.LastErr)
	}
}

func TestPauseResume(t *testing.T) {
	src := &source{pairs: []models.Pair{pair(1, "1ms", false)}}
	f := newFake()
	s := New(src, f, Options{})
	defer s.Stop()
	s.Pause()
	s.Start()
	if st, _ := s.Status(1); !st.Paused {
		t.Fatalf("not paused: %+v", st)
	}
	// Nothing runs on its own while paused; a manual sync still does.
	s.SyncNow(1)
	waitStart(t, f, 1)
	waitFor(t, "idle", func() bool { st, _ := s.Status(1); return !st.Running })
	for i := 0; i < 3; i++ { // several more loop turns: still one run
		s.poke()
		time.Sleep(5 * time.Millisecond)
	}
	if n := f.count(1); n != 1 {
		t.Fatalf("paused scheduler ran %d times", n)
	}
	s.Resume()
	waitFor(t, "runs after resume", func() bool { return f.count(1) >= 3 })
}

func TestStopCancelsRunningRun(t *testing.T) {
	src := &source{pairs: []models.Pair{pair(1, "1h", false)}}
	f := newFake()
	f.block[1] = make(chan struct{})
	s := New(src, f, Options{})
	s.Start()
	waitStart(t, f, 1)
	done := make(chan struct{})
	go func() { s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	select {
	case <-f.canceled:
	default:
		t.Fatal("the running run's context was not canceled")
	}
}

func TestReloadAndOnChange(t *testing.T) {
	src := &source{pairs: []models.Pair{pair(1, "1h", false)}}
	f := newFake()
	s := New(src, f, Options{})
	defer s.Stop()
	var mu sync.Mutex
	seen := map[uint][]bool{}
	var progress bool
	cancel := s.OnChange(func(st Status) {
		mu.Lock()
		seen[st.PairID] = append(seen[st.PairID], st.Running)
		if st.Progress.Phase == "fetch" {
			progress = true
		}
		mu.Unlock()
	})
	s.Start()
	waitStart(t, f, 1)
	src.mu.Lock()
	src.pairs = append(src.pairs, pair(2, "1h", false))
	src.mu.Unlock()
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	waitStart(t, f, 2)
	waitFor(t, "both idle", func() bool {
		a, _ := s.Status(1)
		b, _ := s.Status(2)
		return a.Last != nil && b.Last != nil
	})
	snap := s.Snapshot()
	if len(snap) != 2 || snap[0].PairID != 1 || snap[1].PairID != 2 || snap[1].PairName != "p2" {
		t.Fatalf("snapshot: %+v", snap)
	}
	mu.Lock()
	for _, id := range []uint{1, 2} {
		ev := seen[id]
		sawRun, sawIdle := false, false
		for _, r := range ev {
			if r {
				sawRun = true
			} else if sawRun {
				sawIdle = true
			}
		}
		if !sawRun || !sawIdle {
			t.Errorf("pair %d: notifications %v lack running then idle", id, ev)
		}
	}
	if !progress {
		t.Error("no progress notification")
	}
	mu.Unlock()
	cancel()
	src.mu.Lock()
	src.pairs = src.pairs[1:]
	src.mu.Unlock()
	s.Reload()
	if _, ok := s.Status(1); ok {
		t.Fatal("removed pair still scheduled")
	}
	mu.Lock()
	n := len(seen[2])
	mu.Unlock()
	s.SyncNow(2)
	waitStart(t, f, 2)
	waitFor(t, "idle", func() bool { st, _ := s.Status(2); return !st.Running })
	mu.Lock()
	defer mu.Unlock()
	if len(seen[2]) != n {
		t.Fatal("unsubscribed handler still called")
	}
}

func TestBusyIsNotAFailure(t *testing.T) {
	src := &source{pairs: []models.Pair{pair(1, "1h", false)}}
	f := newFake()
	f.fail[1] = fmt.Errorf("pair p1: %w", runner.ErrBusy)
	s := New(src, f, Options{})
	defer s.Stop()
	s.Start()
	waitStart(t, f, 1)
	waitFor(t, "idle", func() bool { st, _ := s.Status(1); return !st.Running })
	st, _ := s.Status(1)
	if st.Failures != 0 || st.LastErr != nil || st.NextRun.IsZero() {
		t.Fatalf("busy counted as a failure: %+v", st)
	}
}
