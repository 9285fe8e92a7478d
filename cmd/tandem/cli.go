package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"tandem/cmd/tandem/internal/hugeheap"
	"tandem/models"
	"tandem/sync/connector"
	_ "tandem/sync/connector/all"
	"tandem/sync/engine"
	"tandem/sync/pairfile"
	"tandem/sync/runner"
	"tandem/sync/scheduler"
	"tandem/sync/secrets"
	"tandem/sync/trace"
)

// Exit codes.
const (
	exitOK      = 0
	exitPartial = 1 // some records failed; or nothing matched (mappings find)
	exitRefused = 2 // refused: brake, bad config, auth, usage
)

const usage = `Tandem keeps records in two systems mirrored, both ways.

Usage:
  tandem                                   open the window
  tandem pair import FILE.json             create or replace the pair described in FILE
  tandem pair export NAME                  print a pair as JSON
  tandem pair list                         list the pairs
  tandem sync [--pair NAME] [--once] [--dry-run] [--force-delete]
                                           sync every pair (or one); without --once keep
                                           syncing on the pairs' intervals until interrupted
  tandem mappings list [--pair NAME] [--state STATE]
  tandem mappings find ID [--pair NAME]    rows whose A or B record id is ID
  tandem mappings export --out FILE.csv [--pair NAME]
  tandem mappings delete ID [--pair NAME]  forget one mapping (the records stay)
  tandem secret set CONNECTION             read a secret from stdin into the OS keyring
  tandem secret delete CONNECTION          remove a connection's secret from the keyring
  tandem help

Global: --data-dir DIR (or TANDEM_DATA_DIR); default: the OS config dir + /Tandem.
sync --once exits 0 when every record synced, 1 when some records failed,
2 when the run was refused (brake, bad config, credentials).
`

type cli struct {
	dataDir string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	store   *models.Store
	sec     secrets.Store
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code with an optional message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func runCLI(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	trace.Mark("cli: start")
	dataDir, args, err := extractDataDir(args)
	if err != nil {
		fmt.Fprintln(stderr, "tandem:", err)
		return exitRefused
	}
	if dataDir == "" {
		dataDir = os.Getenv("TANDEM_DATA_DIR")
	}
	if dataDir == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			fmt.Fprintln(stderr, "tandem: no config folder; give --data-dir DIR:", err)
			return exitRefused
		}
		dataDir = filepath.Join(cfg, "Tandem")
	}
	if len(args) == 0 {
		return runGUI(dataDir)
	}
	c := &cli{dataDir: dataDir, stdin: stdin, stdout: stdout, stderr: stderr, sec: secrets.Keyring()}
	defer c.close()
	err = c.dispatch(args)
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ee exitError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "tandem:", oneLine(ue.msg))
		fmt.Fprintln(stderr, "run 'tandem help' for usage")
		return exitRefused
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(stderr, "tandem:", oneLine(ee.msg))
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "tandem:", oneLine(err.Error()))
	return exitRefused
}

// extractDataDir takes --data-dir DIR / --data-dir=DIR from anywhere.
func extractDataDir(args []string) (string, []string, error) {
	var dir string
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			out = append(out, args[i:]...)
			return dir, out, nil
		case a == "--data-dir" || a == "-data-dir":
			if i+1 >= len(args) {
				return "", nil, errors.New("--data-dir needs a folder")
			}
			dir = args[i+1]
			i++
		case strings.HasPrefix(a, "--data-dir=") || strings.HasPrefix(a, "-data-dir="):
			dir = a[strings.IndexByte(a, '=')+1:]
		default:
			out = append(out, a)
		}
	}
	return dir, out, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// close ends the command's use of the store. The process exits next, so
// the store is left rather than closed (models.Store.Leave): no checkpoint
// on the way out.
func (c *cli) close() {
	if c.store != nil {
		if err := c.store.Leave(); err != nil {
			fmt.Fprintln(c.stderr, "tandem: flush the store:", err)
		}
		trace.Mark("cli: store left")
	}
}

func (c *cli) openStore() (*models.Store, error) {
	if c.store != nil {
		return c.store, nil
	}
	trace.Mark("cli: open store")
	s, err := models.Open(filepath.Join(c.dataDir, "tandem.db"))
	if err != nil {
		return nil, err
	}
	trace.Mark("cli: store open")
	c.store = s
	return s, nil
}

func (c *cli) dispatch(args []string) error {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(c.stdout, usage)
		return nil
	case "pair":
		return c.pair(rest)
	case "sync":
		return c.sync(rest)
	case "mappings":
		return c.mappings(rest)
	case "secret":
		return c.secret(rest)
	}
	return usagef("unknown command %q", cmd)
}

// parse parses flags that may come before, between or after positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func sub(args []string, what string, known ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usagef("%s needs one of: %s", what, strings.Join(known, ", "))
	}
	for _, k := range known {
		if args[0] == k {
			return k, args[1:], nil
		}
	}
	return "", nil, usagef("unknown %s command %q (one of: %s)", what, args[0], strings.Join(known, ", "))
}

// --- pair ---

func (c *cli) pair(args []string) error {
	cmd, rest, err := sub(args, "pair", "import", "export", "list")
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("pair "+cmd, flag.ContinueOnError)
	pos, err := parse(fs, rest)
	if err != nil {
		return err
	}
	switch cmd {
	case "import":
		if len(pos) != 1 {
			return usagef("pair import needs one FILE.json")
		}
		p, err := pairfile.ReadFile(pos[0])
		if err != nil {
			return err
		}
		store, err := c.openStore()
		if err != nil {
			return err
		}
		if err := store.SavePair(p); err != nil {
			return fmt.Errorf("save pair %q: %w", p.Name, err)
		}
		fmt.Fprintf(c.stdout, "imported pair %q: %s (%s) <-> %s (%s)\n", p.Name, p.A.Name, p.A.Kind, p.B.Name, p.B.Kind)
		for _, conn := range []models.Connection{p.A, p.B} {
			if k, ok := connector.Lookup(conn.Kind); ok && k.NeedsSecret {
				fmt.Fprintf(c.stdout, "connection %q needs a %s in the OS keyring: tandem secret set %q\n", conn.Name, strings.ToLower(k.SecretLabel), conn.Name)
			}
		}
		return nil
	case "export":
		if len(pos) != 1 {
			return usagef("pair export needs one pair NAME")
		}
		store, err := c.openStore()
		if err != nil {
			return err
		}
		p, err := store.PairByName(pos[0])
		if err != nil {
			return err
		}
		out, err := pairfile.Export(p)
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(out)
		return err
	default: // list
		if len(pos) != 0 {
			return usagef("pair list takes no arguments")
		}
		store, err := c.openStore()
		if err != nil {
			return err
		}
		ps, err := store.Pairs()
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			fmt.Fprintln(c.stderr, "no pairs yet; create one with: tandem pair import FILE.json")
			return nil
		}
		for _, p := range ps {
			n, _ := store.CountMappings(p.ID)
			state := ""
			if p.Paused {
				state = "\tpaused"
			}
			fmt.Fprintf(c.stdout, "%s\t%s (%s) <-> %s (%s)\tevery %s\t%d mappings%s\n", p.Name, p.A.Name, p.A.Kind, p.B.Name, p.B.Kind, p.Interval, n, state)
		}
		return nil
	}
}

// --- sync ---

func (c *cli) sync(args []string) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	pairName := fs.String("pair", "", "sync only this pair")
	once := fs.Bool("once", false, "run once and exit")
	dry := fs.Bool("dry-run", false, "plan only: print what would be done, write nothing")
	force := fs.Bool("force-delete", false, "let deletes through the brakes this once")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("sync takes no arguments (did you mean --pair %s?)", pos[0])
	}
	if *once {
		tuneMemory() // a run that keeps going lives like the window: left as is
	}
	store, err := c.openStore()
	if err != nil {
		return err
	}
	var pairs []models.Pair
	if *pairName != "" {
		p, err := store.PairByName(*pairName)
		if err != nil {
			return err
		}
		pairs = []models.Pair{*p}
	} else if pairs, err = store.Pairs(); err != nil {
		return err
	}
	if len(pairs) == 0 {
		return exitError{exitRefused, "no pairs to sync; create one with: tandem pair import FILE.json"}
	}
	r := runner.New(store, c.sec)
	if !*once {
		return c.syncForever(r, pairs, *dry, *force)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := exitOK
	for _, p := range pairs {
		res, err := r.RunPair(ctx, &p, engine.Options{DryRun: *dry, ForceDelete: *force, Trigger: "cli"})
		prefix := ""
		if len(pairs) > 1 {
			prefix = "pair " + p.Name + ": "
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "tandem: %s%s\n", prefix, refusal(p.Name, err))
			code = exitRefused
			continue
		}
		if *dry {
			printActions(c.stdout, res.Actions)
		}
		fmt.Fprintln(c.stdout, prefix+res.Summary())
		if res.Errors > 0 {
			for _, a := range res.Actions {
				if a.Kind == "error" {
					fmt.Fprintf(c.stderr, "tandem: %s%s\n", prefix, oneLine(describe(a)))
				}
			}
			if code == exitOK {
				code = exitPartial
			}
		}
	}
	if code != exitOK {
		return exitError{code: code}
	}
	return nil
}

// refusal is the one-line reason a run was refused.
func refusal(pair string, err error) string {
	var brake *engine.BrakeError
	msg := err.Error()
	switch {
	case errors.As(err, &brake):
		msg = brake.Reason + " (nothing was deleted; run again with --force-delete to allow it once)"
	case errors.Is(err, connector.ErrAuth):
		msg = "refused: " + msg
	}
	return oneLine(msg)
}

func describe(a engine.Action) string {
	var b strings.Builder
	b.WriteString(a.Kind)
	if a.Side != "" {
		b.WriteString(" on " + strings.ToUpper(a.Side))
	}
	if a.AID != "" {
		b.WriteString(" A=" + a.AID)
	}
	if a.BID != "" {
		b.WriteString(" B=" + a.BID)
	}
	if len(a.Fields) > 0 {
		b.WriteString(" [" + strings.Join(a.Fields, ",") + "]")
	}
	if a.Detail != "" {
		b.WriteString(": " + a.Detail)
	}
	return b.String()
}

func printActions(w io.Writer, actions []engine.Action) {
	for _, a := range actions {
		fmt.Fprintln(w, "would "+oneLine(describe(a)))
	}
}

// pairList is a scheduler source limited to the pairs given on the command line.
type pairList struct {
	store *models.Store
	ids   map[uint]bool
}

func (l pairList) Pairs() ([]models.Pair, error) {
	ps, err := l.store.Pairs()
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		if l.ids[p.ID] {
			out = append(out, p)
		}
	}
	return out, nil
}

func (c *cli) syncForever(r *runner.Runner, pairs []models.Pair, dry, force bool) error {
	ids := map[uint]bool{}
	for _, p := range pairs {
		ids[p.ID] = true
	}
	var run scheduler.Runner = r
	if force {
		run = &forceOnce{r: r, done: map[uint]bool{}} // --force-delete: each pair's first run only
	}
	sched := scheduler.New(pairList{c.store, ids}, run, scheduler.Options{
		Trigger:    "cli",
		RunOptions: func(o *engine.Options) { o.DryRun = dry },
	})
	lastEnd := map[uint]time.Time{}
	done := make(chan struct{})
	events := make(chan scheduler.Status, 64)
	cancel := sched.OnChange(func(st scheduler.Status) {
		if st.Running || st.LastEnd.IsZero() {
			return
		}
		select {
		case events <- st:
		default:
		}
	})
	defer cancel()
	go func() {
		defer close(done)
		for st := range events {
			if !lastEnd[st.PairID].Before(st.LastEnd) {
				continue
			}
			lastEnd[st.PairID] = st.LastEnd
			stamp := st.LastEnd.Format("2006-01-02 15:04:05")
			next := ""
			if !st.NextRun.IsZero() {
				next = "; next run " + st.NextRun.Format("15:04:05")
			}
			if st.LastErr != nil {
				fmt.Fprintf(c.stderr, "%s pair %s: %s%s\n", stamp, st.PairName, refusal(st.PairName, st.LastErr), next)
			} else if st.Last != nil {
				if dry {
					printActions(c.stdout, st.Last.Actions)
				}
				fmt.Fprintf(c.stdout, "%s pair %s: %s%s\n", stamp, st.PairName, st.Last.Summary(), next)
			}
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	if err := sched.Start(); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "syncing %d pair(s) on their intervals; press Ctrl+C to stop\n", len(pairs))
	<-sig
	fmt.Fprintln(c.stderr, "stopping...")
	sched.Stop()
	close(events)
	<-done
	return nil
}

// forceOnce lets deletes through the brakes on each pair's first good run only.
type forceOnce struct {
	r    *runner.Runner
	mu   gosync.Mutex
	done map[uint]bool
}

func (f *forceOnce) RunID(ctx context.Context, id uint, opt engine.Options) (engine.Result, error) {
	f.mu.Lock()
	opt.ForceDelete = !f.done[id]
	f.mu.Unlock()
	res, err := f.r.RunID(ctx, id, opt)
	if err == nil {
		f.mu.Lock()
		f.done[id] = true
		f.mu.Unlock()
	}
	return res, err
}

// --- mappings ---

func (c *cli) mappings(args []string) error {
	cmd, rest, err := sub(args, "mappings", "list", "find", "export", "delete")
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("mappings "+cmd, flag.ContinueOnError)
	pairName := fs.String("pair", "", "the pair (needed when there are several)")
	state := fs.String("state", "", "list: only rows in this state (ok, pending, conflict, error, delete-pending)")
	out := fs.String("out", "", "export: the CSV file to write (- for standard output)")
	pos, err := parse(fs, rest)
	if err != nil {
		return err
	}
	store, err := c.openStore()
	if err != nil {
		return err
	}
	switch cmd {
	case "list":
		if len(pos) != 0 {
			return usagef("mappings list takes no arguments")
		}
		p, err := c.pickPair(*pairName)
		if err != nil {
			return err
		}
		q := models.MappingQuery{PairID: p.ID, State: *state}
		fmt.Fprintln(c.stdout, "a_id\tb_id\tstate\tsynced_at\tkey\tlast_error")
		const page = 5000
		for off := 0; ; off += page {
			ms, err := store.QueryMappings(q, off, page)
			if err != nil {
				return err
			}
			for _, m := range ms {
				printMapping(c.stdout, "", m)
			}
			if len(ms) < page {
				return nil
			}
		}
	case "find":
		if len(pos) != 1 {
			return usagef("mappings find needs one record ID")
		}
		var pairID uint
		names := map[uint]string{}
		if *pairName != "" {
			p, err := store.PairByName(*pairName)
			if err != nil {
				return err
			}
			pairID = p.ID
		}
		ps, err := store.Pairs()
		if err != nil {
			return err
		}
		for _, p := range ps {
			names[p.ID] = p.Name
		}
		ms, err := store.FindMappings(pairID, pos[0])
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			return exitError{exitPartial, fmt.Sprintf("no mapping has record id %q on either side", pos[0])}
		}
		fmt.Fprintln(c.stdout, "pair\ta_id\tb_id\tstate\tsynced_at\tkey\tlast_error")
		for _, m := range ms {
			printMapping(c.stdout, names[m.PairID]+"\t", m)
		}
		return nil
	case "export":
		if len(pos) != 0 {
			return usagef("mappings export takes --out FILE.csv, no arguments")
		}
		if *out == "" {
			return usagef("mappings export needs --out FILE.csv")
		}
		p, err := c.pickPair(*pairName)
		if err != nil {
			return err
		}
		q := models.MappingQuery{PairID: p.ID, State: *state}
		if *out == "-" {
			_, err := store.ExportCSV(c.stdout, q, nil)
			return err
		}
		n, err := exportFile(store, q, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "wrote %d mappings of pair %q to %s\n", n, p.Name, *out)
		return nil
	default: // delete
		if len(pos) != 1 {
			return usagef("mappings delete needs one record ID")
		}
		var pairID uint
		if *pairName != "" {
			p, err := store.PairByName(*pairName)
			if err != nil {
				return err
			}
			pairID = p.ID
		}
		ms, err := store.FindMappings(pairID, pos[0])
		if err != nil {
			return err
		}
		switch {
		case len(ms) == 0:
			return exitError{exitPartial, fmt.Sprintf("no mapping has record id %q on either side", pos[0])}
		case len(ms) > 1:
			return exitError{exitRefused, fmt.Sprintf("%d mappings have record id %q; add --pair NAME to say which pair", len(ms), pos[0])}
		}
		// a sync of the pair rewrites the rows it read: wait for one
		// that is running (here or in the window) rather than be undone
		release, err := runner.New(store, c.sec).Hold(ms[0].PairID, cliEditWait)
		if errors.Is(err, runner.ErrBusy) {
			return exitError{exitRefused, err.Error()}
		}
		if err != nil {
			return err
		}
		defer release()
		if err := store.DeleteMapping(ms[0].ID); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "deleted the mapping A %q <-> B %q (the records themselves are untouched)\n", ms[0].AID, ms[0].BID)
		return nil
	}
}

// cliEditWait is how long `mappings delete` waits for a running sync of
// the pair to end.
const cliEditWait = 10 * time.Second

func printMapping(w io.Writer, prefix string, m models.Mapping) {
	synced := ""
	if !m.SyncedAt.IsZero() {
		synced = m.SyncedAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\t%s\t%s\n", prefix, m.AID, m.BID, m.State, synced, m.Key, oneLine(m.LastError))
}

// exportFile writes the CSV beside the target and renames it into place,
// so a failed export never leaves half a file under the chosen name.
func exportFile(store *models.Store, q models.MappingQuery, path string) (int, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tandem-export-*.csv")
	if err != nil {
		return 0, err
	}
	n, err := store.ExportCSV(f, q, nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	return n, nil
}

// pickPair resolves --pair, or the only pair.
func (c *cli) pickPair(name string) (*models.Pair, error) {
	if name != "" {
		return c.store.PairByName(name)
	}
	ps, err := c.store.Pairs()
	if err != nil {
		return nil, err
	}
	switch len(ps) {
	case 0:
		return nil, exitError{exitRefused, "no pairs yet; create one with: tandem pair import FILE.json"}
	case 1:
		return &ps[0], nil
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return nil, usagef("there are several pairs: add --pair NAME (one of: %s)", strings.Join(names, ", "))
}

// --- secret ---

func (c *cli) secret(args []string) error {
	cmd, rest, err := sub(args, "secret", "set", "delete")
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("secret "+cmd, flag.ContinueOnError)
	pos, err := parse(fs, rest)
	if err != nil {
		return err
	}
	if len(pos) != 1 || strings.TrimSpace(pos[0]) == "" {
		return usagef("secret %s needs one CONNECTION name", cmd)
	}
	conn := pos[0]
	if cmd == "delete" {
		if err := c.sec.Delete(conn); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "removed the secret of connection %q from the OS keyring\n", conn)
		return nil
	}
	secret, err := c.readSecret(conn)
	if err != nil {
		return err
	}
	if secret == "" {
		return usagef("an empty secret was given for %q; nothing stored", conn)
	}
	if err := c.sec.Set(conn, secret); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "stored the secret of connection %q in the OS keyring\n", conn)
	if store, err := c.openStore(); err == nil {
		if _, err := store.ConnectionByName(conn); errors.Is(err, models.ErrNotFound) {
			fmt.Fprintf(c.stderr, "note: no connection is named %q yet; the secret is used once a pair names it\n", conn)
		}
	}
	return nil
}

// readSecret reads one line from stdin, without echo when it is a terminal.
func (c *cli) readSecret(conn string) (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(c.stderr, "Secret for %q (not shown): ", conn)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("read the secret: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	b, err := io.ReadAll(io.LimitReader(c.stdin, 1<<20))
	if err != nil {
		return "", fmt.Errorf("read the secret: %w", err)
	}
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, "\r"), nil
}

// tuneMemory sets a `sync --once`'s memory up for a short, busy process:
// the collector runs half as often as by default (GOGC 200) under a 1 GiB
// soft limit; GOGC or GOMEMLIMIT in the environment win.
//
// TANDEM_HUGEHEAP=1 grows the heap in huge pages instead (hugeheap, with
// GOGC 400), the default of earlier rounds. On this VM, memory the guest
// handed back to the host costs ~3 ms a MB at first touch, and huge pages
// come from such memory most: after the machine sat idle (free memory
// handed back), first syncs of 10,000 cards took 0.78-1.06 s (median 0.91)
// with huge pages and 0.71-0.94 s (0.84) without, with 0.1-0.3 s more
// system time; without, the heap also peaks at ~100 MB instead of ~130.
func tuneMemory() {
	gc := 200
	if os.Getenv("TANDEM_HUGEHEAP") != "" {
		hugeheap.Reserve(reserveBytes)
		gc = 400
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gc)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
}

// reserveBytes of huge-page heap (TANDEM_HUGEHEAP): a first sync of 10,000
// cards peaks at ~130 MB resident with GOGC 400.
const reserveBytes = 256 << 20
