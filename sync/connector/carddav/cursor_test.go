package carddav

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"tandem/sync/connector"
	"tandem/sync/connector/carddav/internal/radicaletest"
)

// run is one sync run's connector: a fresh connection, as the runner opens
// one per run (discovery, and so the ctag, happen in its first Changes).
func run(t *testing.T, s *radicaletest.Server) (*conn, *hookDoer) {
	return openTest(t, s.AddressBook, s.User, s.Pass)
}

func changes(t *testing.T, c *conn, cursor string) connector.Changes {
	t.Helper()
	ch, err := c.Changes(ctx(t), cursor)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func ctagOf(cursor string) string {
	_, ctag := cursorParts(cursor)
	return ctag
}

// settled returns a cursor carrying a ctag: a full listing, then a run
// that found nothing new.
func settled(t *testing.T, s *radicaletest.Server) string {
	t.Helper()
	c, _ := run(t, s)
	first := changes(t, c, "")
	if ctagOf(first.Cursor) != "" {
		t.Fatalf("a full listing got a ctag: %q", first.Cursor)
	}
	c2, _ := run(t, s)
	ch := changes(t, c2, first.Cursor)
	if len(ch.Items) != 0 || ctagOf(ch.Cursor) == "" {
		t.Fatalf("nothing changed, want a cursor with a ctag: %+v", ch)
	}
	return ch.Cursor
}

func TestUnchangedCtagSkipsTheReport(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "a.vcf", card("a", "A", "a@example.org"))
	cur := settled(t, s)

	c, h := run(t, s)
	ch := changes(t, c, cur)
	if len(ch.Items) != 0 || ch.Full || ch.Cursor != cur {
		t.Fatalf("nothing changed: %+v", ch)
	}
	if h.n("REPORT sync") != 0 || h.n("PROPFIND") != 1 {
		t.Errorf("want the discovery PROPFIND only, got %v", h.count)
	}

	// Another client edits: the ctag moves and the REPORT lists it.
	etag := putRaw(t, s, "a.vcf", card("a", "A2", "a@example.org"))
	c, h = run(t, s)
	ch = changes(t, c, cur)
	if len(ch.Items) != 1 || ch.Items[0].ID != "a.vcf" || ch.Items[0].Version != etag || h.n("REPORT sync") != 1 {
		t.Fatalf("edit not listed: %+v (requests %v)", ch, h.count)
	}
	if ctagOf(ch.Cursor) != "" {
		t.Errorf("a listing with changes got a ctag: %q", ch.Cursor)
	}
}

// A change made between the ctag read and the REPORT, then undone, must be
// seen: the ctag read before it must not be stored with the later token.
func TestChangeDuringListingKeepsNoCtag(t *testing.T) {
	s := radicaletest.StartServer(t)
	orig := card("a", "A", "a@example.org")
	putRaw(t, s, "a.vcf", orig)
	cur := settled(t, s)
	putRaw(t, s, "b.vcf", card("b", "B", "b@example.org")) // makes this run list something

	c, h := run(t, s)
	var once sync.Once
	h.before = func(req *http.Request, body []byte) *http.Response {
		if req.Method == "REPORT" && strings.Contains(string(body), "sync-collection") {
			once.Do(func() { putRaw(t, s, "a.vcf", card("a", "Theirs", "a@example.org")) })
		}
		return nil
	}
	ch := changes(t, c, cur)
	if len(ch.Items) != 2 || ctagOf(ch.Cursor) != "" {
		t.Fatalf("want both changes and no ctag: %+v", ch)
	}

	// Undone: the book's contents are back to what they were at the ctag read.
	etag := putRaw(t, s, "a.vcf", orig)
	c, _ = run(t, s)
	next := changes(t, c, ch.Cursor)
	if m := byID(next.Items); len(m) != 1 || m["a.vcf"].Version != etag {
		t.Fatalf("the undo was missed: %+v", next)
	}
}

// A connection whose book was resolved earlier (Test, or an earlier run)
// holds a stale ctag: it lists by token.
func TestLongLivedConnectionListsByToken(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "a.vcf", card("a", "A", "a@example.org"))
	cur := settled(t, s)
	c, _ := run(t, s)
	if err := c.Test(ctx(t)); err != nil {
		t.Fatal(err)
	}
	etag := putRaw(t, s, "a.vcf", card("a", "A2", "a@example.org"))
	ch := changes(t, c, cur)
	if len(ch.Items) != 1 || ch.Items[0].Version != etag {
		t.Fatalf("after Test: edit not listed: %+v", ch)
	}
	etag = putRaw(t, s, "a.vcf", card("a", "A3", "a@example.org"))
	ch = changes(t, c, cur)
	if len(ch.Items) != 1 || ch.Items[0].Version != etag {
		t.Fatalf("second Changes: edit not listed: %+v", ch)
	}
}

// writeRun is a run that lists from cursor, creates two cards and updates
// upd and deletes del (existing cards' ids, "" for none), calls between()
// after the writes, and returns the cursor AdvanceCursor gives.
func writeRun(t *testing.T, s *radicaletest.Server, cursor, upd, del string, between func(created []string, h *hookDoer)) string {
	t.Helper()
	c, h := run(t, s)
	ch := changes(t, c, cursor)
	ws := []connector.Write{
		{Op: connector.OpCreate, Fields: map[string]string{"FN": "New One", "EMAIL": "one@example.org"}},
		{Op: connector.OpCreate, Fields: map[string]string{"FN": "New Two", "EMAIL": "two@example.org"}},
	}
	if upd != "" {
		recs, err := c.Get(ctx(t), []string{upd})
		if err != nil || len(recs) != 1 {
			t.Fatal(recs, err)
		}
		ws = append(ws, connector.Write{Op: connector.OpUpdate, ID: upd, Version: recs[0].Version,
			Fields: map[string]string{"NOTE": "ours"}})
	}
	if del != "" {
		ws = append(ws, connector.Write{Op: connector.OpDelete, ID: del})
	}
	res, err := c.Apply(ctx(t), ws)
	if err != nil {
		t.Fatal(err)
	}
	var created []string
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("write %d: %v", i, r.Err)
		}
		if ws[i].Op == connector.OpCreate {
			created = append(created, r.Record.ID)
		}
	}
	if between != nil {
		between(created, h)
	}
	return c.AdvanceCursor(ctx(t), ch.Cursor)
}

func TestAdvanceCursorPassesOwnWrites(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "u.vcf", card("u", "U", "u@example.org"))
	putRaw(t, s, "d.vcf", card("d", "D", "d@example.org"))
	c, _ := run(t, s)
	start := changes(t, c, "").Cursor

	cur := writeRun(t, s, start, "u.vcf", "d.vcf", nil)
	if cur == start || ctagOf(cur) == "" {
		t.Fatalf("cursor not advanced: %q", cur)
	}
	next, h := run(t, s)
	ch := changes(t, next, cur)
	if len(ch.Items) != 0 || h.n("REPORT sync") != 0 {
		t.Fatalf("own writes listed again: %+v (requests %v)", ch, h.count)
	}
}

func TestAdvanceCursorWithoutWritesSendsNothing(t *testing.T) {
	s := radicaletest.StartServer(t)
	c, h := run(t, s)
	cur := changes(t, c, "").Cursor
	h.reset()
	if got := c.AdvanceCursor(ctx(t), cur); got != cur {
		t.Errorf("cursor %q, want %q", got, cur)
	}
	if len(h.count) != 0 {
		t.Errorf("requests %v", h.count)
	}
}

// Another client's change made after our writes (before the cursor is
// advanced, while it is, or after) must be listed by the next run.
func TestAdvanceCursorNeverSkipsAnotherClient(t *testing.T) {
	// A change returns the card it touched and whether it deleted it;
	// created holds the ids of the cards our run created.
	type change func(t *testing.T, s *radicaletest.Server, created []string) (id string, gone bool)
	edit := func(id string) change {
		return func(t *testing.T, s *radicaletest.Server, created []string) (string, bool) {
			if id == "" {
				id = created[0]
			}
			putRaw(t, s, id, card(strings.TrimSuffix(id, ".vcf"), "Theirs", "theirs@example.org"))
			return id, false
		}
	}
	del := func(t *testing.T, s *radicaletest.Server, created []string) (string, bool) {
		if r := s.Do(t, "DELETE", s.AddressBook+created[1], "", nil); r.StatusCode/100 != 2 {
			t.Fatalf("DELETE: %s", r.Status)
		}
		return created[1], true
	}
	cases := []struct {
		name string
		when string // "writes": after our writes; "ctag", "report": just before AdvanceCursor's ctag read, its REPORT; "after": after it
		do   change
	}{
		{"edit of another card", "writes", edit("o.vcf")},
		{"new card", "writes", edit("fresh.vcf")},
		{"edit of a card we created", "writes", edit("")},
		{"edit of the card we updated", "writes", edit("u.vcf")},
		{"delete of a card we created", "writes", del},
		{"edit before the advance reads the ctag", "ctag", edit("o.vcf")},
		{"edit during the advance", "report", edit("o.vcf")},
		{"edit of a card we created during the advance", "report", edit("")},
		{"edit after the advance", "after", edit("o.vcf")},
		{"delete after the advance", "after", del},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := radicaletest.StartServer(t)
			putRaw(t, s, "o.vcf", card("o", "Other", "o@example.org"))
			putRaw(t, s, "u.vcf", card("u", "U", "u@example.org"))
			c, _ := run(t, s)
			start := changes(t, c, "").Cursor

			var id string
			var gone bool
			var created []string
			cur := writeRun(t, s, start, "u.vcf", "", func(cr []string, h *hookDoer) {
				created = cr
				switch tc.when {
				case "writes":
					id, gone = tc.do(t, s, cr)
				case "ctag", "report": // just before AdvanceCursor's ctag read, or its REPORT
					var once sync.Once
					h.before = func(req *http.Request, body []byte) *http.Response {
						if (tc.when == "report" && req.Method == "REPORT") ||
							(tc.when == "ctag" && req.Method == "PROPFIND" && strings.Contains(string(body), "getctag")) {
							once.Do(func() { id, gone = tc.do(t, s, cr) })
						}
						return nil
					}
				}
			})
			if tc.when == "after" {
				id, gone = tc.do(t, s, created)
			}
			if id == "" {
				t.Fatal("the other client's change did not run")
			}

			next, _ := run(t, s)
			ch := changes(t, next, cur)
			if it, ok := byID(ch.Items)[id]; !ok || it.Deleted != gone {
				t.Fatalf("change to %s not listed next run: %+v", id, ch.Items)
			}
		})
	}
}
