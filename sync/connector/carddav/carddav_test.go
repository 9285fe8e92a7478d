package carddav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/sync/connector"
	"tandem/sync/connector/carddav/internal/radicaletest"
)

var testFields = []string{"UID", "FN", "EMAIL", "TEL", "NOTE", "N.family", "N.given", "ADR.locality"}

// hookDoer counts requests and can answer or act before one is sent.
type hookDoer struct {
	d      doer
	mu     sync.Mutex
	count  map[string]int
	before func(req *http.Request, body []byte) *http.Response
}

func (h *hookDoer) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	h.mu.Lock()
	if h.count == nil {
		h.count = map[string]int{}
	}
	key := req.Method
	if req.Method == "REPORT" {
		switch {
		case bytes.Contains(body, []byte("addressbook-multiget")):
			key = "REPORT multiget"
		case bytes.Contains(body, []byte("sync-collection")):
			key = "REPORT sync"
		}
	}
	h.count[key]++
	before := h.before
	h.mu.Unlock()
	if before != nil {
		if resp := before(req, body); resp != nil {
			return resp, nil
		}
	}
	return h.d.Do(req)
}

func (h *hookDoer) n(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count[key]
}

func (h *hookDoer) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count = map[string]int{}
}

func openTest(t *testing.T, url, user, pass string) (*conn, *hookDoer) {
	t.Helper()
	h := &hookDoer{d: newHTTPClient()}
	c, err := open(connector.Config{Name: "Work contacts", Settings: map[string]string{"url": url, "username": user},
		Secret: pass, Fields: testFields}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, h
}

func card(uid, fn, email string, extra ...string) string {
	s := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:" + fn + "\r\nN:" + fn + ";;;;\r\nEMAIL:" + email + "\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return s + "END:VCARD\r\n"
}

// putRaw stores a card as another client would and returns its etag.
func putRaw(t *testing.T, s *radicaletest.Server, id, body string) string {
	t.Helper()
	r := s.Do(t, "PUT", s.AddressBook+id, body, nil)
	if r.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %s %s", id, r.Status, r.Body)
	}
	return r.Header.Get("ETag")
}

func getRaw(t *testing.T, s *radicaletest.Server, id string) (string, string) {
	t.Helper()
	r := s.Do(t, "GET", s.AddressBook+id, "", nil)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %s", id, r.Status)
	}
	return r.Body, r.Header.Get("ETag")
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func byID(items []connector.Item) map[string]connector.Item {
	m := map[string]connector.Item{}
	for _, it := range items {
		m[it.ID] = it
	}
	return m
}

func TestRegistered(t *testing.T) {
	k, ok := connector.Lookup(Kind)
	if !ok || !k.NeedsSecret || k.Open == nil {
		t.Fatalf("kind not registered properly: %+v", k)
	}
	if _, err := connector.Open(Kind, connector.Config{Name: "x", Settings: map[string]string{"url": "ftp://h/", "username": "u"}}); err == nil {
		t.Fatal("ftp URL accepted")
	}
}

func TestListAndGetWithDiscovery(t *testing.T) {
	s := radicaletest.StartServer(t)
	e1 := putRaw(t, s, "a.vcf", card("uid-a", "Ada", "ada@example.org", "NOTE:first\\, note", "X-KEEP:1", "REV:20240102T030405Z"))
	e2 := putRaw(t, s, "b.vcf", card("uid-b", "Bob", "bob@example.org", "TEL;TYPE=cell:+1 555 0100"))
	// From the server's root (discovery), its user's home, or the book itself.
	for _, url := range []string{s.Root, s.Root + s.User + "/", s.AddressBook} {
		t.Run(url, func(t *testing.T) {
			c, h := openTest(t, url, s.User, s.Pass)
			if err := c.Test(ctx(t)); err != nil {
				t.Fatalf("Test: %v", err)
			}
			ch, err := c.Changes(ctx(t), "")
			if err != nil {
				t.Fatal(err)
			}
			if !ch.Full || ch.Cursor == "" || len(ch.Items) != 2 {
				t.Fatalf("changes = %+v", ch)
			}
			m := byID(ch.Items)
			if m["a.vcf"].Version != e1 || m["b.vcf"].Version != e2 {
				t.Errorf("versions %+v, want %s %s", m, e1, e2)
			}
			for _, it := range ch.Items {
				if it.Record != nil || it.Deleted {
					t.Errorf("listing item %+v should carry id+version only", it)
				}
			}
			h.reset()
			recs, err := c.Get(ctx(t), []string{"b.vcf", "missing.vcf", "a.vcf"})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || recs[0].ID != "b.vcf" || recs[1].ID != "a.vcf" {
				t.Fatalf("Get = %+v", recs)
			}
			if n := h.n("REPORT multiget"); n != 1 {
				t.Errorf("Get sent %d multigets, want 1", n)
			}
			a, b := recs[1], recs[0]
			if a.Version != e1 || a.Err != nil || a.Fields["FN"] != "Ada" || a.Fields["EMAIL"] != "ada@example.org" ||
				a.Fields["UID"] != "uid-a" || a.Fields["NOTE"] != "first, note" || a.Fields["N.family"] != "Ada" {
				t.Errorf("a = %+v", a)
			}
			if _, ok := a.Fields["X-KEEP"]; ok {
				t.Errorf("unmapped field read: %v", a.Fields)
			}
			// Radicale gives no getlastmodified in a REPORT: REV is used.
			if b.Fields["TEL"] != "+1 555 0100" || !a.Modified.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
				t.Errorf("b = %+v", b)
			}
		})
	}
}

func TestIncrementalChanges(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "keep.vcf", card("k", "Keep", "keep@example.org"))
	putRaw(t, s, "edit.vcf", card("e", "Edit", "edit@example.org"))
	putRaw(t, s, "gone.vcf", card("g", "Gone", "gone@example.org"))
	c, h := openTest(t, s.AddressBook, s.User, s.Pass)
	first, err := c.Changes(ctx(t), "")
	if err != nil || len(first.Items) != 3 {
		t.Fatalf("first = %+v, %v", first, err)
	}

	// Another client adds, edits and deletes.
	eNew := putRaw(t, s, "new.vcf", card("n", "New", "new@example.org"))
	eEdit := putRaw(t, s, "edit.vcf", card("e", "Edited", "edit@example.org"))
	if r := s.Do(t, "DELETE", s.AddressBook+"gone.vcf", "", nil); r.StatusCode/100 != 2 {
		t.Fatalf("DELETE: %s", r.Status)
	}
	h.reset()
	ch, err := c.Changes(ctx(t), first.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Full || ch.Cursor == "" || ch.Cursor == first.Cursor {
		t.Fatalf("incremental changes = %+v", ch)
	}
	m := byID(ch.Items)
	if len(m) != 3 || m["new.vcf"].Version != eNew || m["edit.vcf"].Version != eEdit || !m["gone.vcf"].Deleted {
		t.Fatalf("items = %+v", ch.Items)
	}
	if _, ok := m["keep.vcf"]; ok {
		t.Errorf("unchanged card listed")
	}
	if h.n("REPORT sync") != 1 || h.n("PROPFIND") != 0 {
		t.Errorf("requests = %v", h.count)
	}
	again, err := c.Changes(ctx(t), ch.Cursor)
	if err != nil || len(again.Items) != 0 || again.Full {
		t.Fatalf("nothing changed, got %+v %v", again, err)
	}
}

func TestBadSyncTokenFallsBackToFullListing(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "a.vcf", card("a", "A", "a@example.org"))
	putRaw(t, s, "b.vcf", card("b", "B", "b@example.org"))
	c, _ := openTest(t, s.AddressBook, s.User, s.Pass)
	ch, err := c.Changes(ctx(t), "http://radicale.org/ns/sync/0000000000000000000000000000000000000000000000000000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Full || len(ch.Items) != 2 || ch.Cursor == "" {
		t.Fatalf("changes = %+v", ch)
	}
	// The new cursor works incrementally.
	putRaw(t, s, "c.vcf", card("c", "C", "c@example.org"))
	next, err := c.Changes(ctx(t), ch.Cursor)
	if err != nil || next.Full || len(next.Items) != 1 || next.Items[0].ID != "c.vcf" {
		t.Fatalf("next = %+v, %v", next, err)
	}
}

func TestServerWithoutSyncCollection(t *testing.T) {
	s := radicaletest.StartServer(t)
	e := putRaw(t, s, "a.vcf", card("a", "A", "a@example.org"))
	c, h := openTest(t, s.AddressBook, s.User, s.Pass)
	h.before = func(req *http.Request, body []byte) *http.Response {
		if req.Method == "REPORT" && bytes.Contains(body, []byte("sync-collection")) {
			return &http.Response{StatusCode: http.StatusNotImplemented, Body: io.NopCloser(strings.NewReader("")),
				Header: http.Header{}, Request: req}
		}
		return nil
	}
	for run := 0; run < 2; run++ {
		ch, err := c.Changes(ctx(t), "")
		if err != nil {
			t.Fatal(err)
		}
		if !ch.Full || ch.Cursor != "" || len(ch.Items) != 1 || ch.Items[0].Version != e {
			t.Fatalf("run %d: %+v", run, ch)
		}
	}
	if n := h.n("REPORT sync"); n != 1 {
		t.Errorf("sync-collection tried %d times, want once", n)
	}
}

func TestWritesChangeOnlyMappedFields(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "x.vcf", card("uid-x", "Xavier", "x@work.example",
		"EMAIL;TYPE=home:x@home.example", "TEL;TYPE=cell:+33 1 23", "X-CUSTOM;X-P=v:keep me", "NOTE:old note"))
	c, _ := openTest(t, s.AddressBook, s.User, s.Pass)
	recs, err := c.Get(ctx(t), []string{"x.vcf"})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	res, err := c.Apply(ctx(t), []connector.Write{
		{Op: connector.OpUpdate, ID: "x.vcf", Version: recs[0].Version,
			Fields: map[string]string{"EMAIL": "x@new.example", "NOTE": "", "N.given": "Xav"}},
		{Op: connector.OpCreate, Fields: map[string]string{"EMAIL": "new@example.org", "N.family": "Newman", "N.given": "Nina", "TEL": "+1 2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	body, etag := getRaw(t, s, "x.vcf")
	if res[0].Record.Version != etag || etag == recs[0].Version {
		t.Errorf("update version %q, server etag %q (old %q)", res[0].Record.Version, etag, recs[0].Version)
	}
	for _, want := range []string{"EMAIL:x@new.example", "EMAIL;TYPE=home:x@home.example", "TEL;TYPE=cell:+33 1 23",
		"X-CUSTOM;X-P=v:keep me", "UID:uid-x", "FN:Xavier", "N:Xavier;Xav;;;"} {
		if !strings.Contains(body, want) {
			t.Errorf("card lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "NOTE") || strings.Contains(body, "x@work.example") {
		t.Errorf("card kept a changed field:\n%s", body)
	}

	id := res[1].Record.ID
	if !strings.HasSuffix(id, ".vcf") {
		t.Fatalf("created id %q", id)
	}
	body, etag = getRaw(t, s, id)
	if res[1].Record.Version != etag {
		t.Errorf("create version %q, server etag %q", res[1].Record.Version, etag)
	}
	for _, want := range []string{"EMAIL:new@example.org", "N:Newman;Nina;;;", "FN:Nina Newman", "UID:" + strings.TrimSuffix(id, ".vcf"), "TEL:+1 2"} {
		if !strings.Contains(body, want) {
			t.Errorf("created card lacks %q:\n%s", want, body)
		}
	}

	// An update that changes nothing sends no PUT and keeps the version.
	same, err := c.Apply(ctx(t), []connector.Write{{Op: connector.OpUpdate, ID: id, Version: etag, Fields: map[string]string{"EMAIL": "new@example.org"}}})
	if err != nil || same[0].Err != nil || same[0].Record.Version != etag {
		t.Fatalf("no-op update: %+v %v", same, err)
	}

	// Deletes: a stale version is refused, the right one deletes.
	del, err := c.Apply(ctx(t), []connector.Write{
		{Op: connector.OpDelete, ID: id, Version: `"stale"`},
		{Op: connector.OpUpdate, ID: "nothere.vcf", Fields: map[string]string{"FN": "x"}},
	})
	if err != nil || !errors.Is(del[0].Err, connector.ErrVersionMismatch) || !errors.Is(del[1].Err, connector.ErrNotFound) {
		t.Fatalf("stale delete / missing update: %+v %v", del, err)
	}
	getRaw(t, s, id) // still there
	del, err = c.Apply(ctx(t), []connector.Write{{Op: connector.OpDelete, ID: id, Version: etag}})
	if err != nil || del[0].Err != nil {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if r := s.Do(t, "GET", s.AddressBook+id, "", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("deleted card still answers %s", r.Status)
	}
}

func TestRaceGivesVersionMismatch(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "r.vcf", card("r", "Race", "race@example.org", "NOTE:original"))
	c, h := openTest(t, s.AddressBook, s.User, s.Pass)
	recs, err := c.Get(ctx(t), []string{"r.vcf"})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}

	// 1. Changed between our read (Get) and our write.
	putRaw(t, s, "r.vcf", card("r", "Race", "race@example.org", "NOTE:theirs 1"))
	res, err := c.Apply(ctx(t), []connector.Write{{Op: connector.OpUpdate, ID: "r.vcf", Version: recs[0].Version,
		Fields: map[string]string{"EMAIL": "mine@example.org"}}})
	if err != nil || !errors.Is(res[0].Err, connector.ErrVersionMismatch) {
		t.Fatalf("want version mismatch, got %+v %v", res, err)
	}
	body, etag := getRaw(t, s, "r.vcf")
	if !strings.Contains(body, "NOTE:theirs 1") || strings.Contains(body, "mine@example.org") {
		t.Fatalf("the other change was overwritten:\n%s", body)
	}

	// 2. Changed between the update's own GET and its PUT: If-Match catches it.
	var once sync.Once
	h.before = func(req *http.Request, _ []byte) *http.Response {
		if req.Method == http.MethodPut {
			once.Do(func() { putRaw(t, s, "r.vcf", card("r", "Race", "race@example.org", "NOTE:theirs 2")) })
		}
		return nil
	}
	res, err = c.Apply(ctx(t), []connector.Write{{Op: connector.OpUpdate, ID: "r.vcf", Version: etag,
		Fields: map[string]string{"EMAIL": "mine@example.org"}}})
	if err != nil || !errors.Is(res[0].Err, connector.ErrVersionMismatch) {
		t.Fatalf("want version mismatch, got %+v %v", res, err)
	}
	body, _ = getRaw(t, s, "r.vcf")
	if !strings.Contains(body, "NOTE:theirs 2") || strings.Contains(body, "mine@example.org") {
		t.Fatalf("the other change was overwritten:\n%s", body)
	}
}

func TestWrongPassword(t *testing.T) {
	s := radicaletest.StartServer(t)
	const bad = "not-the-password-42"
	for _, url := range []string{s.AddressBook, s.Root} {
		c, _ := openTest(t, url, s.User, bad)
		checks := map[string]error{}
		checks["Test"] = c.Test(ctx(t))
		_, checks["Changes"] = c.Changes(ctx(t), "")
		_, checks["Get"] = c.Get(ctx(t), []string{"a.vcf"})
		_, checks["Apply"] = c.Apply(ctx(t), []connector.Write{{Op: connector.OpCreate, Fields: map[string]string{"FN": "Intruder"}}})
		for name, err := range checks {
			if !errors.Is(err, connector.ErrAuth) {
				t.Errorf("%s %s: want ErrAuth, got %v", url, name, err)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, `refused the username or password for "Work contacts"`) || strings.Contains(msg, bad) {
				t.Errorf("%s: message %q", name, msg)
			}
		}
	}
	r := s.Do(t, "PROPFIND", s.AddressBook, "", map[string]string{"Depth": "1"})
	if n := strings.Count(r.Body, ".vcf</href>"); n != 0 {
		t.Errorf("%d cards written with a wrong password", n)
	}
}

func TestServerGoesAway(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "a.vcf", card("a", "A", "a@example.org"))
	c, _ := openTest(t, s.Root, s.User, s.Pass)
	ch, err := c.Changes(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	checks := map[string]error{}
	_, checks["Changes"] = c.Changes(ctx(t), ch.Cursor)
	_, checks["Get"] = c.Get(ctx(t), []string{"a.vcf"})
	res, applyErr := c.Apply(ctx(t), []connector.Write{
		{Op: connector.OpCreate, Fields: map[string]string{"FN": "B"}},
		{Op: connector.OpDelete, ID: "a.vcf"},
	})
	checks["Apply"] = applyErr
	checks["Test"] = c.Test(ctx(t))
	for name, err := range checks {
		if !errors.Is(err, connector.ErrUnreachable) {
			t.Errorf("%s: want ErrUnreachable, got %v", name, err)
		} else if strings.Contains(err.Error(), s.Pass) {
			t.Errorf("%s: password in %q", name, err)
		}
	}
	if len(res) != 2 || !errors.Is(res[1].Err, connector.ErrUnreachable) {
		t.Errorf("results = %+v", res)
	}
}

func TestFindByField(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "a.vcf", card("a", "Ann", "Ann@Example.org"))
	putRaw(t, s, "b.vcf", card("b", "Bo", "bob@example.org", "EMAIL:ann@example.org.uk"))
	c, _ := openTest(t, s.AddressBook, s.User, s.Pass)
	recs, err := c.FindByField(ctx(t), "EMAIL", " ann@example.org ")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != "a.vcf" || recs[0].Fields["FN"] != "Ann" || recs[0].Version == "" {
		t.Fatalf("FindByField = %+v", recs)
	}
	var _ connector.KeyFinder = c
}

func TestBatchedReads(t *testing.T) {
	s := radicaletest.StartServer(t)
	c, h := openTest(t, s.AddressBook, s.User, s.Pass)
	want := map[string]string{}
	cards := map[string]string{}
	for i := 0; i < BatchSize+5; i++ {
		id := fmt.Sprintf("p%03d.vcf", i)
		want[id] = fmt.Sprintf("p%03d@example.org", i)
		cards[id] = card(fmt.Sprintf("u%03d", i), fmt.Sprintf("Person %03d", i), want[id])
	}
	s.Seed(t, cards)
	h.reset()
	ch, err := c.Changes(ctx(t), "")
	if err != nil || len(ch.Items) != len(cards) {
		t.Fatalf("listing %d items, %v", len(ch.Items), err)
	}
	ids := make([]string, 0, len(ch.Items))
	for _, it := range ch.Items {
		ids = append(ids, it.ID)
	}
	sort.Strings(ids)
	recs, err := c.Get(ctx(t), ids)
	if err != nil || len(recs) != len(ids) {
		t.Fatalf("Get %d of %d, %v", len(recs), len(ids), err)
	}
	for _, r := range recs {
		if r.Fields["EMAIL"] != want[r.ID] {
			t.Errorf("%s: EMAIL %q want %q", r.ID, r.Fields["EMAIL"], want[r.ID])
		}
	}
	if n := h.n("REPORT multiget"); n != 2 {
		t.Errorf("%d multigets for %d cards, want 2", n, len(ids))
	}
	if total := h.n("REPORT multiget") + h.n("REPORT sync") + h.n("PROPFIND") + h.n("GET"); total > 4 {
		t.Errorf("too many requests: %v", h.count)
	}
}

// A card the server holds but that cannot be parsed is reported on its own.
func TestMalformedCardIsPerRecord(t *testing.T) {
	good := card("g", "Good", "good@example.org")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusMultiStatus)
		switch r.Method {
		case "PROPFIND":
			fmt.Fprint(w, `<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
<response><href>/book/</href><propstat><prop><resourcetype><collection/><C:addressbook/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`)
		case "REPORT":
			fmt.Fprintf(w, `<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
<response><href>/book/good.vcf</href><propstat><prop><getetag>"1"</getetag><C:address-data>%s</C:address-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/book/bad.vcf</href><propstat><prop><getetag>"2"</getetag><C:address-data>this is not a vcard</C:address-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/book/missing.vcf</href><status>HTTP/1.1 404 Not Found</status></response>
</multistatus>`, good)
		}
	}))
	defer srv.Close()
	c, _ := openTest(t, srv.URL+"/book/", "u", "pw")
	recs, err := c.Get(ctx(t), []string{"good.vcf", "bad.vcf", "missing.vcf"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("recs = %+v", recs)
	}
	if recs[0].Err != nil || recs[0].Fields["EMAIL"] != "good@example.org" || recs[0].Version != `"1"` {
		t.Errorf("good = %+v", recs[0])
	}
	if !errors.Is(recs[1].Err, connector.ErrInvalidRecord) || recs[1].ID != "bad.vcf" || recs[1].Version != `"2"` {
		t.Errorf("bad = %+v", recs[1])
	}
}

// A server that answers a PUT without an ETag: the version is asked for.
func TestPutWithoutETagFetchesVersion(t *testing.T) {
	s := radicaletest.StartServer(t)
	c, h := openTest(t, s.AddressBook, s.User, s.Pass)
	plain := newHTTPClient()
	h.before = func(req *http.Request, _ []byte) *http.Response {
		if req.Method != http.MethodPut {
			return nil
		}
		resp, err := plain.Do(req)
		if err != nil {
			t.Error(err)
			return nil
		}
		resp.Header.Del("ETag")
		return resp
	}
	res, err := c.Apply(ctx(t), []connector.Write{{Op: connector.OpCreate, Fields: map[string]string{"FN": "No Tag", "EMAIL": "nt@example.org"}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("%+v %v", res, err)
	}
	_, etag := getRaw(t, s, res[0].Record.ID)
	if etag == "" || res[0].Record.Version != etag {
		t.Errorf("version %q, server etag %q", res[0].Record.Version, etag)
	}
	if h.n("PROPFIND") < 2 { // discovery + the etag lookup
		t.Errorf("no etag lookup: %v", h.count)
	}
}

// Text that needs vCard escapes (commas, semicolons, newlines, backslashes)
// goes through the server and comes back exactly as written, on update and
// on create.
func TestEscapedValuesRoundTrip(t *testing.T) {
	s := radicaletest.StartServer(t)
	putRaw(t, s, "e.vcf", card("uid-e", "Eve", "eve@example.org", "NOTE:old"))
	c, _ := openTest(t, s.AddressBook, s.User, s.Pass)
	values := map[string]string{
		"NOTE":         "a, b; c\nd",
		"FN":           `C:\Users\eve \n is not a newline \`,
		"N.given":      `semi;colon, comma\back`,
		"ADR.locality": "Paris, France",
	}
	recs, err := c.Get(ctx(t), []string{"e.vcf"})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	res, err := c.Apply(ctx(t), []connector.Write{
		{Op: connector.OpUpdate, ID: "e.vcf", Version: recs[0].Version, Fields: values},
		{Op: connector.OpCreate, Fields: values},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("%+v %v", res, err)
	}
	for _, id := range []string{"e.vcf", res[1].Record.ID} {
		got, err := c.Get(ctx(t), []string{id})
		if err != nil || len(got) != 1 {
			t.Fatal(got, err)
		}
		for k, v := range values {
			if got[0].Fields[k] != v {
				body, _ := getRaw(t, s, id)
				t.Errorf("%s: %s = %q, want %q\n%s", id, k, got[0].Fields[k], v, body)
			}
		}
	}
	// the server holds the escapes vCard asks for, each done once
	body, _ := getRaw(t, s, "e.vcf")
	if !strings.Contains(body, `NOTE:a\, b\; c\nd`) {
		t.Errorf("NOTE line not escaped once:\n%s", body)
	}
	// writing the same values again sends nothing
	got, _ := c.Get(ctx(t), []string{"e.vcf"})
	same, err := c.Apply(ctx(t), []connector.Write{{Op: connector.OpUpdate, ID: "e.vcf", Version: got[0].Version, Fields: values}})
	if err != nil || same[0].Err != nil || same[0].Record.Version != got[0].Version {
		t.Fatalf("no-op update: %+v %v", same, err)
	}
}

// An update of one mapped field leaves every other byte of the server's
// card as it was: only that property's line differs.
func TestUpdateChangesOnlyThatLine(t *testing.T) {
	s := radicaletest.StartServer(t)
	orig := "BEGIN:VCARD\r\n" +
		"VERSION:3.0\r\n" +
		"PRODID:-//Other Client//EN\r\n" +
		"item1.EMAIL;type=INTERNET;type=pref:o@work.example\r\n" +
		"item1.X-ABLabel:_$!<Work>!$_\r\n" +
		"UID:uid-o\r\n" +
		"N:Other;Olga;;;\r\n" +
		"FN:Olga Other\r\n" +
		"TEL;TYPE=cell:+33 1 23\r\n" +
		"NOTE:a long note that goes on and on so that the line has to be folded by \r\n" +
		" the writer\\, with a comma\\; and a semicolon\r\n" +
		"X-CUSTOM;X-P=\"v,w\":keep\\,me\r\n" +
		"CATEGORIES:friends,work\r\n" +
		"END:VCARD\r\n"
	putRaw(t, s, "o.vcf", orig)
	before, _ := getRaw(t, s, "o.vcf")
	c, _ := openTest(t, s.AddressBook, s.User, s.Pass)
	recs, err := c.Get(ctx(t), []string{"o.vcf"})
	if err != nil || len(recs) != 1 || recs[0].Fields["NOTE"] != "a long note that goes on and on so that the line has to be folded by the writer, with a comma; and a semicolon" {
		t.Fatal(recs, err)
	}
	res, err := c.Apply(ctx(t), []connector.Write{{Op: connector.OpUpdate, ID: "o.vcf", Version: recs[0].Version,
		Fields: map[string]string{"TEL": "+33 9 87", "EMAIL": "o@work.example", "NOTE": recs[0].Fields["NOTE"]}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("%+v %v", res, err)
	}
	after, _ := getRaw(t, s, "o.vcf")
	want := strings.Replace(before, "TEL;TYPE=cell:+33 1 23\r\n", "TEL;TYPE=cell:+33 9 87\r\n", 1)
	if want == before {
		t.Fatalf("the server changed the TEL line on its own:\n%s", before)
	}
	if after != want {
		t.Errorf("card after update:\n%q\nwant:\n%q", after, want)
	}
}
