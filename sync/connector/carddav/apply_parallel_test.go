package carddav

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/sync/connector"
	"tandem/sync/connector/carddav/internal/radicaletest"
)

// inflight wraps a hookDoer's before hook: it tracks how many PUTs are
// sent at once and delays each, so the writes overlap.
type inflight struct {
	mu       sync.Mutex
	now, max int
	order    []string // FN of each PUT, in the order they were sent
}

func (f *inflight) hook(delay func(fn string) time.Duration, then func(req *http.Request, fn string) *http.Response) func(*http.Request, []byte) *http.Response {
	return func(req *http.Request, body []byte) *http.Response {
		if req.Method != http.MethodPut {
			return nil
		}
		fn := ""
		for _, l := range strings.Split(string(body), "\r\n") {
			if v, ok := strings.CutPrefix(l, "FN:"); ok {
				fn = v
			}
		}
		f.mu.Lock()
		f.now++
		f.max = max(f.max, f.now)
		f.order = append(f.order, fn)
		f.mu.Unlock()
		time.Sleep(delay(fn))
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
		if then != nil {
			return then(req, fn)
		}
		return nil
	}
}

func creates(n int) []connector.Write {
	ws := make([]connector.Write, n)
	for i := range ws {
		ws[i] = connector.Write{Op: connector.OpCreate, Fields: map[string]string{
			"FN": fmt.Sprintf("W%02d", i), "EMAIL": fmt.Sprintf("w%02d@example.org", i)}}
	}
	return ws
}

// Creates run several at a time, never more than Parallel, and each result
// sits at its write's index even when later writes finish first.
func TestCreatesRunInParallelResultsInOrder(t *testing.T) {
	s := radicaletest.StartServer(t)
	c, h := openTest(t, s.AddressBook, s.User, s.Pass)
	f := &inflight{}
	h.before = f.hook(func(fn string) time.Duration {
		if fn == "W00" || fn == "W03" {
			return 150 * time.Millisecond // early writes finish last
		}
		return 20 * time.Millisecond
	}, nil)
	ws := creates(3*Parallel + 1)
	res, err := c.Apply(ctx(t), ws)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(ws) {
		t.Fatalf("%d results for %d writes", len(res), len(ws))
	}
	if f.max < 2 || f.max > Parallel {
		t.Errorf("at most %d PUTs in flight, want 2..%d", f.max, Parallel)
	}
	ids := map[string]bool{}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("write %d: %v", i, r.Err)
		}
		if ids[r.Record.ID] {
			t.Fatalf("id %s given twice", r.Record.ID)
		}
		ids[r.Record.ID] = true
		body, etag := getRaw(t, s, r.Record.ID)
		if !strings.Contains(body, "\r\nFN:"+ws[i].Fields["FN"]+"\r\n") {
			t.Errorf("result %d is card %s holding %q, want FN %s", i, r.Record.ID, body, ws[i].Fields["FN"])
		}
		if r.Record.Version != etag {
			t.Errorf("result %d: version %q, server etag %q", i, r.Record.Version, etag)
		}
	}
}

// A refusal of the credentials stops the writes: none starts after it, the
// ones not started carry ErrAuth, the ones that went through keep their
// records (the cards are on the server).
func TestAuthFailureStopsParallelWrites(t *testing.T) {
	s := radicaletest.StartServer(t)
	c, h := openTest(t, s.AddressBook, s.User, s.Pass)
	f := &inflight{}
	h.before = f.hook(func(string) time.Duration { return 10 * time.Millisecond },
		func(req *http.Request, fn string) *http.Response {
			if fn != "W05" {
				return nil
			}
			return &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader("")), Request: req}
		})
	ws := creates(5 * Parallel)
	res, err := c.Apply(ctx(t), ws)
	if !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), s.Pass) {
		t.Errorf("password in %q", err)
	}
	if len(res) != len(ws) {
		t.Fatalf("%d results for %d writes", len(res), len(ws))
	}
	if !errors.Is(res[5].Err, connector.ErrAuth) {
		t.Errorf("write 5: %v", res[5].Err)
	}
	sent := map[string]bool{}
	for _, fn := range f.order {
		sent[fn] = true
	}
	if len(f.order) >= len(ws) || len(f.order) > 5+Parallel {
		t.Errorf("%d PUTs sent after a refusal at write 5 of %d (at most %d in flight)", len(f.order), len(ws), Parallel)
	}
	ok := 0
	for i, r := range res {
		fn := ws[i].Fields["FN"]
		switch {
		case !sent[fn]:
			if !errors.Is(r.Err, connector.ErrAuth) {
				t.Errorf("write %d never sent: err %v, want ErrAuth", i, r.Err)
			}
		case i != 5:
			if r.Err != nil {
				t.Errorf("write %d went through but reports %v", i, r.Err)
				continue
			}
			body, _ := getRaw(t, s, r.Record.ID)
			if !strings.Contains(body, "\r\nFN:"+fn+"\r\n") {
				t.Errorf("write %d: card %s holds %q", i, r.Record.ID, body)
			}
			ok++
		}
	}
	if ok < 5 {
		t.Errorf("only %d writes went through, want at least the 5 before the refusal", ok)
	}
}

// Two writes naming the same card run one at a time, in order.
func TestSameCardWritesStaySequential(t *testing.T) {
	s := radicaletest.StartServer(t)
	etag := putRaw(t, s, "x.vcf", card("x", "X", "x@example.org"))
	putRaw(t, s, "y.vcf", card("y", "Y", "y@example.org"))
	c, h := openTest(t, s.AddressBook, s.User, s.Pass)
	f := &inflight{}
	h.before = f.hook(func(string) time.Duration { return 20 * time.Millisecond }, nil)
	res, err := c.Apply(ctx(t), []connector.Write{
		{Op: connector.OpUpdate, ID: "x.vcf", Version: etag, Fields: map[string]string{"FN": "X1"}},
		{Op: connector.OpUpdate, ID: "y.vcf", Fields: map[string]string{"FN": "Y1"}},
		{Op: connector.OpDelete, ID: "x.vcf"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("write %d: %v", i, r.Err)
		}
	}
	if f.max != 1 {
		t.Errorf("%d PUTs in flight at once, want 1", f.max)
	}
	if r := s.Do(t, "GET", s.AddressBook+"x.vcf", "", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("x.vcf after update then delete: %s", r.Status)
	}
	if body, _ := getRaw(t, s, "y.vcf"); !strings.Contains(body, "FN:Y1\r\n") {
		t.Errorf("y.vcf = %q", body)
	}
}
