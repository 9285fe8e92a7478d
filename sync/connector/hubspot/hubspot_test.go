package hubspot_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/sync/connector"
	"tandem/sync/connector/hubspot"
	"tandem/sync/connector/hubspot/hubspottest"
)

// clock is a fake clock shared by the fake server and the connector:
// sleeping advances it, so rate-limit waits cost no wall time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

const token = "pat-na1-0000-SECRET"

var fields = []string{"email", "firstname", "lastname", "phone", "date_of_birth"}

type env struct {
	fake *hubspottest.Server
	conn *hubspot.Connector
	clk  *clock
}

func setup(t testing.TB, fo hubspottest.Options, plan string, o hubspot.Options) *env {
	t.Helper()
	clk := newClock()
	fo.Token = token
	fo.Now = clk.Now
	fake := hubspottest.New(fo)
	t.Cleanup(fake.Close)
	o.Now, o.Sleep = clk.Now, clk.Sleep
	if o.BaseBackoff == 0 {
		o.BaseBackoff = 10 * time.Millisecond
	}
	conn, err := hubspot.New(connector.Config{
		Name: "HubSpot test", Secret: token, Fields: fields,
		Settings: map[string]string{"base_url": fake.URL, "plan": plan},
	}, o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: fake, conn: conn, clk: clk}
}

func (e *env) seed(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.fake.Create(map[string]string{
			"email": fmt.Sprintf("p%05d@example.com", i), "firstname": "P" + strconv.Itoa(i),
			"lastname": "Person", "date_of_birth": "1985-04-12",
		})
	}
	return ids
}

func itemIDs(ch connector.Changes, deleted bool) map[string]connector.Item {
	out := map[string]connector.Item{}
	for _, it := range ch.Items {
		if it.Deleted == deleted {
			out[it.ID] = it
		}
	}
	return out
}

func TestRegistered(t *testing.T) {
	k, ok := connector.Lookup("hubspot")
	if !ok || !k.NeedsSecret || k.SecretLabel != "Private app token" || k.Label != "HubSpot contacts" {
		t.Fatalf("kind %+v", k)
	}
	defaults := map[string]string{}
	for _, s := range k.Settings {
		defaults[s.Key] = s.Default
	}
	if defaults["base_url"] != "https://api.hubapi.com" || defaults["plan"] != "free" {
		t.Fatalf("defaults %v", defaults)
	}
	if _, err := connector.Open("hubspot", connector.Config{Name: "x", Secret: "t", Settings: map[string]string{"plan": "platinum"}}); err == nil || !strings.Contains(err.Error(), "professional") {
		t.Fatalf("unknown plan: %v", err)
	}
	if _, err := connector.Open("hubspot", connector.Config{Name: "x"}); err == nil {
		t.Fatal("no token must be refused")
	}
	if p := hubspot.Plans["professional"]; p.Burst != 190 || p.Window != 10*time.Second {
		t.Fatalf("professional plan %+v", p)
	}
}

func TestFullListing(t *testing.T) {
	e := setup(t, hubspottest.Options{DatesAsMillis: true}, "free", hubspot.Options{})
	ids := e.seed(250)
	ctx := context.Background()
	ch, err := e.conn.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Full || len(ch.Items) != 250 || ch.Cursor == "" {
		t.Fatalf("full=%v items=%d cursor=%q", ch.Full, len(ch.Items), ch.Cursor)
	}
	got := itemIDs(ch, false)
	for i, id := range ids {
		it, ok := got[id]
		if !ok || it.Record == nil {
			t.Fatalf("contact %s missing", id)
		}
		r := it.Record
		if r.Fields["email"] != fmt.Sprintf("p%05d@example.com", i) || r.Fields["lastname"] != "Person" {
			t.Fatalf("fields %v", r.Fields)
		}
		// Stored as epoch millis, read as YYYY-MM-DD.
		if r.Fields["date_of_birth"] != "1985-04-12" {
			t.Fatalf("date_of_birth %q", r.Fields["date_of_birth"])
		}
		if r.Version == "" || r.Version != it.Version || r.Modified.IsZero() {
			t.Fatalf("version %q modified %v", r.Version, r.Modified)
		}
		if _, extra := r.Fields["hs_object_id"]; extra {
			t.Fatal("only mapped fields are handed out")
		}
	}
	st := e.fake.Stats()
	if st.Requests["list"] != 3 || st.Requests["properties"] != 1 || st.Total != 4 {
		t.Fatalf("requests %v", st.Requests)
	}
}

func TestIncrementalWithSearchLag(t *testing.T) {
	e := setup(t, hubspottest.Options{}, "professional", hubspot.Options{})
	ids := e.seed(3)
	ctx := context.Background()
	ch, err := e.conn.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	// A is written while the search index lags 30 s; B, 10 s later, shows at once.
	e.fake.SetLag(30 * time.Second)
	e.fake.Update(ids[0], map[string]string{"phone": "+1 555 0100"})
	e.fake.SetLag(0)
	e.clk.Advance(10 * time.Second)
	e.fake.Update(ids[1], map[string]string{"phone": "+1 555 0101"})
	e.clk.Advance(time.Second)

	ch1, err := e.conn.Changes(ctx, ch.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	got := itemIDs(ch1, false)
	if ch1.Full || got[ids[1]].Record == nil || got[ids[1]].Record.Fields["phone"] != "+1 555 0101" {
		t.Fatalf("first poll: full=%v items %v", ch1.Full, got)
	}
	// The overlap re-lists recent contacts; A only as the index still has it.
	known := itemIDs(ch, false)
	if it, ok := got[ids[0]]; ok && (it.Version != known[ids[0]].Version || it.Record.Fields["phone"] != "") {
		t.Fatalf("A visible before the lag passed: %+v", it.Record)
	}

	e.clk.Advance(30 * time.Second) // A becomes visible to search
	// Without an overlap window, A (older than B) would be missed for good.
	blind, err := hubspot.New(connector.Config{Name: "blind", Secret: token, Fields: fields,
		Settings: map[string]string{"base_url": e.fake.URL}},
		hubspot.Options{Now: e.clk.Now, Sleep: e.clk.Sleep, Overlap: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	chBlind, err := blind.Changes(ctx, ch1.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if _, saw := itemIDs(chBlind, false)[ids[0]]; saw {
		t.Fatal("control: a 1 ms overlap should miss the late record (test cannot tell otherwise)")
	}

	ch2, err := e.conn.Changes(ctx, ch1.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	got = itemIDs(ch2, false)
	if it, ok := got[ids[0]]; !ok || it.Record.Fields["phone"] != "+1 555 0100" {
		t.Fatalf("late record not caught by the overlap: %v", got)
	}
	if it, ok := got[ids[2]]; ok && it.Version != known[ids[2]].Version {
		t.Fatal("an unchanged contact changed version")
	}
}

func TestMoreThanSearchCap(t *testing.T) {
	e := setup(t, hubspottest.Options{Burst: 190, SearchPerSecond: 4}, "professional", hubspot.Options{})
	const n = 10450
	ids := e.seed(n)
	ctx := context.Background()
	ch, err := e.conn.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Minute)
	for _, id := range ids {
		e.fake.Update(id, map[string]string{"lastname": "Changed"})
	}
	e.fake.ResetStats()
	ch2, err := e.conn.Changes(ctx, ch.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	got := itemIDs(ch2, false)
	if len(got) != n || len(ch2.Items) != n {
		t.Fatalf("saw %d distinct of %d changed (%d items)", len(got), n, len(ch2.Items))
	}
	for _, id := range ids {
		if it := got[id]; it.Record == nil || it.Record.Fields["lastname"] != "Changed" {
			t.Fatalf("contact %s missing or stale", id)
		}
	}
	st := e.fake.Stats()
	if st.RateLimited != 0 {
		t.Errorf("429s: %d", st.RateLimited)
	}
	// 10,450 / 200 = 53 pages, plus the probe and the newest-first query.
	if s := st.Requests["search"]; s > 60 {
		t.Errorf("%d searches for %d changes", s, n)
	}
}

func TestArchiveDetectionAndReconciliation(t *testing.T) {
	e := setup(t, hubspottest.Options{}, "free", hubspot.Options{FullEveryRuns: 3})
	ids := e.seed(6)
	e.fake.Archive(ids[5]) // archived before the first listing: not news later
	e.clk.Advance(10 * time.Minute)
	e.fake.Update(ids[4], map[string]string{"phone": "1"})
	ctx := context.Background()
	ch, err := e.conn.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Items) != 5 {
		t.Fatalf("full listing has %d", len(ch.Items))
	}
	e.clk.Advance(5 * time.Minute)
	e.fake.Archive(ids[0])
	res, err := e.conn.Apply(ctx, []connector.Write{{Op: connector.OpDelete, ID: ids[1]}})
	if err != nil || res[0].Err != nil || res[0].Record.ID != ids[1] {
		t.Fatalf("delete: %v %+v", err, res)
	}
	ch1, err := e.conn.Changes(ctx, ch.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	del := itemIDs(ch1, true)
	if len(del) != 2 || del[ids[0]].ID == "" || del[ids[1]].ID == "" || ch1.Full {
		t.Fatalf("deleted items %v (full=%v)", del, ch1.Full)
	}
	// A GDPR purge leaves no archive trace: the periodic full listing sees it.
	e.fake.Purge(ids[2])
	e.clk.Advance(time.Minute)
	ch2, err := e.conn.Changes(ctx, ch1.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if ch2.Full {
		t.Fatal("second incremental run should not be full yet")
	}
	ch3, err := e.conn.Changes(ctx, ch2.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	live := itemIDs(ch3, false)
	if !ch3.Full || len(live) != 2 || live[ids[3]].ID == "" || live[ids[4]].ID == "" {
		t.Fatalf("reconciliation: full=%v items %v", ch3.Full, live)
	}
}

func TestBatchPartialErrors(t *testing.T) {
	e := setup(t, hubspottest.Options{MultiStatusCreate: true, Invalid: func(p map[string]string) string {
		if p["firstname"] == "BAD" {
			return "Property values were not valid: firstname may not be BAD"
		}
		return ""
	}}, "free", hubspot.Options{})
	ids := e.seed(2)
	ctx := context.Background()
	res, err := e.conn.Apply(ctx, []connector.Write{
		{Op: connector.OpUpdate, ID: ids[0], Fields: map[string]string{"phone": "+44 20 7946 0000"}},
		{Op: connector.OpCreate, Fields: map[string]string{"email": "new1@example.com", "firstname": "New"}},
		{Op: connector.OpUpdate, ID: "999999", Fields: map[string]string{"phone": "1"}},
		{Op: connector.OpCreate, Fields: map[string]string{"email": "bad@example.com", "firstname": "BAD"}},
		{Op: connector.OpUpdate, ID: ids[1], Fields: map[string]string{"date_of_birth": "not a date"}},
		{Op: connector.OpCreate, Fields: map[string]string{"email": "new2@example.com", "date_of_birth": "1990-02-03"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Record.ID != ids[0] || res[0].Record.Version == "" {
		t.Fatalf("update ok: %+v", res[0])
	}
	if p, _ := e.fake.Contact(ids[0]); p["phone"] != "+44 20 7946 0000" || p["lastname"] != "Person" {
		t.Fatalf("stored %v (unmapped fields must stay)", p)
	}
	if !errors.Is(res[2].Err, connector.ErrNotFound) {
		t.Fatalf("missing id: %v", res[2].Err)
	}
	if !errors.Is(res[4].Err, connector.ErrInvalidRecord) || !strings.Contains(res[4].Err.Error(), "date_of_birth") || !strings.Contains(res[4].Err.Error(), "correlation id") {
		t.Fatalf("invalid date: %v", res[4].Err)
	}
	if res[3].Err == nil || !strings.Contains(res[3].Err.Error(), "may not be BAD") {
		t.Fatalf("bad create: %v", res[3].Err)
	}
	for _, i := range []int{1, 5} {
		if res[i].Err != nil || res[i].Record.ID == "" {
			t.Fatalf("create %d: %+v", i, res[i])
		}
	}
	p1, _ := e.fake.Contact(res[1].Record.ID)
	p5, _ := e.fake.Contact(res[5].Record.ID)
	if p1["email"] != "new1@example.com" || p5["email"] != "new2@example.com" || p5["date_of_birth"] != "1990-02-03" {
		t.Fatalf("results mapped to the wrong writes: %v / %v", p1, p5)
	}
	if st := e.fake.Stats(); st.Requests["batch/create"] != 1 || st.Requests["batch/update"] != 1 {
		t.Fatalf("requests %v", st.Requests)
	}
}

func TestCreateConflictLinks(t *testing.T) {
	for _, multi := range []bool{false, true} {
		t.Run(fmt.Sprintf("multistatus=%v", multi), func(t *testing.T) {
			e := setup(t, hubspottest.Options{MultiStatusCreate: multi}, "free", hubspot.Options{})
			existing := e.fake.Create(map[string]string{"email": "taken@example.com"})
			res, err := e.conn.Apply(context.Background(), []connector.Write{
				{Op: connector.OpCreate, Fields: map[string]string{"email": "a@example.com"}},
				{Op: connector.OpCreate, Fields: map[string]string{"email": "TAKEN@example.com"}},
				{Op: connector.OpCreate, Fields: map[string]string{"email": "b@example.com"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			var ae *connector.AlreadyExistsError
			if !errors.As(res[1].Err, &ae) || ae.ExistingID != existing {
				t.Fatalf("duplicate: %v, want AlreadyExistsError{%s}", res[1].Err, existing)
			}
			for i, want := range map[int]string{0: "a@example.com", 2: "b@example.com"} {
				p, ok := e.fake.Contact(res[i].Record.ID)
				if res[i].Err != nil || !ok || p["email"] != want {
					t.Fatalf("create %d: %+v stored %v", i, res[i], p)
				}
			}
			if e.fake.Count() != 3 {
				t.Fatalf("%d contacts, want 3", e.fake.Count())
			}
		})
	}
}

func TestRateLimitsPacedAndRetried(t *testing.T) {
	// Professional plan against a fake enforcing 190/10 s and search 4/s:
	// pacing alone keeps every answer below the limit.
	e := setup(t, hubspottest.Options{Burst: 190, SearchPerSecond: 4, Daily: 650000}, "professional", hubspot.Options{})
	e.seed(50)
	ctx := context.Background()
	start := e.clk.Now()
	ids := make([]string, 25000) // 250 batch reads
	for i := range ids {
		ids[i] = strconv.Itoa(200000 + i)
	}
	if _, err := e.conn.Get(ctx, ids); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ { // 30 searches
		if _, err := e.conn.FindByField(ctx, "phone", "+1 555 01"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	st := e.fake.Stats()
	if st.RateLimited != 0 || e.conn.Stats().RateLimited != 0 {
		t.Fatalf("429s: fake %d, client %d", st.RateLimited, e.conn.Stats().RateLimited)
	}
	if el := e.clk.Now().Sub(start); el < 10*time.Second {
		t.Fatalf("281 requests took %v of (fake) time: not paced", el)
	}

	// A plan set too high: the fake answers 429 and the client waits and retries.
	e2 := setup(t, hubspottest.Options{Burst: 100, SearchPerSecond: 4}, "enterprise", hubspot.Options{})
	recs, err := e2.conn.Get(ctx, ids[:20000])
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Fatalf("unknown ids returned: %d", len(recs))
	}
	st2 := e2.fake.Stats()
	if st2.RateLimited == 0 || e2.conn.Stats().RateLimited != int64(st2.RateLimited) {
		t.Fatalf("429s: fake %d client %+v", st2.RateLimited, e2.conn.Stats())
	}
	if st2.Requests["batch/read"] != 200+st2.RateLimited {
		t.Fatalf("batch reads %d, 429s %d", st2.Requests["batch/read"], st2.RateLimited)
	}
}

func TestDailyLimitStopsRun(t *testing.T) {
	e := setup(t, hubspottest.Options{Daily: 3}, "free", hubspot.Options{})
	e.seed(500)
	_, err := e.conn.Changes(context.Background(), "")
	if err == nil || !errors.Is(err, connector.ErrUnreachable) || !strings.Contains(err.Error(), "daily API limit") {
		t.Fatalf("err %v", err)
	}
	if st := e.fake.Stats(); st.RateLimited != 1 {
		t.Fatalf("a DAILY 429 must not be retried: %d", st.RateLimited)
	}
}

func TestUnauthorized(t *testing.T) {
	e := setup(t, hubspottest.Options{}, "free", hubspot.Options{})
	bad, err := hubspot.New(connector.Config{Name: "Sales HubSpot", Secret: "pat-wrong-SECRET",
		Settings: map[string]string{"base_url": e.fake.URL}}, hubspot.Options{Now: e.clk.Now, Sleep: e.clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Test(context.Background())
	if !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("err %v, want ErrAuth", err)
	}
	if err.Error() != "HubSpot refused the private app token for Sales HubSpot: check it in Settings" {
		t.Fatalf("message %q", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatal("token in error")
	}
	if _, err := bad.Changes(context.Background(), ""); !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("changes: %v", err)
	}
	if err := e.conn.Test(context.Background()); err != nil {
		t.Fatalf("good token: %v", err)
	}
	if st := e.fake.Stats(); st.Requests["list"] != 2 { // one 401, one ok: never retried
		t.Fatalf("requests %v", st.Requests)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	e := setup(t, hubspottest.Options{}, "free", hubspot.Options{})
	e.seed(120)
	e.fake.Fail(500, 1)
	e.fake.Fail(502, 1)
	ch, err := e.conn.Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Items) != 120 || e.conn.Stats().Retries != 2 {
		t.Fatalf("items %d stats %+v", len(ch.Items), e.conn.Stats())
	}
	// A create is never repeated after a 5xx (it may have happened).
	e.fake.Fail(503, 1)
	res, err := e.conn.Apply(context.Background(), []connector.Write{{Op: connector.OpCreate, Fields: map[string]string{"email": "x@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil || e.fake.Stats().Requests["batch/create"] != 1 {
		t.Fatalf("create after 503: %+v, %v", res[0], e.fake.Stats().Requests)
	}
	// Persistent failure: the run stops as unreachable.
	e.fake.Fail(500, 20)
	if _, err := e.conn.Get(context.Background(), []string{"1"}); !errors.Is(err, connector.ErrUnreachable) {
		t.Fatalf("err %v", err)
	}
}

func TestDatesAndFindByField(t *testing.T) {
	e := setup(t, hubspottest.Options{DatesAsMillis: true, Lag: time.Hour}, "free", hubspot.Options{})
	ctx := context.Background()
	res, err := e.conn.Apply(ctx, []connector.Write{{Op: connector.OpCreate, Fields: map[string]string{
		"email": "Ada@Example.com", "phone": "+1 555 0199", "date_of_birth": "1815-12-10"}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	id := res[0].Record.ID
	p, _ := e.fake.Contact(id)
	if p["date_of_birth"] != strconv.FormatInt(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC).UnixMilli(), 10) {
		t.Fatalf("stored date %q", p["date_of_birth"])
	}
	// Found by email at once, despite the hour of search lag.
	recs, err := e.conn.FindByField(ctx, "email", "ada@example.com")
	if err != nil || len(recs) != 1 || recs[0].ID != id || recs[0].Fields["date_of_birth"] != "1815-12-10" {
		t.Fatalf("find by email: %v %+v", err, recs)
	}
	if recs, _ := e.conn.FindByField(ctx, "email", "nobody@example.com"); len(recs) != 0 {
		t.Fatalf("found %v", recs)
	}
	// Other fields go through search, which lags.
	if recs, _ := e.conn.FindByField(ctx, "phone", "+1 555 0199"); len(recs) != 0 {
		t.Fatal("search should not see the contact yet")
	}
	e.clk.Advance(2 * time.Hour)
	recs, err = e.conn.FindByField(ctx, "phone", "+1 555 0199")
	if err != nil || len(recs) != 1 || recs[0].ID != id {
		t.Fatalf("find by phone: %v %+v", err, recs)
	}
	got, err := e.conn.Get(ctx, []string{id, "424242"})
	if err != nil || len(got) != 1 || got[0].Fields["email"] != "Ada@Example.com" {
		t.Fatalf("get: %v %+v", err, got)
	}
}
