package main

import (
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCrashSafety kills `tandem sync --once` with SIGKILL at random moments
// of a big first sync, then lets a run finish: nothing may be duplicated or
// lost, both sides must agree, and one more run must change nothing.
func countCards(t *testing.T, dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".vcf") {
			n++
		}
	}
	return n
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const nA, nShared, nOnlyB = 3000, 500, 100
	e := newEnv(t)
	old := 3 * time.Hour
	for i := 0; i < nA; i++ {
		c := card{UID: fmt.Sprintf("a-%d", i), FN: fmt.Sprintf("Person %d", i), Email: fmt.Sprintf("person%d@example.com", i),
			Tel: fmt.Sprintf("+1 202 555 %04d", i), Note: "from A"}
		age := old
		if i < nShared && i%7 == 0 {
			c.Note = "edited on A"
			age = time.Hour // A's edit is the newer one
		}
		put(t, e.a, fmt.Sprintf("a%d.vcf", i), c, age)
	}
	for i := 0; i < nShared; i++ {
		c := card{UID: fmt.Sprintf("b-%d", i), FN: fmt.Sprintf("Person %d", i), Email: strings.ToUpper(fmt.Sprintf("Person%d@Example.com", i)),
			Tel: fmt.Sprintf("(202) 555-%04d", i), Note: "from A"}
		age := 2 * time.Hour
		if i%5 == 0 {
			c.Tel = fmt.Sprintf("+1 303 555 %04d", i) // B's edit, newer than A's card
			if i%7 != 0 {
				age = 30 * time.Minute
			}
		}
		put(t, e.b, fmt.Sprintf("b%d.vcf", i), c, age)
	}
	for i := 0; i < nOnlyB; i++ {
		put(t, e.b, fmt.Sprintf("only%d.vcf", i), card{UID: fmt.Sprintf("ob-%d", i), FN: fmt.Sprintf("Only B %d", i),
			Email: fmt.Sprintf("onlyb%d@example.com", i), Tel: fmt.Sprintf("+1 404 555 %04d", i)}, old)
	}
	e.importPair(pairOpts{})

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	kills, rounds := 0, 0
	for round := 0; round < 12 && kills < 6; round++ {
		c := e.cmd("sync", "--once")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		// Half the kills come at a random moment early in a run (start-up,
		// listing, planning), half once a random number of new cards has
		// appeared on B (mid-apply), so kills land in every phase whatever
		// the machine's speed.
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		var trigger <-chan time.Time
		var what string
		if round%2 == 1 {
			delay := time.Duration(50+rng.Intn(500)) * time.Millisecond
			trigger, what = time.After(delay), fmt.Sprintf("after %v", delay)
		} else {
			base := countCards(t, e.b)
			target := base + 50 + rng.Intn(600)
			what = fmt.Sprintf("when B reaches %d cards (from %d)", target, base)
			ch := make(chan time.Time, 1)
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(3 * time.Millisecond):
					}
					if countCards(t, e.b) >= target {
						ch <- time.Now()
						return
					}
				}
			}()
			trigger = ch
		}
		select {
		case <-trigger:
			c.Process.Kill() // SIGKILL
			<-done
			kills++
			t.Logf("round %d: killed %s (%v into the run)", round, what, time.Since(start).Round(time.Millisecond))
		case err := <-done:
			t.Logf("round %d: the run finished in %v, before its kill %s (%v)", round, time.Since(start).Round(time.Millisecond), what, err)
		}
		// Edits keep arriving between crashes: 20 A-only people get a new note.
		for i := 1000 + round*20; i < 1000+round*20+20; i++ {
			put(t, e.a, fmt.Sprintf("a%d.vcf", i), card{UID: fmt.Sprintf("a-%d", i), FN: fmt.Sprintf("Person %d", i),
				Email: fmt.Sprintf("person%d@example.com", i), Tel: fmt.Sprintf("+1 202 555 %04d", i), Note: fmt.Sprintf("round %d", round)}, -time.Duration(round+1)*time.Second)
		}
		rounds = round + 1
	}
	t.Logf("%d of %d runs killed", kills, rounds)

	start := time.Now()
	sum := e.sync(0)
	t.Logf("final run (%v): %s", time.Since(start), sum)
	if n := e.assertMirrored(); n != nA+nOnlyB {
		t.Fatalf("%d people, want %d", n, nA+nOnlyB)
	}
	if a, b := len(readDir(t, e.a)), len(readDir(t, e.b)); a != nA+nOnlyB || b != nA+nOnlyB {
		t.Fatalf("card files: A %d, B %d, want %d each", a, b, nA+nOnlyB)
	}
	// The edits survived the kills: B's newer phone, A's newer note.
	a := byEmail(t, "A", readDir(t, e.a))
	for i := 0; i < nShared; i++ {
		c := a[fmt.Sprintf("person%d@example.com", i)]
		if i%5 == 0 && i%7 != 0 && digits(c.Tel) != digits(fmt.Sprintf("+1 303 555 %04d", i)) {
			t.Fatalf("person %d lost B's phone edit: %+v", i, c)
		}
		if i%7 == 0 && c.Note != "edited on A" {
			t.Fatalf("person %d lost A's note edit: %+v", i, c)
		}
	}
	for r := 0; r < rounds; r++ {
		for i := 1000 + r*20; i < 1000+r*20+20; i++ {
			if c := a[fmt.Sprintf("person%d@example.com", i)]; c.Note != fmt.Sprintf("round %d", r) {
				t.Fatalf("person %d lost the edit of round %d: %+v", i, r, c)
			}
		}
	}
	before := snapshot(t, e.a, e.b)
	if sum := e.sync(0); sum != zero {
		t.Fatalf("run after convergence: %q", sum)
	}
	sameSnapshot(t, before, snapshot(t, e.a, e.b))
	if _, err := os.Stat(e.data); err != nil {
		t.Fatal(err)
	}
}
