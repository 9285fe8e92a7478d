// Package scheduler syncs every unpaused pair on its interval in the
// background: one run per pair at a time, exponential backoff after
// failures, "sync now", a global pause, and a status feed for the window
// and the tray. It knows the engine only through a Runner.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"tandem/models"
	"tandem/sync/engine"
	"tandem/sync/runner"
)

// Runner runs one pair (runner.Runner satisfies it).
type Runner interface {
	RunID(ctx context.Context, pairID uint, opt engine.Options) (engine.Result, error)
}

// PairSource lists the pairs to schedule (*models.Store satisfies it).
type PairSource interface {
	Pairs() ([]models.Pair, error)
}

// Status is one pair's state, as the window and tray show it.
type Status struct {
	PairID   uint
	PairName string
	Running  bool
	Progress engine.Progress
	Last     *engine.Result // last finished run (nil before the first)
	LastErr  error          // why the last run was refused or failed; nil after a good run
	LastEnd  time.Time      // when the last run ended
	Failures int            // consecutive failed runs
	NextRun  time.Time      // when the next timed run is due (zero while paused)
	Paused   bool           // the pair or the whole scheduler is paused
}

// Options tune a scheduler.
type Options struct {
	// MaxBackoff caps the delay after failures (default 1h; never below the
	// pair's interval).
	MaxBackoff time.Duration
	// ProgressEvery throttles progress notifications (default 100ms).
	ProgressEvery time.Duration
	// Trigger is passed to the engine for timed runs (default "timer");
	// SyncNow runs use "manual".
	Trigger string
	// DefaultInterval is used for a pair whose interval does not parse (default 5m).
	DefaultInterval time.Duration
	// Now returns the current time (tests); nil = time.Now.
	Now func() time.Time
	// RunOptions, if set, adjusts the engine options of every run (e.g. a
	// CLI's --dry-run or --force-delete).
	RunOptions func(*engine.Options)
}

type pairState struct {
	pair     models.Pair
	interval time.Duration
	st       Status
	seq      uint64
	now      bool // SyncNow asked: run as soon as the current run (if any) ends
	lastNote time.Time
}

// Scheduler runs pairs on their intervals.
type Scheduler struct {
	src PairSource
	run Runner
	opt Options

	mu      sync.Mutex
	pairs   map[uint]*pairState
	paused  bool
	started bool
	stopped bool
	subs    map[int]func(Status)
	nextSub int
	wake    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	noteMu    sync.Mutex
	delivered map[uint]uint64
}

// New returns a stopped scheduler; call Start.
func New(src PairSource, run Runner, opt Options) *Scheduler {
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = time.Hour
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 100 * time.Millisecond
	}
	if opt.Trigger == "" {
		opt.Trigger = "timer"
	}
	if opt.DefaultInterval <= 0 {
		opt.DefaultInterval = 5 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		src: src, run: run, opt: opt,
		pairs:     map[uint]*pairState{},
		subs:      map[int]func(Status){},
		wake:      make(chan struct{}, 1),
		ctx:       ctx,
		cancel:    cancel,
		delivered: map[uint]uint64{},
	}
}

// Backoff is the delay before the next run after failures consecutive
// failed runs: the interval doubled per failure, capped at max (or at the
// interval when that is longer).
func Backoff(interval time.Duration, failures int, max time.Duration) time.Duration {
	if max < interval {
		max = interval
	}
	d := interval
	for i := 0; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// Start loads the pairs and begins scheduling: every unpaused pair runs
// once right away, then on its interval.
func (s *Scheduler) Start() error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return nil
	}
	s.started = true
	s.mu.Unlock()
	if err := s.Reload(); err != nil {
		return err
	}
	s.wg.Add(1)
	go s.loop()
	return nil
}

// Reload re-reads the pairs (after a pair is added, edited, paused or
// removed). A new pair is due at once; a running pair finishes its run.
func (s *Scheduler) Reload() error {
	ps, err := s.src.Pairs()
	if err != nil {
		return fmt.Errorf("scheduler: list pairs: %w", err)
	}
	var changed []uint
	s.mu.Lock()
	now := s.opt.Now()
	seen := map[uint]bool{}
	for _, p := range ps {
		seen[p.ID] = true
		iv, err := time.ParseDuration(p.Interval)
		if err != nil || iv <= 0 {
			iv = s.opt.DefaultInterval
		}
		st, ok := s.pairs[p.ID]
		if !ok {
			st = &pairState{st: Status{PairID: p.ID, NextRun: now}}
			s.pairs[p.ID] = st
		} else if iv != st.interval && !st.st.LastEnd.IsZero() {
			st.st.NextRun = st.st.LastEnd.Add(Backoff(iv, st.st.Failures, s.opt.MaxBackoff))
		}
		if ok && st.pair.Paused && !p.Paused && st.st.NextRun.IsZero() {
			st.st.NextRun = now
		}
		st.pair, st.interval = p, iv
		st.st.PairName = p.Name
		changed = append(changed, p.ID)
	}
	for id := range s.pairs {
		if !seen[id] {
			delete(s.pairs, id)
		}
	}
	notes := s.statusesLocked(changed)
	s.mu.Unlock()
	s.deliver(notes)
	s.poke()
	return nil
}

// SyncNow runs a pair as soon as possible, even while paused; if it is
// running, it runs again right after.
func (s *Scheduler) SyncNow(pairID uint) error {
	s.mu.Lock()
	st, ok := s.pairs[pairID]
	if ok {
		st.now = true
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("scheduler: no pair with id %d", pairID)
	}
	s.poke()
	return nil
}

// Pause stops timed runs of every pair (running ones finish).
func (s *Scheduler) Pause() { s.setPaused(true) }

// Resume starts timed runs again; pairs overdue run at once.
func (s *Scheduler) Resume() { s.setPaused(false) }

// Paused reports whether the scheduler is paused.
func (s *Scheduler) Paused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

func (s *Scheduler) setPaused(v bool) {
	s.mu.Lock()
	s.paused = v
	ids := make([]uint, 0, len(s.pairs))
	for id := range s.pairs {
		ids = append(ids, id)
	}
	notes := s.statusesLocked(ids)
	s.mu.Unlock()
	s.deliver(notes)
	s.poke()
}

// Stop cancels running runs (the engine stops at a safe point) and waits
// for them and the timer loop to end.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Snapshot returns every pair's status, by pair id.
func (s *Scheduler) Snapshot() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.pairs))
	for _, st := range s.pairs {
		out = append(out, s.statusLocked(st))
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].PairID < out[j-1].PairID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Status returns one pair's status.
func (s *Scheduler) Status(pairID uint) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.pairs[pairID]
	if !ok {
		return Status{}, false
	}
	return s.statusLocked(st), true
}

// OnChange registers fn to be called with a pair's status whenever it
// changes (run start, progress, end, pause). fn runs on a scheduler
// goroutine: a window must hand widget changes to fyne.Do. The returned
// function unregisters fn.
func (s *Scheduler) OnChange(fn func(Status)) (cancel func()) {
	s.mu.Lock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

type note struct {
	seq uint64
	st  Status
	fns []func(Status)
}

func (s *Scheduler) statusLocked(st *pairState) Status {
	out := st.st
	out.Paused = s.paused || st.pair.Paused
	if out.Paused && !st.now {
		out.NextRun = time.Time{}
	}
	return out
}

func (s *Scheduler) statusesLocked(ids []uint) []note {
	var fns []func(Status)
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	var out []note
	for _, id := range ids {
		st, ok := s.pairs[id]
		if !ok {
			continue
		}
		st.seq++
		out = append(out, note{seq: st.seq, st: s.statusLocked(st), fns: fns})
	}
	return out
}

// deliver calls subscribers in order; a note older than one already
// delivered for the same pair is dropped.
func (s *Scheduler) deliver(notes []note) {
	if len(notes) == 0 {
		return
	}
	s.noteMu.Lock()
	defer s.noteMu.Unlock()
	for _, n := range notes {
		if n.seq <= s.delivered[n.st.PairID] {
			continue
		}
		s.delivered[n.st.PairID] = n.seq
		for _, fn := range n.fns {
			fn(n.st)
		}
	}
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) loop() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		now := s.opt.Now()
		var next time.Time
		var notes []note
		for _, st := range s.pairs {
			if st.st.Running {
				continue
			}
			due := st.now
			if !due && !s.paused && !st.pair.Paused {
				if !st.st.NextRun.After(now) {
					due = true
				} else if next.IsZero() || st.st.NextRun.Before(next) {
					next = st.st.NextRun
				}
			}
			if due {
				notes = append(notes, s.launchLocked(st)...)
			}
		}
		s.mu.Unlock()
		s.deliver(notes)

		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(s.opt.Now())
			if wait < 0 {
				wait = 0
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// launchLocked starts one run of st in its own goroutine.
func (s *Scheduler) launchLocked(st *pairState) []note {
	trigger := s.opt.Trigger
	if st.now {
		trigger = "manual"
	}
	st.now = false
	st.st.Running = true
	st.st.Progress = engine.Progress{}
	id := st.pair.ID
	opt := engine.Options{Trigger: trigger, Progress: func(p engine.Progress) { s.progress(id, p) }}
	if s.opt.RunOptions != nil {
		s.opt.RunOptions(&opt)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res, err := s.run.RunID(s.ctx, id, opt)
		s.finish(id, res, err)
	}()
	return s.statusesLocked([]uint{id})
}

func (s *Scheduler) progress(id uint, p engine.Progress) {
	s.mu.Lock()
	st, ok := s.pairs[id]
	if !ok || !st.st.Running {
		s.mu.Unlock()
		return
	}
	phaseChanged := p.Phase != st.st.Progress.Phase
	st.st.Progress = p
	now := time.Now()
	var notes []note
	if phaseChanged || now.Sub(st.lastNote) >= s.opt.ProgressEvery || (p.Total > 0 && p.Done >= p.Total) {
		st.lastNote = now
		notes = s.statusesLocked([]uint{id})
	}
	s.mu.Unlock()
	s.deliver(notes)
}

func (s *Scheduler) finish(id uint, res engine.Result, err error) {
	s.mu.Lock()
	st, ok := s.pairs[id]
	if !ok {
		s.mu.Unlock()
		return
	}
	now := s.opt.Now()
	st.st.Running = false
	if errors.Is(err, runner.ErrBusy) {
		// Someone else (the window's "allow deletes") is running this pair
		// right now: not a failure; try again on the next interval.
		st.st.NextRun = now.Add(st.interval)
		notes := s.statusesLocked([]uint{id})
		s.mu.Unlock()
		s.deliver(notes)
		s.poke()
		return
	}
	st.st.LastEnd = now
	st.st.LastErr = err
	if err != nil {
		st.st.Failures++
	} else {
		st.st.Failures = 0
		r := res
		st.st.Last = &r
	}
	if st.st.Progress.Phase != "" {
		st.st.Progress.Phase = "done"
	}
	st.st.NextRun = now.Add(Backoff(st.interval, st.st.Failures, s.opt.MaxBackoff))
	notes := s.statusesLocked([]uint{id})
	s.mu.Unlock()
	s.deliver(notes)
	s.poke()
}
